package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// roundTripper is a hand-written http.RoundTripper: do answers each request.
type roundTripper struct {
	do func(*http.Request) (*http.Response, error)
}

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f.do(r) }

// TestHintLog sends prefetch requests through the log to an edge that answers what it
// fetched, and checks the waste it computes from the players' starts: a hinted video's bytes
// are used when a player of that edge started it after the hint, and wasted otherwise.
func TestHintLog(t *testing.T) {
	answers := map[string]string{
		// Two videos, 3 and 1 objects fetched, 400 bytes: 300 and 100.
		"edge-a:1": `{"videos":[{"video":"aaaa","fetched":3},{"video":"bbbb","fetched":1,"skipped":4}],"bytes":400}`,
		// Nothing fetched (all cached): not a hint that cost anything.
		"edge-b:1": `{"videos":[{"video":"aaaa","skipped":5}],"bytes":0}`,
		// Refused.
		"edge-c:1": `{"error":{"code":"forbidden","message":"no"}}`,
	}
	l := newHintLog()
	l.next = roundTripper{do: func(r *http.Request) (*http.Response, error) {
		status := http.StatusOK
		if r.URL.Host == "edge-c:1" {
			status = http.StatusForbidden
		}
		return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(answers[r.URL.Host])), Request: r}, nil
	}}
	client := &http.Client{Transport: l}
	before := time.Now()
	for _, host := range []string{"edge-a:1", "edge-b:1", "edge-c:1"} {
		resp, err := client.Post("http://"+host+"/_edge/prefetch", "application/json", strings.NewReader(`{"videos":["aaaa","bbbb"]}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != answers[host] {
			t.Errorf("%s: the prefetcher got %q, want the edge's answer %q", host, body, answers[host])
		}
	}
	after := time.Now().Add(time.Second)
	for _, tt := range []struct {
		name   string
		starts map[string]time.Time // "host video" -> when a player started it
		ratio  float64
	}{
		{"nothing started", nil, 1},
		{"both started after", map[string]time.Time{"edge-a:1 aaaa": after, "edge-a:1 bbbb": after}, 0},
		{"the big one started", map[string]time.Time{"edge-a:1 aaaa": after}, 0.25},
		{"started before the hint", map[string]time.Time{"edge-a:1 aaaa": before.Add(-time.Second), "edge-a:1 bbbb": after}, 0.75},
		{"started on another edge", map[string]time.Time{"edge-b:1 aaaa": after, "edge-b:1 bbbb": after}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder()
			for k, at := range tt.starts {
				host, video, _ := strings.Cut(k, " ")
				r.start(host, video, at)
			}
			total, ratio, videos := l.waste(r.started)
			if total != 400 || videos != 2 || ratio != tt.ratio {
				t.Errorf("waste = %d bytes, %d videos, ratio %v; want 400, 2, %v", total, videos, ratio, tt.ratio)
			}
		})
	}
}

// TestSlowCauses sorts slow swipe starts by what the hints' log says of them.
func TestSlowCauses(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newHintLog()
	l.sent["e:1 early"] = []time.Time{t0}
	l.sent["e:1 late"] = []time.Time{t0, t0.Add(9800 * time.Millisecond)} // the last one counts
	l.sent["e:1 after"] = []time.Time{t0.Add(11 * time.Second)}           // after the start: not before it
	l.sent["e:1 first"] = []time.Time{t0.Add(9900 * time.Millisecond)}
	l.sent["e:1 firstearly"] = []time.Time{t0}
	l.sent["other:1 elsewhere"] = []time.Time{t0}
	at := t0.Add(10 * time.Second)
	got := l.causes([]slowStart{
		{host: "e:1", video: "early", at: at, pos: 3, hit: true},
		{host: "e:1", video: "late", at: at, pos: 3},
		{host: "e:1", video: "after", at: at, pos: 3},
		{host: "e:1", video: "never", at: at, pos: 3},
		{host: "e:1", video: "elsewhere", at: at, pos: 3},
		{host: "e:1", video: "first", at: at, pos: 0},
		{host: "e:1", video: "firstnever", at: at, pos: 0},
		{host: "e:1", video: "firstearly", at: at, pos: 0},
	})
	want := SlowCauses{Missed: 7, PageFirst: 2, NotHinted: 3, Late: 1, Earlier: 2}
	if got != want {
		t.Errorf("causes %+v, want %+v", got, want)
	}
}
