package db

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustEnqueue(t *testing.T, d *DB, kind, payload string, opts EnqueueOptions) Job {
	t.Helper()
	j, err := d.Enqueue(t.Context(), kind, []byte(payload), opts)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func mustClaim(t *testing.T, d *DB, kind, worker string, lease time.Duration) Job {
	t.Helper()
	j, err := d.Claim(t.Context(), kind, worker, lease)
	if err != nil {
		t.Fatalf("Claim(%s, %s): %v", kind, worker, err)
	}
	return j
}

func wantNoJob(t *testing.T, d *DB, kind string) {
	t.Helper()
	if j, err := d.Claim(t.Context(), kind, "idle", time.Minute); !errors.Is(err, ErrNoJob) {
		t.Fatalf("Claim(%s) = job %d (%s), %v; want ErrNoJob", kind, j.ID, j.State, err)
	}
}

func wantState(t *testing.T, d *DB, id int64, state, lastError string) Job {
	t.Helper()
	j, err := d.JobByID(t.Context(), id)
	if err != nil || j.State != state || j.LastError != lastError {
		t.Fatalf("job %d = %+v, %v; want state %s, last error %q", id, j, err, state, lastError)
	}
	return j
}

func TestQueueClaimComplete(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		wantNoJob(t, d, "transcode")

		j := mustEnqueue(t, d, "transcode", "v1", EnqueueOptions{})
		if j.ID == 0 || j.Kind != "transcode" || string(j.Payload) != "v1" || j.State != JobQueued ||
			j.Attempts != 0 || j.MaxAttempts != 5 || !j.RunAt.Equal(c.Now()) {
			t.Errorf("Enqueue = %+v", j)
		}
		j2 := mustEnqueue(t, d, "transcode", "", EnqueueOptions{})
		wantNoJob(t, d, "thumbnail")

		got := mustClaim(t, d, "transcode", "w1", time.Minute)
		if got.ID != j.ID || got.State != JobRunning || got.Attempts != 1 || got.Worker != "w1" || got.Lease == "" ||
			!got.LeaseUntil.Equal(c.Now().Add(time.Minute)) || string(got.Payload) != "v1" {
			t.Errorf("first Claim = %+v, want the oldest job %d running for w1", got, j.ID)
		}
		if got2 := mustClaim(t, d, "transcode", "w2", time.Minute); got2.ID != j2.ID || len(got2.Payload) != 0 {
			t.Errorf("second Claim = %+v, want job %d with an empty payload", got2, j2.ID)
		}
		wantNoJob(t, d, "transcode") // both are leased

		if err := d.Complete(ctx, got); err != nil {
			t.Fatal(err)
		}
		wantState(t, d, j.ID, JobDone, "")
		if err := d.Complete(ctx, got); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("second Complete: err = %v, want ErrLeaseLost", err)
		}
		if _, err := d.JobByID(ctx, j2.ID+1000); !errors.Is(err, ErrNotFound) {
			t.Errorf("JobByID(missing): err = %v, want ErrNotFound", err)
		}
	})
}

func TestQueueRunAt(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		c := fakeClock(d)
		j := mustEnqueue(t, d, "k", "later", EnqueueOptions{RunAt: c.Now().Add(time.Hour)})
		wantNoJob(t, d, "k")
		c.Add(time.Hour - time.Millisecond)
		wantNoJob(t, d, "k")
		c.Add(time.Millisecond)
		if got := mustClaim(t, d, "k", "w", time.Minute); got.ID != j.ID {
			t.Errorf("Claim = job %d, want %d", got.ID, j.ID)
		}
	})
}

func TestQueueIdempotencyKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		a := mustEnqueue(t, d, "transcode", "first", EnqueueOptions{Key: "video-7"})
		if a.Key != "video-7" {
			t.Errorf("Key = %q", a.Key)
		}
		b := mustEnqueue(t, d, "transcode", "second", EnqueueOptions{Key: "video-7", MaxAttempts: 9})
		if b.ID != a.ID || string(b.Payload) != "first" || b.MaxAttempts != 5 {
			t.Errorf("same key again = %+v, want the existing job %+v", b, a)
		}
		if other := mustEnqueue(t, d, "thumbnail", "x", EnqueueOptions{Key: "video-7"}); other.ID == a.ID {
			t.Error("same key in another kind returned the transcode job")
		}
		x, y := mustEnqueue(t, d, "transcode", "x", EnqueueOptions{}), mustEnqueue(t, d, "transcode", "y", EnqueueOptions{})
		if x.ID == y.ID || x.Key != "" {
			t.Errorf("jobs without a key: %+v and %+v", x, y)
		}

		// The key still holds once the job is done.
		if err := d.Complete(t.Context(), mustClaim(t, d, "transcode", "w", time.Minute)); err != nil {
			t.Fatal(err)
		}
		if c := mustEnqueue(t, d, "transcode", "third", EnqueueOptions{Key: "video-7"}); c.ID != a.ID || c.State != JobDone {
			t.Errorf("key of a done job = %+v, want job %d done", c, a.ID)
		}
	})
}

func TestQueueHeartbeatAndLeaseLost(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		mustEnqueue(t, d, "k", "", EnqueueOptions{})
		a := mustClaim(t, d, "k", "a", 10*time.Second)
		c.Add(8 * time.Second)
		if err := d.Heartbeat(ctx, a, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c.Add(9 * time.Second) // past the first lease, within the extended one
		wantNoJob(t, d, "k")

		c.Add(time.Second) // the extended lease has expired: a's worker is presumed dead
		b := mustClaim(t, d, "k", "b", 10*time.Second)
		if b.ID != a.ID || b.Attempts != 2 || b.Lease == a.Lease || b.Worker != "b" {
			t.Fatalf("re-claim = %+v after %+v", b, a)
		}
		for name, err := range map[string]error{
			"Heartbeat": d.Heartbeat(ctx, a, time.Minute),
			"Complete":  d.Complete(ctx, a),
			"Fail":      d.Fail(ctx, a, "late"),
		} {
			if !errors.Is(err, ErrLeaseLost) {
				t.Errorf("%s with the old lease: err = %v, want ErrLeaseLost", name, err)
			}
		}
		wantState(t, d, a.ID, JobRunning, "")
		if err := d.Heartbeat(ctx, b, time.Minute); err != nil {
			t.Errorf("Heartbeat with the new lease: %v", err)
		}
		if err := d.Complete(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := d.Heartbeat(ctx, b, time.Minute); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Heartbeat after Complete: err = %v, want ErrLeaseLost", err)
		}
	})
}

func TestQueueFailRetries(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		j := mustEnqueue(t, d, "k", "", EnqueueOptions{MaxAttempts: 3})
		for attempt := 1; attempt <= 3; attempt++ {
			got := mustClaim(t, d, "k", "w", time.Minute)
			if got.ID != j.ID || got.Attempts != attempt {
				t.Fatalf("claim %d = %+v", attempt, got)
			}
			reason := fmt.Sprintf("boom %d", attempt)
			if err := d.Fail(ctx, got, reason); err != nil {
				t.Fatal(err)
			}
			if attempt == 3 {
				wantState(t, d, j.ID, JobFailed, reason)
				break
			}
			backoff := time.Second << (attempt - 1)
			if q := wantState(t, d, j.ID, JobQueued, reason); !q.RunAt.Equal(c.Now().Add(backoff)) {
				t.Errorf("after failure %d RunAt = %v, want now + %v", attempt, q.RunAt, backoff)
			}
			c.Add(backoff - time.Millisecond)
			wantNoJob(t, d, "k")
			c.Add(time.Millisecond)
		}
		c.Add(time.Hour)
		wantNoJob(t, d, "k")
	})
}

func TestBackoff(t *testing.T) {
	d := &DB{retryBase: time.Second, retryMax: 5 * time.Minute}
	for attempts, want := range map[int]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second,
		10: 5 * time.Minute, 1000: 5 * time.Minute,
	} {
		if got := d.backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempts, got, want)
		}
	}
}

func TestQueueExpiredLease(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		j := mustEnqueue(t, d, "k", "", EnqueueOptions{MaxAttempts: 2})
		a := mustClaim(t, d, "k", "killed", time.Minute) // never heartbeats
		c.Add(time.Minute - time.Millisecond)
		wantNoJob(t, d, "k")
		c.Add(time.Millisecond)
		b := mustClaim(t, d, "k", "rescuer", time.Minute)
		if b.ID != j.ID || b.Attempts != 2 || b.Lease == a.Lease {
			t.Fatalf("rescue claim = %+v", b)
		}

		// The rescuer dies too: no attempts are left, so the next claim gets the job orphaned,
		// to clean up after it and fail it, without counting an attempt.
		c.Add(time.Minute)
		o := mustClaim(t, d, "k", "cleaner", time.Minute)
		if o.ID != j.ID || !o.Orphaned || o.Attempts != 2 || o.Lease == b.Lease || o.State != JobRunning {
			t.Fatalf("claim after the last attempt died = %+v, want it orphaned", o)
		}
		if b.Orphaned {
			t.Errorf("a claim with attempts left is orphaned: %+v", b)
		}
		if err := d.Complete(ctx, b); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Complete by the dead attempt: err = %v, want ErrLeaseLost", err)
		}
		// The cleaner dies as well: the job is orphaned again, still with 2 attempts.
		c.Add(time.Minute)
		o2 := mustClaim(t, d, "k", "cleaner2", time.Minute)
		if !o2.Orphaned || o2.Attempts != 2 {
			t.Fatalf("claim after the cleaner died = %+v", o2)
		}
		if err := d.Fail(ctx, o2, "lease expired on the last attempt"); err != nil {
			t.Fatal(err)
		}
		wantState(t, d, j.ID, JobFailed, "lease expired on the last attempt")
		c.Add(time.Hour)
		wantNoJob(t, d, "k")
	})
}

// hold is one claim of a job as its worker saw it.
type hold struct {
	worker    string
	attempt   int
	lease     string
	from      time.Time // the database's clock at the claim
	until     time.Time // lease end, extended by heartbeats (a lower bound)
	completed bool
}

// TestQueueConcurrentWorkers drains 300 jobs with 16 workers. Four more workers are killed in
// the middle of a job: each claims a job with a short lease and never finishes it, so the lease
// expires and a live worker takes the job over. Live workers claim with a lease long enough
// that a loaded machine cannot make them lose it.
//
// Every claim is recorded and checked at the end, per job in attempt order: a job may be
// claimed again only once the previous claim's lease had expired by the database's clock (so no
// two live workers ever hold it at once), and it completes exactly once, by its last holder.
// Checking after the run, rather than when a claim is recorded, keeps the check exact even
// when a worker is descheduled between Claim and recording.
func TestQueueConcurrentWorkers(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		const jobs, workers, killers = 300, 16, 4
		const liveLease, killLease = 30 * time.Second, 300 * time.Millisecond
		for i := range jobs {
			mustEnqueue(t, d, "work", fmt.Sprint(i), EnqueueOptions{})
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()

		var (
			mu    sync.Mutex
			holds = map[int64][]*hold{}
			done  atomic.Int64
			wg    sync.WaitGroup
		)
		record := func(j Job, name string, lease time.Duration) *hold {
			h := &hold{worker: name, attempt: j.Attempts, lease: j.Lease, from: j.LeaseUntil.Add(-lease), until: j.LeaseUntil}
			mu.Lock()
			holds[j.ID] = append(holds[j.ID], h)
			mu.Unlock()
			return h
		}
		for k := range killers {
			j := mustClaim(t, d, "work", fmt.Sprintf("killed-%d", k), killLease)
			record(j, fmt.Sprintf("killed-%d", k), killLease) // then dies: no heartbeat, no Complete
		}
		for w := range workers {
			name := fmt.Sprintf("worker-%d", w)
			wg.Go(func() {
				for done.Load() < jobs {
					j, err := d.Claim(ctx, "work", name, liveLease)
					if errors.Is(err, ErrNoJob) {
						time.Sleep(2 * time.Millisecond) // poll interval of an idle worker
						continue
					}
					if err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
					h := record(j, name, liveLease)

					time.Sleep(rand.N(time.Millisecond)) // work
					beat := time.UnixMilli(time.Now().UnixMilli())
					if err := d.Heartbeat(ctx, j, liveLease); err != nil {
						t.Errorf("%s: heartbeat of job %d: %v", name, j.ID, err)
						return
					}
					mu.Lock()
					h.until = beat.Add(liveLease)
					mu.Unlock()
					time.Sleep(rand.N(time.Millisecond))

					if err := d.Complete(ctx, j); err != nil {
						t.Errorf("%s: complete job %d: %v", name, j.ID, err)
						return
					}
					mu.Lock()
					h.completed = true
					mu.Unlock()
					done.Add(1)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}

		if len(holds) != jobs || done.Load() != jobs {
			t.Errorf("%d jobs claimed, %d completed; want %d", len(holds), done.Load(), jobs)
		}
		// A killed worker's claim never completes, so the check below that only the last claim
		// of each job completes also proves that every killed job was taken over and finished.
		for id, hs := range holds {
			sort.Slice(hs, func(i, j int) bool { return hs[i].attempt < hs[j].attempt })
			for i, h := range hs {
				if h.attempt != i+1 {
					t.Errorf("job %d: claims have attempts %v", id, attempts(hs))
					break
				}
				if last := i == len(hs)-1; h.completed != last {
					t.Errorf("job %d: claim %d of %d by %s completed=%v", id, i+1, len(hs), h.worker, h.completed)
				}
				if i > 0 && h.from.Before(hs[i-1].until) {
					t.Errorf("job %d: %s claimed it at %v while %s held it until %v",
						id, h.worker, h.from, hs[i-1].worker, hs[i-1].until)
				}
			}
			if j, err := d.JobByID(t.Context(), id); err != nil || j.State != JobDone {
				t.Errorf("job %d = %+v, %v; want done", id, j, err)
			}
		}
	})
}

func attempts(hs []*hold) []int {
	var a []int
	for _, h := range hs {
		a = append(a, h.attempt)
	}
	return a
}

// TestQueueFairGroups queues a backlog of one group before a few jobs of others: one worker
// takes the groups in turn instead of the backlog first, and two workers never run two jobs
// of the backlog while another group waits.
func TestQueueFairGroups(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		for i := range 5 {
			mustEnqueue(t, d, "k", "a"+strconv.Itoa(i+1), EnqueueOptions{Group: "alice"})
			c.Add(time.Millisecond)
		}
		for i := range 2 {
			mustEnqueue(t, d, "k", "b"+strconv.Itoa(i+1), EnqueueOptions{Group: "bob"})
			c.Add(time.Millisecond)
		}
		mustEnqueue(t, d, "k", "none", EnqueueOptions{})
		c.Add(time.Millisecond)

		var order []string
		for range 8 {
			j := mustClaim(t, d, "k", "w", time.Minute)
			order = append(order, string(j.Payload))
			if err := d.Complete(ctx, j); err != nil {
				t.Fatal(err)
			}
			c.Add(time.Millisecond)
		}
		// Each group in turn, least recently served first, the oldest due job breaking ties.
		if got, want := strings.Join(order, " "), "a1 b1 none a2 b2 a3 a4 a5"; got != want {
			t.Errorf("one worker took %s, want %s", got, want)
		}
		wantNoJob(t, d, "k")

		// Two workers: while alice has a job running, bob's comes before her next one.
		for i := range 3 {
			mustEnqueue(t, d, "k", "a"+strconv.Itoa(i+6), EnqueueOptions{Group: "alice"})
			c.Add(time.Millisecond)
		}
		mustEnqueue(t, d, "k", "b3", EnqueueOptions{Group: "bob"})
		c.Add(time.Millisecond)
		first := mustClaim(t, d, "k", "w1", time.Minute)
		c.Add(time.Millisecond)
		second := mustClaim(t, d, "k", "w2", time.Minute)
		if string(first.Payload) != "b3" || string(second.Payload) != "a6" || first.Group != "bob" {
			// bob was served longer ago than alice (a5 was the last claim).
			t.Errorf("two workers took %s (%s) and %s", first.Payload, first.Group, second.Payload)
		}
	})
}

// TestQueueTraceParent: the traceparent given to Enqueue comes back with the claimed job, so
// that a worker's spans continue the trace of the request that queued it.
func TestQueueTraceParent(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		mustEnqueue(t, d, "traced", "a", EnqueueOptions{TraceParent: tp})
		if j := mustClaim(t, d, "traced", "w", time.Minute); j.TraceParent != tp {
			t.Errorf("claimed job's TraceParent %q, want %q", j.TraceParent, tp)
		}
		mustEnqueue(t, d, "untraced", "b", EnqueueOptions{})
		if j := mustClaim(t, d, "untraced", "w", time.Minute); j.TraceParent != "" {
			t.Errorf("job queued without a traceparent has %q", j.TraceParent)
		}
	})
}
