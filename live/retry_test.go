package live

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reelay/reelay/internal/apierr"
)

// TestRecordingKeptUntilHandedOver checks what becomes of a recording whose hand-over fails:
// kept and handed over again while the failure is a passing one (the store out of reach),
// until it is published; deleted at once when it is refused for what it is (a 4xx); kept
// for the next run when the process stops meanwhile.
func TestRecordingKeptUntilHandedOver(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fails     int   // how many times Publish fails before it succeeds
		err       error // its error
		stop      bool  // stop the server while it fails
		result    string
		calls     int64
		fileAfter bool
	}{
		{name: "passing failures", fails: 2, err: errors.New("store: connection refused"), result: "published", calls: 3},
		{name: "refused", fails: 1, err: &apierr.Error{Status: http.StatusUnprocessableEntity, Code: "not_video"}, result: "failed", calls: 1},
		{name: "stopped while failing", fails: 1 << 30, err: errors.New("db: connection refused"), stop: true, result: "retry", calls: -1, fileAfter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var calls atomic.Int64
			recs := recordingsFunc(func(ctx context.Context, r Recording) error {
				if _, err := os.Stat(r.Path); err != nil {
					t.Errorf("Publish #%d: the file: %v", calls.Load()+1, err)
				}
				if calls.Add(1) <= int64(tc.fails) {
					return tc.err
				}
				return nil
			})
			srv, _ := newTestServer(t, Config{Recordings: recs, RecordDir: dir, RetryEvery: 20 * time.Millisecond})
			ctx, cancel := context.WithCancel(t.Context())
			ran := make(chan struct{})
			go func() { defer close(ran); srv.Run(ctx) }()
			defer func() { cancel(); <-ran }()

			path := filepath.Join(dir, "01jc0000000000000000000000.ts")
			if err := os.WriteFile(path, make([]byte, 188*10), 0o644); err != nil {
				t.Fatal(err)
			}
			srv.hand(ctx, Recording{ID: "01jc0000000000000000000000", Owner: 1, Path: path, Size: 188 * 10, StartedAt: time.Now()}, false)

			counted := func() float64 { return testutil.ToFloat64(srv.recordings.WithLabelValues(tc.result)) }
			for deadline := time.Now().Add(10 * time.Second); counted() == 0 || tc.stop && calls.Load() < 3; {
				if time.Now().After(deadline) {
					t.Fatalf("no recording counted %q; Publish called %d times", tc.result, calls.Load())
				}
				time.Sleep(10 * time.Millisecond) // polling, with a deadline
			}
			if tc.stop {
				cancel()
				<-ran
			}
			if tc.calls >= 0 && calls.Load() != tc.calls {
				t.Errorf("Publish called %d times, want %d", calls.Load(), tc.calls)
			}
			if _, err := os.Stat(path); (err == nil) != tc.fileAfter {
				t.Errorf("the recording's file after: %v, want kept %v", err, tc.fileAfter)
			}
		})
	}
}
