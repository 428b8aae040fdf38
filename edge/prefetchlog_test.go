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
