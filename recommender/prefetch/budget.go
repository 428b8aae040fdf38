package prefetch

import (
	"sync"
	"time"
)

// byteCap is the cluster-wide prefetch bandwidth cap: a token bucket of bytes, refilled at
// rate bytes a second up to burst. A hint takes an estimate of its bytes before it is sent,
// and once the edges report what they fetched, settle trades the estimate for the bytes
// reported: the bucket may go below zero then, and no hint passes until it has refilled.
// The estimate follows the bytes reported per video.
type byteCap struct {
	rate, burst float64
	now         func() time.Time

	mu       sync.Mutex
	tokens   float64
	last     time.Time
	estimate float64 // bytes a video's hint is expected to fetch
}

// estimateWeight is the weight of each reported video in the estimate.
const estimateWeight = 0.1

func newByteCap(rate, burst, estimate int64, now func() time.Time) *byteCap {
	return &byteCap{rate: float64(rate), burst: float64(burst), now: now, tokens: float64(burst), last: now(), estimate: float64(estimate)}
}

// take takes the estimate of n videos' bytes from the bucket and returns it, or reports
// false, taking nothing, when the bucket holds less.
func (c *byteCap) take(n int) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.tokens = min(c.burst, c.tokens+now.Sub(c.last).Seconds()*c.rate)
	c.last = now
	want := c.estimate * float64(n)
	if c.tokens < want {
		return 0, false
	}
	c.tokens -= want
	return int64(want), true
}

// settle trades taken, an estimate that take returned for videos, for the bytes the edges
// reported fetching for them (0 when the hint was not sent: the estimate is refunded).
func (c *byteCap) settle(taken int64, videos int, bytes int64, reported bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens += float64(taken - bytes)
	if reported && videos > 0 {
		c.estimate += estimateWeight * (float64(bytes)/float64(videos) - c.estimate)
	}
}

// recent remembers what was hinted lately, so that it is not hinted again within ttl: the
// edges hold it already. Its memory is bounded by what was hinted within ttl.
type recent struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	at    map[string]time.Time
	swept time.Time
}

func newRecent(ttl time.Duration, now func() time.Time) *recent {
	return &recent{ttl: ttl, now: now, at: make(map[string]time.Time), swept: now()}
}

// add notes key as hinted now, unless it was within ttl: then it reports false.
func (r *recent) add(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.swept) > r.ttl {
		for k, t := range r.at {
			if now.Sub(t) >= r.ttl {
				delete(r.at, k)
			}
		}
		r.swept = now
	}
	if t, ok := r.at[key]; ok && now.Sub(t) < r.ttl {
		return false
	}
	r.at[key] = now
	return true
}

// forget takes key back, when its hint could not be sent after all.
func (r *recent) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.at, key)
}
