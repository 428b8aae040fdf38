package db

import (
	"testing"
	"time"
)

// TestBacklog counts what Claim would give out: due queued jobs and running ones whose lease
// expired, not jobs delayed, running on a live lease, done or of another kind.
func TestBacklog(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		want := func(step string, due int, oldest time.Time) {
			t.Helper()
			b, err := d.Backlog(ctx, "k")
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if b.Due != due || !b.Oldest.Equal(oldest) {
				t.Fatalf("%s: Backlog = %+v, want %d due, oldest %v", step, b, due, oldest)
			}
		}
		want("empty queue", 0, time.Time{})

		first := c.Now()
		mustEnqueue(t, d, "k", "a", EnqueueOptions{})
		c.Add(time.Second)
		mustEnqueue(t, d, "k", "b", EnqueueOptions{})
		mustEnqueue(t, d, "k", "later", EnqueueOptions{RunAt: c.Now().Add(time.Hour)})
		mustEnqueue(t, d, "other", "x", EnqueueOptions{})
		want("two due, one delayed", 2, first)

		a := mustClaim(t, d, "k", "w1", time.Minute) // the oldest, "a"
		want("one claimed", 1, first.Add(time.Second))
		b := mustClaim(t, d, "k", "w2", 2*time.Minute)
		if err := d.Complete(ctx, b); err != nil {
			t.Fatal(err)
		}
		want("one claimed, one done", 0, time.Time{})

		// w1 dies: its job is due again from the end of its lease.
		c.Add(time.Minute)
		want("lease expired", 1, a.LeaseUntil)

		c.Add(time.Hour)
		want("lease expired and the delayed job due", 2, a.LeaseUntil)
	})
}
