package ingest

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestQuota takes one creator through each limit of Config.Quota, on both databases: each
// refusal is a 429 naming the limit, leaves other creators alone, and lifts once the creator
// finishes, deletes or waits.
func TestQuota(t *testing.T) {
	cfg := Config{MaxSize: 100, Quota: Quota{Unfinished: 2, Bytes: 150, PerDay: 4}}
	forEachDB(t, cfg, func(t *testing.T, e *env) {
		refused := func(length int64, code string) response {
			t.Helper()
			l := []string{"Upload-Length", itoa(length)}
			if length < 0 {
				l = []string{"Upload-Defer-Length", "1"}
			}
			r := e.do("POST", Path, e.alice, nil, l...)
			if r.status != http.StatusTooManyRequests || r.errCode() != code {
				t.Fatalf("creating an upload of %d bytes: %d %s, want 429 %s", length, r.status, r.body, code)
			}
			return r
		}
		first := e.create(e.alice, 50)
		e.create(e.alice, 60)
		refused(10, "upload_quota_unfinished")
		e.create(e.bob, 100) // another creator's quota is their own

		if r := e.do("DELETE", first, e.alice, nil); r.status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
		refused(100, "upload_quota_bytes") // 60 + 100 > 150
		refused(-1, "upload_quota_bytes")  // a deferred length counts as MaxSize
		third := e.create(e.alice, 90)
		e.patch(third, e.alice, 0, make([]byte, 90)) // finished: no longer in flight
		e.create(e.alice, 10)                        // the fourth today
		r := refused(10, "upload_quota_daily")
		if s, err := strconv.Atoi(r.get("Retry-After")); err != nil || s < 86000 || s > 86401 {
			t.Errorf("Retry-After %q, want about a day", r.get("Retry-After"))
		}

		// A day later the unfinished uploads have expired and the day's count is new.
		e.h.uploads.now = func() time.Time { return time.Now().Add(25 * time.Hour) }
		e.create(e.alice, 100)
	})
}

// TestQuotaConcurrent sends 20 creations of one creator at once: the quota holds exactly.
func TestQuotaConcurrent(t *testing.T) {
	forEachDB(t, Config{Quota: Quota{Unfinished: 3}}, func(t *testing.T, e *env) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for range 20 {
			wg.Go(func() {
				r, err := e.send("POST", Path, e.alice, nil, "Upload-Length", "10")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				codes[r.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if codes[http.StatusCreated] != 3 || codes[http.StatusTooManyRequests] != 17 {
			t.Errorf("answers: %v, want 3 created and 17 refused", codes)
		}
	})
}
