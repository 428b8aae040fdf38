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
	sent  map[string][]time.Time // by "host:port video": when each hint of the video went to that edge
}

// sentHint is one video of a prefetch request that the edge fetched something for.
type sentHint struct {
	edge  string // host:port
	video string
	at    time.Time // when the request was sent
	bytes int64     // the request's bytes, shared by its videos by the objects each fetched
}

func newHintLog() *hintLog {
	return &hintLog{next: http.DefaultTransport, sent: map[string][]time.Time{}}
}

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
		l.sent[req.URL.Host+" "+v.Video] = append(l.sent[req.URL.Host+" "+v.Video], at)
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

// lastBefore returns when a hint of video last went to the edge at host before at, and
// whether one did.
func (l *hintLog) lastBefore(host, video string, at time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	found := false
	for _, t := range l.sent[host+" "+video] {
		if t.Before(at) && (!found || t.After(last)) {
			last, found = t, true
		}
	}
	return last, found
}

// SlowCauses counts the slow swipe starts of a run with prefetch on (a first segment that
// missed, or a first byte after slowAfter) by what the hints' log says of them.
type SlowCauses struct {
	// Missed is how many of them missed the first segment (the others hit it, late).
	Missed int
	// PageFirst: the first video of a page, which the prefetcher learns of only when the page
	// is served, as the player starts it.
	PageFirst int
	// NotHinted: no hint of the video had gone to that edge before the start.
	NotHinted int
	// Late: the last hint went less than lateWithin before the start, its fill under way.
	Late int
	// Earlier: a hint went earlier than that.
	Earlier int
}

// lateWithin is how long a hint's fill may take: its requests to the origin, three one after
// the other (the master playlist, the media playlists, then the init and first segments).
const lateWithin = 500 * time.Millisecond

// causes classifies slow.
func (l *hintLog) causes(slow []slowStart) SlowCauses {
	var c SlowCauses
	for _, s := range slow {
		if !s.hit {
			c.Missed++
		}
		at, ok := l.lastBefore(s.host, s.video, s.at)
		switch {
		case s.pos == 0 && (!ok || s.at.Sub(at) < lateWithin):
			c.PageFirst++
		case !ok:
			c.NotHinted++
		case s.at.Sub(at) < lateWithin:
			c.Late++
		default:
			c.Earlier++
		}
	}
	return c
}
