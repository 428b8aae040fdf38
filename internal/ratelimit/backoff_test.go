package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	b := NewBackoff(BackoffConfig{Free: 3, Delay: time.Second, MaxDelay: 10 * time.Second, Forget: time.Hour,
		Now: func() time.Time { return now }})
	for i := range 3 {
		if wait := b.Attempt("ann"); wait != 0 {
			t.Fatalf("free attempt %d waits %v", i+1, wait)
		}
	}
	// Each further failure doubles the wait, up to MaxDelay; refused attempts count nothing.
	for _, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		want *= time.Second
		if wait := b.Attempt("ann"); wait != want {
			t.Fatalf("wait %v, want %v", wait, want)
		}
		now = now.Add(want / 2)
		if wait := b.Attempt("ann"); wait != want/2 {
			t.Fatalf("half-way: wait %v, want %v", wait, want/2)
		}
		now = now.Add(want / 2)
		if wait := b.Attempt("ann"); wait != 0 {
			t.Fatalf("after %v: wait %v", want, wait)
		}
	}
	if wait := b.Attempt("bob"); wait != 0 {
		t.Fatal("another key waits")
	}

	// A refunded attempt is not a failure; a reset forgets them all.
	b.Reset("ann")
	for range 2 {
		b.Attempt("ann")
	}
	for range 5 {
		if wait := b.Attempt("ann"); wait != 0 {
			t.Fatalf("refunded attempts were counted: wait %v", wait)
		}
		b.Refund("ann")
	}
	b.Attempt("ann")
	if wait := b.Attempt("ann"); wait != time.Second {
		t.Fatalf("after 3 failures: wait %v, want 1s", wait)
	}

	// Quiet for Forget, a key starts afresh, and the keys are swept.
	now = now.Add(time.Hour)
	for i := range 3 {
		if wait := b.Attempt("ann"); wait != 0 {
			t.Fatalf("after an idle hour, attempt %d waits %v", i+1, wait)
		}
	}
	if n := b.Len(); n != 1 {
		t.Fatalf("tracked keys after an idle hour = %d, want 1", n)
	}
	b.Refund("ann")
	b.Refund("ann")
	b.Refund("ann")
	if n := b.Len(); n != 0 {
		t.Fatalf("tracked keys after every attempt was refunded = %d, want 0", n)
	}
}

// TestBackoffConcurrent checks that attempts made at once cannot all pass before the first
// has failed: exactly Free of them are allowed.
func TestBackoffConcurrent(t *testing.T) {
	now := time.Unix(1000, 0)
	b := NewBackoff(BackoffConfig{Free: 5, Now: func() time.Time { return now }})
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if b.Attempt("ann") == 0 {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 5 {
		t.Fatalf("%d concurrent attempts allowed, want 5", n)
	}
}

func TestBackoffDefaults(t *testing.T) {
	b := NewBackoff(BackoffConfig{MaxDelay: time.Millisecond, Forget: time.Nanosecond})
	c := b.cfg
	if c.Free != 5 || c.Delay != time.Second || c.MaxDelay != time.Second || c.Forget != time.Second || c.Now == nil {
		t.Fatalf("config %+v", c)
	}
}
