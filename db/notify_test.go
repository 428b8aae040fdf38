package db

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// wakeDeadline bounds every wait in these tests: far longer than a wake-up or a reconnection
// takes, far shorter than the test binary's timeout.
const wakeDeadline = 30 * time.Second

func waitWoken(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wakeDeadline):
		t.Fatalf("%s: not woken after %v", what, wakeDeadline)
	}
}

func wantWaiting(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Errorf("%s: woken, want still waiting", what)
	default:
	}
}

var settleSeq atomic.Int64

// settle returns once d's listener, if it has one, listens and has handled every notification
// committed so far: it sends one of its own and waits for it to come back, sending it again
// until it does, since a listener that is still connecting misses it. The first call starts
// the listener.
func settle(t testing.TB, d *DB) {
	t.Helper()
	if d.Dialect() != DialectPostgres {
		return
	}
	kind := fmt.Sprint("settle-", settleSeq.Add(1))
	ch := d.Enqueued(kind)
	deadline := time.Now().Add(wakeDeadline)
	for {
		if _, err := d.SQL().ExecContext(t.Context(), `SELECT pg_notify($1, $2)`, notifyChannel, kind); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener's own notification: not back after %v", wakeDeadline)
		}
	}
}

// listenerPIDs returns the backends of the job listeners connected to d's database.
func listenerPIDs(t *testing.T, d *DB) []int64 {
	t.Helper()
	rows, err := d.SQL().QueryContext(t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 ORDER BY pid`, listenerName)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int64
	for rows.Next() {
		var pid int64
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return pids
}

// waitListeners polls until the listeners on d's database satisfy ok, and returns them.
func waitListeners(t *testing.T, d *DB, what string, ok func(pids []int64) bool) []int64 {
	t.Helper()
	deadline := time.Now().Add(wakeDeadline)
	for {
		pids := listenerPIDs(t, d)
		if ok(pids) {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("listeners %v after %v, want %s", pids, wakeDeadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEnqueuedWakesWaiter(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		settle(t, d)
		transcode, thumbnail := d.Enqueued("transcode"), d.Enqueued("thumbnail")
		j := mustEnqueue(t, d, "transcode", "v1", EnqueueOptions{Key: "video-1"})
		waitWoken(t, transcode, "transcode waiter after Enqueue(transcode)")
		settle(t, d)
		wantWaiting(t, thumbnail, "thumbnail waiter after Enqueue(transcode)")

		// What adds no job that is due now wakes nobody.
		next := d.Enqueued("transcode")
		mustEnqueue(t, d, "transcode", "later", EnqueueOptions{RunAt: time.Now().Add(time.Hour)})
		if again := mustEnqueue(t, d, "transcode", "v1 again", EnqueueOptions{Key: "video-1"}); again.ID != j.ID {
			t.Fatalf("Enqueue with the same key: job %d, want %d", again.ID, j.ID)
		}
		settle(t, d)
		wantWaiting(t, next, "transcode waiter after a delayed job and a repeated key")

		mustEnqueue(t, d, "thumbnail", "t1", EnqueueOptions{})
		waitWoken(t, thumbnail, "thumbnail waiter after Enqueue(thumbnail)")
		mustEnqueue(t, d, "transcode", "v2", EnqueueOptions{})
		waitWoken(t, next, "second transcode waiter after Enqueue(transcode)")
	})
}

// TestEnqueuedAcrossHandles has two DBs on one PostgreSQL database, each with a pool of its
// own as two processes would have: a job enqueued through one wakes the other's waiter.
func TestEnqueuedAcrossHandles(t *testing.T) {
	dsn := testenv.Postgres(t)
	producer, worker := openTest(t, dsn), openTest(t, dsn)
	settle(t, worker)
	transcode, thumbnail := worker.Enqueued("transcode"), worker.Enqueued("thumbnail")
	mustEnqueue(t, producer, "transcode", "v1", EnqueueOptions{})
	waitWoken(t, transcode, "the other DB's transcode waiter")
	settle(t, worker)
	wantWaiting(t, thumbnail, "the other DB's thumbnail waiter")
	if got := mustClaim(t, worker, "transcode", "w", time.Minute); string(got.Payload) != "v1" {
		t.Errorf("claimed %q, want v1", got.Payload)
	}
}

// TestEnqueuedListenerReconnects kills the listener's connection: the listener reconnects,
// wakes its waiters (they may have missed notifications) and delivers later ones.
func TestEnqueuedListenerReconnects(t *testing.T) {
	dsn := testenv.Postgres(t)
	var logs testenv.Buffer
	producer := openTest(t, dsn)
	worker, err := Open(t.Context(), dsn, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { worker.Close() })
	settle(t, worker)
	pids := waitListeners(t, producer, "one listener", func(pids []int64) bool { return len(pids) == 1 })

	waiting := worker.Enqueued("transcode")
	var killed bool
	if err := producer.SQL().QueryRowContext(t.Context(), `SELECT pg_terminate_backend($1)`, pids[0]).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pids[0], killed, err)
	}
	waitWoken(t, waiting, "waiter after the listener's connection was killed")
	waitListeners(t, producer, "another listener", func(p []int64) bool { return len(p) == 1 && p[0] != pids[0] })

	later := worker.Enqueued("transcode")
	mustEnqueue(t, producer, "transcode", "v1", EnqueueOptions{})
	waitWoken(t, later, "waiter after the listener reconnected")

	out := logs.String()
	if !strings.Contains(out, "level=WARN msg=\"db: job notifications interrupted") ||
		!strings.Contains(out, "level=INFO msg=\"db: job notifications resumed") {
		t.Errorf("log does not tell of the interruption and the recovery:\n%s", out)
	}
}

// TestCloseWithWaiters closes a DB while a goroutine waits for a job: Close returns, and on
// PostgreSQL the listener's connection is gone.
func TestCloseWithWaiters(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		d, err := Open(t.Context(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		settle(t, d)
		waiting := d.Enqueued("transcode")
		waiter := make(chan struct{})
		go func() {
			defer close(waiter)
			select {
			case <-waiting:
			case <-t.Context().Done():
			}
		}()
		closed := make(chan error, 1)
		go func() { closed <- d.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(wakeDeadline):
			t.Fatalf("Close still running after %v", wakeDeadline)
		}
		if d.Dialect() == DialectPostgres {
			waitListeners(t, openTest(t, dsn), "none", func(pids []int64) bool { return len(pids) == 0 })
		}
		if _, err := d.Enqueue(t.Context(), "transcode", nil, EnqueueOptions{}); err == nil {
			t.Error("Enqueue after Close succeeded")
		}
	})
}

// BenchmarkEnqueueToClaim measures how long a job waits between the call to Enqueue and an
// idle worker's Claim returning it: woken through Enqueued (in the same process, and on
// PostgreSQL through a second DB, as in another process), and with the worker polling every
// second as it did before Enqueued. The poll's phase is random, as a real upload's arrival is.
// It reports the median and the 90th percentile; run it with a fixed count, for example
//
//	go test -run '^$' -bench EnqueueToClaim -benchtime 50x ./db
func BenchmarkEnqueueToClaim(b *testing.B) {
	const poll = time.Second
	for _, bc := range []struct {
		name      string
		postgres  bool
		other, pl bool // worker on a second DB; worker polls only
	}{
		{"sqlite/wake", false, false, false},
		{"sqlite/poll1s", false, false, true},
		{"postgres/wake", true, false, false},
		{"postgres/wake-other-db", true, true, false},
		{"postgres/poll1s", true, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dsn := "sqlite:" + filepath.Join(b.TempDir(), "reelay.db")
			if bc.postgres {
				dsn = testenv.Postgres(b)
			}
			open := func() *DB {
				d, err := Open(b.Context(), dsn, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { d.Close() })
				return d
			}
			producer := open()
			worker := producer
			if bc.other {
				worker = open()
			}
			if !bc.pl {
				settle(b, worker)
			}
			var lat []time.Duration
			for b.Loop() {
				idle, claimed := make(chan struct{}), make(chan time.Time, 1)
				go func() { // one job's wait in the loop of ingest's Worker.Run
					for first := true; ; first = false {
						var enqueued <-chan struct{} // nil: the poll timer alone
						if !bc.pl {
							enqueued = worker.Enqueued("bench")
						}
						j, err := worker.Claim(b.Context(), "bench", "w", time.Minute)
						if err == nil {
							claimed <- time.Now()
							worker.Complete(b.Context(), j)
							return
						}
						if !errors.Is(err, ErrNoJob) {
							b.Error(err)
							close(claimed)
							return
						}
						if first {
							close(idle)
						}
						select {
						case <-enqueued:
						case <-time.After(poll):
						case <-b.Context().Done():
							return
						}
					}
				}()
				<-idle
				if bc.pl {
					<-time.After(rand.N(poll)) // the upload arrives at a random point of the poll
				}
				start := time.Now()
				if _, err := producer.Enqueue(b.Context(), "bench", nil, EnqueueOptions{}); err != nil {
					b.Fatal(err)
				}
				at, ok := <-claimed
				if !ok {
					b.FailNow()
				}
				lat = append(lat, at.Sub(start))
			}
			slices.Sort(lat)
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(ms(0.5), "ms-p50")
			b.ReportMetric(ms(0.9), "ms-p90")
		})
	}
}
