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
// prefetched object (its owner) notes it; the first player's request that hits it, or shares
// its fill while it still arrives, makes it used, and one not requested within prefetchWindow
// is wasted.
//
// A player's request may join a prefetch's fill before the prefetch notes it (the prefetch
// notes it once its fill answers): such a request is remembered in early for a moment, and the
// prefetch's note then counts the object used at once.
type prefetchLog struct {
	mu      sync.Mutex
	pending map[string]time.Time // key → when it was prefetched
	early   map[string]time.Time // key → when a player's request shared a fill not yet noted
	now     func() time.Time

	used, wasted atomic.Int64
}

func newPrefetchLog() *prefetchLog {
	return &prefetchLog{pending: make(map[string]time.Time), early: make(map[string]time.Time), now: time.Now}
}

// earlyWindow is how long a player's request that shared a fill waits in prefetchLog.early for
// the prefetch that caused the fill to note it.
const earlyWindow = time.Minute

// filled notes a prefetch's answer: an object it brought into this node's cache awaits use.
// An object that was already cached, or whose fill a player's request had begun, proves
// nothing either way.
func (l *prefetchLog) filled(key string, f fill) {
	if f.status != 200 || f.how == howHit || f.how == howStale || f.collapsed {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.early[key]; ok {
		delete(l.early, key)
		if l.now().Sub(at) < earlyWindow {
			l.used.Add(1) // a player shared this fill before it was noted
			return
		}
	}
	if len(l.pending) >= prefetchLogMax {
		l.expire(time.Time{}, prefetchLogMax/10)
	}
	l.pending[key] = l.now()
}

// hit notes a player's request served from the cache: the first for a prefetched object
// uses it.
func (l *prefetchLog) hit(key string) {
	l.mu.Lock()
	_, ok := l.pending[key]
	delete(l.pending, key)
	l.mu.Unlock()
	if ok {
		l.used.Add(1)
	}
}

// shared notes a player's request that shared a fill under way: a prefetch's, if one noted it,
// which it then uses; otherwise it may be a prefetch's fill not yet noted, and it is kept in
// early for filled to find.
func (l *prefetchLog) shared(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.pending[key]; ok {
		delete(l.pending, key)
		l.used.Add(1)
		return
	}
	if len(l.early) >= prefetchLogMax/10 {
		for k, at := range l.early { // drop the overdue, or any one when none is
			if l.now().Sub(at) >= earlyWindow || len(l.early) >= prefetchLogMax/10 {
				delete(l.early, k)
			}
		}
	}
	l.early[key] = l.now()
}

// counts returns the used and wasted prefetches so far, after expiring the overdue ones.
func (l *prefetchLog) counts() (used, wasted int64) {
	l.mu.Lock()
	l.expire(l.now().Add(-prefetchWindow), len(l.pending))
	for k, at := range l.early {
		if l.now().Sub(at) >= earlyWindow {
			delete(l.early, k)
		}
	}
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
