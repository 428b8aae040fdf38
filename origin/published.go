package origin

import (
	"sync"
	"time"
)

// publishedCache remembers, for a short while, which videos were seen published (their
// master.m3u8 exists), so that a player's run of segment requests costs one store round trip
// each rather than two. Only positive answers are kept: a video becomes visible as soon as its
// master is written, and disappears at most ttl after the master is deleted.
//
// It holds at most max videos. When full it first drops the expired entries, then, if still
// full, an arbitrary one: the cost of a miss is a single Stat.
type publishedCache struct {
	ttl time.Duration // <= 0: nothing is kept
	max int
	now func() time.Time

	mu      sync.Mutex
	expires map[string]time.Time // video id -> end of validity
}

func newPublishedCache(ttl time.Duration, max int, now func() time.Time) *publishedCache {
	return &publishedCache{ttl: ttl, max: max, now: now, expires: make(map[string]time.Time)}
}

// has reports whether video was seen published less than ttl ago.
func (c *publishedCache) has(video string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.expires[video]
	if ok && !c.now().Before(exp) {
		delete(c.expires, video)
		ok = false
	}
	return ok
}

// add records that video is published now.
func (c *publishedCache) add(video string) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.expires[video]; !ok && len(c.expires) >= c.max {
		for v, exp := range c.expires {
			if !now.Before(exp) {
				delete(c.expires, v)
			}
		}
		for v := range c.expires {
			if len(c.expires) < c.max {
				break
			}
			delete(c.expires, v)
		}
	}
	c.expires[video] = now.Add(c.ttl)
}

// len returns the number of videos held, expired or not.
func (c *publishedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}
