package edge

import (
	"testing"
	"time"
)

func TestPrefetchLog(t *testing.T) {
	l := newPrefetchLog()
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	stored := fill{status: 200, how: howOrigin}
	l.filled("a", stored)
	l.filled("b", stored)
	l.filled("c", fill{status: 200, how: howHit}) // was cached already: not a prefetch's doing
	l.filled("d", fill{status: 404, how: howOrigin})
	l.hit("a")
	l.hit("a") // only the first request counts
	l.hit("c")
	if used, wasted := l.counts(); used != 1 || wasted != 0 {
		t.Fatalf("used %d, wasted %d; want 1, 0", used, wasted)
	}
	now = now.Add(prefetchWindow + time.Second)
	if used, wasted := l.counts(); used != 1 || wasted != 1 {
		t.Fatalf("after the window: used %d, wasted %d; want 1, 1", used, wasted)
	}
	l.hit("b") // too late
	if used, _ := l.counts(); used != 1 {
		t.Fatalf("a hit after the window counted as use")
	}
}

// TestPrefetchLogShared: a player's request that shares a prefetch's fill while it arrives uses
// the prefetch, whether it comes after the prefetch noted the object or before; a prefetch that
// joined a fill a player began is no prefetch; a shared fill remembered too long ago does not
// count for a later prefetch.
func TestPrefetchLogShared(t *testing.T) {
	l := newPrefetchLog()
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	stored := fill{status: 200, how: howOrigin}
	l.filled("after", stored)
	l.shared("after") // the player joined once the prefetch had noted it
	l.shared("before")
	l.filled("before", stored) // the prefetch noted it after the player joined its fill
	l.filled("joined", fill{status: 200, how: howOrigin, collapsed: true})
	l.hit("joined")
	if used, wasted := l.counts(); used != 2 || wasted != 0 {
		t.Fatalf("used %d, wasted %d; want 2, 0", used, wasted)
	}
	l.shared("stale")
	now = now.Add(earlyWindow)
	l.filled("stale", stored)
	if used, _ := l.counts(); used != 2 {
		t.Fatalf("a fill shared %v before its prefetch counted as use", earlyWindow)
	}
	now = now.Add(prefetchWindow + time.Second)
	if used, wasted := l.counts(); used != 2 || wasted != 1 || len(l.early) != 0 {
		t.Fatalf("after the window: used %d, wasted %d, %d early; want 2, 1 (stale), 0", used, wasted, len(l.early))
	}
}
