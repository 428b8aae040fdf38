package origin

import (
	"sync"
	"time"
)

// publishedCache remembers, for a short while, which videos were seen published (their
// master.m3u8 exists) and whether they are private, so that a player's run of segment requests
// costs one store round trip each rather than three. Only positive answers are kept: a video becomes visible as soon as its
// master is written, and disappears at most ttl after the master is deleted.
//
// It holds at most max videos. When full it first drops the expired entries, then, if still
// full, an arbitrary one: the cost of a miss is a single Stat.
type publishedCache struct {
	ttl time.Duration // <= 0: nothing is kept
	max int
	now func() time.Time

	mu     sync.Mutex
	videos map[string]publishedVideo // by video id
}

type publishedVideo struct {
	expires time.Time // end of validity
	private bool
}

func newPublishedCache(ttl time.Duration, max int, now func() time.Time) *publishedCache {
	return &publishedCache{ttl: ttl, max: max, now: now, videos: make(map[string]publishedVideo)}
}

// has reports whether video was seen published less than ttl ago, and if so whether it is
// private.
func (c *publishedCache) has(video string) (private, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.videos[video]
	if ok && !c.now().Before(v.expires) {
		delete(c.videos, video)
		ok = false
	}
	return v.private, ok
}

// add records that video is published now, and private or not.
func (c *publishedCache) add(video string, private bool) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.videos[video]; !ok && len(c.videos) >= c.max {
		for id, v := range c.videos {
			if !now.Before(v.expires) {
				delete(c.videos, id)
			}
		}
		for id := range c.videos {
			if len(c.videos) < c.max {
				break
			}
			delete(c.videos, id)
		}
	}
	c.videos[video] = publishedVideo{expires: now.Add(c.ttl), private: private}
}

// len returns the number of videos held, expired or not.
func (c *publishedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.videos)
}
