package db

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
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

// BenchmarkBacklog measures one scrape's read of the backlog (db.Backlog, which
// reelay_jobs_queued and reelay_jobs_oldest_age_seconds run on every scrape) in a queue of
// 100,000 finished jobs and 1,000 waiting:
//
//	go test -run '^$' -bench Backlog ./db
func BenchmarkBacklog(b *testing.B) {
	benchQueue(b, 100_000, 1_000, func(b *testing.B, d *DB) {
		bl, err := d.Backlog(b.Context(), "transcode")
		if err != nil || bl.Due != 1_000 {
			b.Fatalf("Backlog = %+v, %v; want %d due", bl, err, 1_000)
		}
	})
}

// BenchmarkClaimIdle is an idle worker's poll beside a long history of done jobs.
func BenchmarkClaimIdle(b *testing.B) {
	benchQueue(b, 100_000, 0, func(b *testing.B, d *DB) {
		if _, err := d.Claim(b.Context(), "transcode", "w", time.Minute); !errors.Is(err, ErrNoJob) {
			b.Fatalf("Claim = %v, want ErrNoJob", err)
		}
	})
}

// benchQueue runs op in a loop on each database, whose transcode queue holds done jobs and
// then waiting ones, all due.
func benchQueue(b *testing.B, done, waiting int, op func(*testing.B, *DB)) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			dsn := "sqlite:" + filepath.Join(b.TempDir(), "reelay.db")
			if dialect == "postgres" {
				dsn = testenv.Postgres(b)
			}
			d, err := Open(b.Context(), dsn, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			const batch = 500
			now := Millis(time.Now())
			for i := 0; i < done+waiting; i += batch {
				var rows []string
				var args []any
				for j := i; j < min(i+batch, done+waiting); j++ {
					state := JobDone
					if j >= done {
						state = JobQueued
					}
					n := len(args)
					rows = append(rows, fmt.Sprintf("('transcode', $%d, $%d, 3, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5))
					args = append(args, []byte("{}"), state, now-int64(done+waiting-j), now, now)
				}
				if _, err := d.Exec(b.Context(), `INSERT INTO jobs (kind, payload, state, max_attempts, run_at, created_at, updated_at)
					VALUES `+strings.Join(rows, ", "), args...); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				op(b, d)
			}
		})
	}
}
