package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/reelay/reelay/edge"
)

// hintLog records the prefetch hints that the feed sends to the edges, by sitting in the
// prefetcher's HTTP client (prefetch.Config.Client): for each POST /_edge/prefetch, the edge,
// when it was sent, and the videos with the bytes the edge fetched for each. With the
// players' starts it tells which prefetched bytes a player then asked for (waste, by bytes).
type hintLog struct {
	next http.RoundTripper

	mu    sync.Mutex
	hints []sentHint
}

// sentHint is one video of a prefetch request that the edge fetched something for.
type sentHint struct {
	edge  string // host:port
	video string
	at    time.Time // when the request was sent
	bytes int64     // the request's bytes, shared by its videos by the objects each fetched
}

func newHintLog() *hintLog { return &hintLog{next: http.DefaultTransport} }

// RoundTrip implements http.RoundTripper.
func (l *hintLog) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/_edge/prefetch") {
		return l.next.RoundTrip(req)
	}
	at := time.Now()
	resp, err := l.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the prefetcher sees the short body and judges
	}
	var res edge.PrefetchResult
	if json.Unmarshal(body, &res) != nil {
		return resp, nil
	}
	fetched := 0
	for _, v := range res.Videos {
		fetched += v.Fetched
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range res.Videos {
		if v.Fetched > 0 {
			l.hints = append(l.hints, sentHint{edge: req.URL.Host, video: v.Video, at: at, bytes: res.Bytes * int64(v.Fetched) / int64(fetched)})
		}
	}
	return resp, nil
}

// waste returns the bytes the hints had the edges fetch, and the share of them that no player
// asking that edge started the video for after the hint was sent (started: the times at which
// players started each video on each edge, by "host:port video").
func (l *hintLog) waste(started func(edge, video string, after time.Time) bool) (total int64, ratio float64, videos int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wasted int64
	for _, h := range l.hints {
		total += h.bytes
		if !started(h.edge, h.video, h.at) {
			wasted += h.bytes
		}
	}
	if total > 0 {
		ratio = float64(wasted) / float64(total)
	}
	return total, ratio, len(l.hints)
}
