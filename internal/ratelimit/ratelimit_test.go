package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(3, 10*time.Second, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Allow("ann"); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, retry := l.Allow("ann")
	if ok || retry != 10*time.Second {
		t.Fatalf("4th attempt: ok=%v retry=%v, want refused for 10s", ok, retry)
	}
	if ok, _ := l.Allow("bob"); !ok {
		t.Fatal("another key was limited")
	}
	now = now.Add(10 * time.Second)
	if ok, _ := l.Allow("ann"); !ok {
		t.Fatal("no token after one interval")
	}
	if ok, _ := l.Allow("ann"); ok {
		t.Fatal("more than one token after one interval")
	}
	now = now.Add(time.Hour)
	l.Allow("carol")
	if n := l.Len(); n != 1 {
		t.Fatalf("tracked keys after an idle hour = %d, want 1", n)
	}
}
