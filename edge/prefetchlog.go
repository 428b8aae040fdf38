package edge

import (
	"sync"
	"sync/atomic"
	"time"
)

// Values of PeerHeader: a fill for a player's request, one for a prefetch, or a request for a
// stored copy only (see Edge.stored), which the node that owns a key makes of the others when
// the origin fails.
const (
	peerFill     = "1"
	peerPrefetch = "prefetch"
	peerStored   = "stored"
)

// prefetchWindow is how long a prefetched object has to be requested to count as used; after
// it, it counts as wasted.
const prefetchWindow = 10 * time.Minute

// prefetchLogMax bounds the objects awaiting their first request; past it the oldest count
// as wasted.
const prefetchLogMax = 100_000

// prefetchLog tells prefetches that paid off from those that did not. The node that stores a
// prefetched object (its owner) notes it; the first request that hits it makes it used, and
// one not hit within prefetchWindow is wasted.
type prefetchLog struct {
	mu      sync.Mutex
	pending map[string]time.Time // key → when it was prefetched
	now     func() time.Time

	used, wasted atomic.Int64
}

func newPrefetchLog() *prefetchLog {
	return &prefetchLog{pending: make(map[string]time.Time), now: time.Now}
}

// filled notes a prefetch's answer: an object it brought into this node's cache awaits use.
// An object that was already cached proves nothing either way.
func (l *prefetchLog) filled(key string, f fill) {
	if f.status != 200 || f.how == howHit || f.how == howStale {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) >= prefetchLogMax {
		l.expire(time.Time{}, prefetchLogMax/10)
	}
	l.pending[key] = l.now()
}

// hit notes a request served from the cache: the first for a prefetched object uses it.
func (l *prefetchLog) hit(key string) {
	l.mu.Lock()
	_, ok := l.pending[key]
	delete(l.pending, key)
	l.mu.Unlock()
	if ok {
		l.used.Add(1)
	}
}

// counts returns the used and wasted prefetches so far, after expiring the overdue ones.
func (l *prefetchLog) counts() (used, wasted int64) {
	l.mu.Lock()
	l.expire(l.now().Add(-prefetchWindow), len(l.pending))
	l.mu.Unlock()
	return l.used.Load(), l.wasted.Load()
}

// expire counts as wasted up to n pending objects prefetched before cutoff (any, when cutoff
// is zero). The caller holds l.mu.
func (l *prefetchLog) expire(cutoff time.Time, n int) {
	for key, at := range l.pending {
		if n == 0 {
			return
		}
		if cutoff.IsZero() || at.Before(cutoff) {
			delete(l.pending, key)
			l.wasted.Add(1)
			n--
		}
	}
}
