package prefetch

import (
	"time"

	"github.com/reelay/reelay/feed"
)

// maxSeq is how many served videos a viewer's state keeps, the most recent: a few pages.
const maxSeq = 100

// skipWeight is the weight of each new skip or watch in a viewer's fast-skip rate, an
// exponentially weighted mean: about the last ten videos count.
const skipWeight = 0.2

// viewer is what the predictor holds about one logged-in viewer.
type viewer struct {
	seq       []string  // the videos of the pages served to them, in order, the last maxSeq
	pos       int       // the index in seq of the video they watch, -1 before the first
	fastSkip  float64   // their rate of fast skips (Swipes.FastSkip)
	rendition string    // the rendition they last played, "" until a player says
	seen      time.Time // when they last did something
	pages     int       // the pages served to them
	peeked    int       // pages when their next page was last peeked at (Peek)
	next      []string  // that peek's videos, until the next page is served
}

func newViewer(prior float64, now time.Time) *viewer {
	return &viewer{pos: -1, fastSkip: prior, seen: now}
}

// served adds a page served to the viewer's sequence.
func (v *viewer) served(ids []string, now time.Time) {
	v.seen = now
	v.pages++
	v.next = nil
	v.seq = append(v.seq, ids...)
	if drop := len(v.seq) - maxSeq; drop > 0 {
		v.seq = append(v.seq[:0], v.seq[drop:]...)
		v.pos = max(-1, v.pos-drop)
	}
}

// event applies one of the viewer's events and reports whether it moved their position: a
// play or progress of a video of their sequence puts them there (its last occurrence, where a
// video was served twice), and its rendition, if it says, is the one they play; a skip within
// fast, or one after it or a complete, teaches their fast-skip rate.
func (v *viewer) event(ev feed.Event, fast time.Duration, now time.Time) (moved bool) {
	v.seen = now
	switch ev.Type {
	case feed.EventPlay, feed.EventProgress:
		if ev.Rendition != "" {
			v.rendition = ev.Rendition
		}
		for i := len(v.seq) - 1; i >= 0; i-- {
			if v.seq[i] == ev.Video {
				moved = i != v.pos
				v.pos = i
				break
			}
		}
	case feed.EventSkip:
		x := 0.0
		if time.Duration(ev.WatchMS)*time.Millisecond < fast {
			x = 1
		}
		v.fastSkip += skipWeight * (x - v.fastSkip)
	case feed.EventComplete:
		v.fastSkip -= skipWeight * v.fastSkip
	}
	return moved
}
