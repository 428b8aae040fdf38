package prefetch

import (
	"math"
	"testing"
	"time"

	"github.com/reelay/reelay/feed"
)

func TestPredict(t *testing.T) {
	page := []string{"a", "b", "c", "d"}
	for _, tc := range []struct {
		name string
		seq  []string
		pos  int
		s    Swipes
		max  int
		want []Candidate
	}{
		{"before the first", page, -1, Swipes{0.9, 0.5}, 3, []Candidate{{"a", 0.9}, {"b", 0.405}, {"c", 0.18225}}},
		{"on the first", page, 0, Swipes{0.9, 0.5}, 2, []Candidate{{"b", 0.9}, {"c", 0.405}}},
		{"never skips fast", page, 0, Swipes{1, 0}, 3, []Candidate{{"b", 1}}},
		{"always skips fast", page, 1, Swipes{1, 1}, 5, []Candidate{{"c", 1}, {"d", 1}}},
		{"at the end of the page", page, 3, Swipes{0.9, 0.5}, 3, nil},
		{"into the next page", append(page, "e", "f"), 3, Swipes{0.9, 0.5}, 2, []Candidate{{"e", 0.9}, {"f", 0.405}}},
		{"a repeat is not predicted twice", []string{"a", "b", "a", "b", "c"}, 0, Swipes{1, 1}, 5, []Candidate{{"b", 1}, {"c", 1}}},
		{"none asked", page, 0, Swipes{1, 1}, 0, nil},
		{"a position before the start", page, -7, Swipes{1, 0}, 2, []Candidate{{"a", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Predict(tc.seq, tc.pos, tc.s, tc.max)
			if len(got) != len(tc.want) {
				t.Fatalf("Predict = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Video != tc.want[i].Video || math.Abs(got[i].P-tc.want[i].P) > 1e-9 {
					t.Fatalf("Predict = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestViewerEvents follows a viewer through a page: their position moves with play and
// progress, and their fast-skip rate with skips and completes.
func TestViewerEvents(t *testing.T) {
	now := time.Unix(0, 0)
	v := newViewer(0.5, now)
	v.served([]string{"a", "b", "c"}, now)
	steps := []struct {
		ev       feed.Event
		moved    bool
		pos      int
		fastSkip float64
	}{
		{feed.Event{Type: feed.EventPlay, Video: "a"}, true, 0, 0.5},
		{feed.Event{Type: feed.EventProgress, Video: "a", WatchMS: 3000}, false, 0, 0.5},
		{feed.Event{Type: feed.EventSkip, Video: "a", WatchMS: 500}, false, 0, 0.6},   // fast
		{feed.Event{Type: feed.EventSkip, Video: "a", WatchMS: 5000}, false, 0, 0.48}, // slow
		{feed.Event{Type: feed.EventComplete, Video: "b", WatchMS: 9000}, false, 0, 0.384},
		{feed.Event{Type: feed.EventPlay, Video: "c"}, true, 2, 0.384},
		{feed.Event{Type: feed.EventPlay, Video: "zzz", Rendition: "540p"}, false, 2, 0.384}, // not served here
		{feed.Event{Type: feed.EventLike, Video: "b"}, false, 2, 0.384},
	}
	for i, st := range steps {
		moved := v.event(st.ev, 2*time.Second, now)
		if moved != st.moved || v.pos != st.pos || math.Abs(v.fastSkip-st.fastSkip) > 1e-9 {
			t.Fatalf("step %d (%s %s): moved %v, pos %d, fast skips %.3f; want %v, %d, %.3f",
				i, st.ev.Type, st.ev.Video, moved, v.pos, v.fastSkip, st.moved, st.pos, st.fastSkip)
		}
	}
	if v.rendition != "540p" {
		t.Errorf("rendition %q, want 540p, the last that a play said", v.rendition)
	}
	// A long history keeps the last maxSeq videos, and the position with them.
	for range maxSeq {
		v.served([]string{"x"}, now)
	}
	if len(v.seq) != maxSeq || v.pos != -1 {
		t.Fatalf("after %d more videos: %d kept, position %d; want %d, -1", maxSeq, len(v.seq), v.pos, maxSeq)
	}
}
