package e2e

import (
	"slices"
	"sync"
	"time"
)

// recorder collects what the players of one run observe. It is safe for concurrent use.
type recorder struct {
	mu          sync.Mutex
	swipes      []time.Duration    // swipe-start latencies: from the swipe to the first segment's first byte
	hits        int                // of those swipes, the first segments the edge answered from its cache
	steps       [4][]time.Duration // of those swipes, each request's time (see start.steps)
	impressions map[string][]time.Time
	starts      map[string][]time.Time // by "host:port video": when players on that edge started the video
	slow        []slowStart            // the swipes whose first segment missed or came late
	adjacent    int                    // consecutive items of a player's feed by the same creator
	items       int                    // items served in all pages
	pages       int
	views       int
	errors      int
	firstErr    string
}

func newRecorder() *recorder {
	return &recorder{impressions: map[string][]time.Time{}, starts: map[string][]time.Time{}}
}

// start notes that a player asking the edge at host (host:port) started video at.
func (r *recorder) start(host, video string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts[host+" "+video] = append(r.starts[host+" "+video], at)
}

// started reports whether a player asking the edge at host started video after after.
func (r *recorder) started(host, video string, after time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, at := range r.starts[host+" "+video] {
		if !at.Before(after) {
			return true
		}
	}
	return false
}

// slowStart is a swipe whose first segment missed the edge's cache or took long, with what
// the diagnosis of its cause needs.
type slowStart struct {
	host, video string
	at          time.Time // when the player started it
	pos         int       // its position in its page
	hit         bool
}

// slowAfter is the swipe-start latency from which a start counts as slow (a hit answers in a
// few milliseconds; a miss costs the origin's latency).
const slowAfter = 40 * time.Millisecond

// swipe notes the start of a video that the player asking host swiped to at, the pos-th of
// its page.
func (r *recorder) swipe(st start, host, video string, at time.Time, pos int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !st.hit || st.firstByte >= slowAfter {
		r.slow = append(r.slow, slowStart{host: host, video: video, at: at, pos: pos, hit: st.hit})
	}
	r.swipes = append(r.swipes, st.firstByte)
	for i, d := range st.steps {
		r.steps[i] = append(r.steps[i], d)
	}
	if st.hit {
		r.hits++
	}
}

// view notes an impression of video at.
func (r *recorder) view(video string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.views++
	r.impressions[video] = append(r.impressions[video], at)
}

// page notes a page of items served, and how many of its items follow one by the same
// creator (the first against the last item the player was served before it).
func (r *recorder) page(items, adjacent int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pages++
	r.items += items
	r.adjacent += adjacent
}

// fail notes an error of the system under test (an answer other than expected).
func (r *recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errors++; r.firstErr == "" {
		r.firstErr = err.Error()
	}
}

// impressionsWithin counts the impressions of video from from to until.
func (r *recorder) impressionsWithin(video string, from, until time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, at := range r.impressions[video] {
		if !at.Before(from) && !at.After(until) {
			n++
		}
	}
	return n
}

// adjacencies counts, in creators (each item's creator, in the order served), the items whose
// creator is the one before: last is the creator of the item served just before, "" if none.
func adjacencies(last string, creators []string) int {
	n := 0
	for _, c := range creators {
		if c == last && c != "" {
			n++
		}
		last = c
	}
	return n
}

// percentile returns the p-th percentile (0-100) of ds by the nearest rank, 0 without values.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ms is d in milliseconds, to a tenth.
func ms(d time.Duration) float64 {
	return float64(d.Round(100*time.Microsecond)) / float64(time.Millisecond)
}
