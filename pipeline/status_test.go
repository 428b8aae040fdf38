package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/video"
)

// TestReadStatus reads the pipeline's status over a queue with a job running, one due, one
// waiting for its retry, a failed video and two that became playable.
func TestReadStatus(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		u, err := feed.NewAccounts(d).CreateUser(ctx, "ann", "hash")
		if err != nil {
			t.Fatal(err)
		}
		empty, err := ReadStatus(ctx, d)
		if err != nil || empty.Queued != 0 || len(empty.Running) != 0 || len(empty.Failures) != 0 || empty.TimeToPlayable.Count != 0 {
			t.Fatalf("empty: %+v %v", empty, err)
		}
		// Empty lists are lists in JSON, for the page.
		if b, _ := json.Marshal(empty); !strings.Contains(string(b), `"running":[]`) || !strings.Contains(string(b), `"failures":[]`) {
			t.Fatalf("empty status JSON %s", b)
		}

		at := time.Now().Add(-10 * time.Minute)
		vs := func(after time.Duration) *videos {
			return &videos{d: d, now: func() time.Time { return at.Add(after) }}
		}
		for _, id := range []string{"running", "due", "retry", "failed", "ready", "quick"} {
			if err := vs(0).create(ctx, newVideo{ID: id, UserID: u.ID, Caption: "#" + id, Visibility: video.Public}); err != nil {
				t.Fatal(err)
			}
		}
		enqueue := func(id string, opts db.EnqueueOptions) {
			t.Helper()
			payload, _ := json.Marshal(jobPayload{Video: id})
			opts.Key, opts.MaxAttempts = id, 3
			if _, err := d.Enqueue(ctx, JobKind, payload, opts); err != nil {
				t.Fatal(err)
			}
		}
		enqueue("running", db.EnqueueOptions{})
		if j, err := d.Claim(ctx, JobKind, "worker-1", time.Minute); err != nil || j.Key != "running" {
			t.Fatalf("claim: %+v %v", j, err)
		}
		enqueue("due", db.EnqueueOptions{})
		enqueue("retry", db.EnqueueOptions{RunAt: time.Now().Add(time.Hour)})
		if err := vs(0).setProgress(ctx, "running", 40); err != nil {
			t.Fatal(err)
		}
		if err := vs(3*time.Second).setPlayable(ctx, "running", true); err != nil {
			t.Fatal(err)
		}
		if err := vs(time.Second).setFailed(ctx, "failed", "not_video", "the file is not a video"); err != nil {
			t.Fatal(err)
		}
		if err := vs(2*time.Second).setPlayable(ctx, "ready", true); err != nil {
			t.Fatal(err)
		}
		if err := vs(5*time.Second).setReady(ctx, "ready", published{Generation: "g"}); err != nil {
			t.Fatal(err)
		}
		// A short video is ready before it was ever published progressively.
		if err := vs(time.Second).setReady(ctx, "quick", published{Generation: "g"}); err != nil {
			t.Fatal(err)
		}

		st, err := ReadStatus(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Queued != 1 || st.OldestWaitSeconds < 0 || st.Retrying != 1 {
			t.Errorf("queue: %d due (oldest %v s), %d retrying; want 1 and 1", st.Queued, st.OldestWaitSeconds, st.Retrying)
		}
		if len(st.Running) != 1 {
			t.Fatalf("running: %+v", st.Running)
		}
		if r := st.Running[0]; r.Video != "running" || r.Caption != "#running" || r.Worker != "worker-1" || r.Attempt != 1 || r.MaxAttempts != 3 ||
			r.Progress != 40 || !r.Playable || time.Since(r.Started) > time.Minute {
			t.Errorf("running job: %+v", r)
		}
		if len(st.Failures) != 1 || st.Failures[0].Video != "failed" || st.Failures[0].Code != "not_video" || st.Failures[0].Reason != "the file is not a video" ||
			!st.Failures[0].At.Equal(at.Add(time.Second).Truncate(time.Millisecond)) {
			t.Errorf("failures: %+v", st.Failures)
		}
		// Playable after 3 s ("running", the latest), 2 s ("ready", ready after 5 s) and 1 s
		// ("quick", ready then).
		if p := st.TimeToPlayable; p.Count != 3 || p.P50 != 2 || p.P90 != 3 || p.Max != 3 || p.Last != 3 {
			t.Errorf("time to playable: %+v", p)
		}
		if r := st.TimeToReady; r.Count != 2 || r.P50 != 5 || r.Max != 5 || r.Last != 5 {
			t.Errorf("time to ready: %+v", r)
		}
	})
}

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want Durations
	}{
		{nil, Durations{}},
		{[]float64{4}, Durations{Count: 1, P50: 4, P90: 4, Max: 4, Last: 4}},
		{[]float64{9, 1, 2, 3, 4, 5, 6, 7, 8, 10}, Durations{Count: 10, P50: 6, P90: 10, Max: 10, Last: 9}},
	} {
		if got := summarize(c.in); got != c.want {
			t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
