package world

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/reelay/reelay/internal/videoid"
)

func TestNewIsDeterministic(t *testing.T) {
	a := New(Config{Seed: 7, Users: 50, Videos: 200})
	b := New(Config{Seed: 7, Users: 50, Videos: 200})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same Config gave two different worlds")
	}
	c := New(Config{Seed: 8, Users: 50, Videos: 200})
	if a.Videos[0].ID == c.Videos[0].ID {
		t.Fatal("seeds 7 and 8 gave the same first video id")
	}
}

func TestWorldShape(t *testing.T) {
	w := New(Config{Seed: 1, Users: 100, Videos: 1000})
	ids := map[string]bool{}
	var durs []int64
	for i, v := range w.Videos {
		if v.Index != i {
			t.Fatalf("video %d has Index %d", i, v.Index)
		}
		if !videoid.Valid(v.ID) || ids[v.ID] {
			t.Fatalf("video %d: id %q is not a fresh 26-character id", i, v.ID)
		}
		ids[v.ID] = true
		if len(v.Tags) < 2 || len(v.Tags) > 4 {
			t.Fatalf("video %d has %d tags", i, len(v.Tags))
		}
		if v.CreatorID != w.Creators[v.Creator].ID || v.CreatorID <= int64(len(w.Users)) {
			t.Fatalf("video %d: creator %d, id %d", i, v.Creator, v.CreatorID)
		}
		if i > 0 && v.Published.Before(w.Videos[i-1].Published) {
			t.Fatalf("video %d published before video %d", i, i-1)
		}
		durs = append(durs, v.DurationMS)
	}
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	if med := durs[len(durs)/2]; med < 12000 || med > 18000 {
		t.Errorf("median duration %d ms, want about 15 s", med)
	}
	old := w.Published(w.Config.Start)
	if old != 800 {
		t.Errorf("%d videos published by Start, want 800 (NewShare 0.2)", old)
	}
	if n := len(w.Catalogue(w.Config.Start.Add(w.Config.Uploads))); n != 1000 {
		t.Errorf("catalogue at the end of uploads holds %d videos, want 1000", n)
	}
}

// TestWatchFollowsTaste checks that the outcome carries the signal a recommender learns: a
// user watches the videos on their topics longer, and likes them more, than the others.
func TestWatchFollowsTaste(t *testing.T) {
	w := New(Config{Seed: 3, Users: 200, Videos: 1000})
	rng := rand.New(rand.NewPCG(1, 2))
	var match, miss struct{ n, pos, likes int }
	for i := range w.Users {
		u := &w.Users[i]
		for j := 0; j < 50; j++ {
			v := &w.Videos[rng.IntN(len(w.Videos))]
			o := w.Watch(u, v, false, rng)
			if o.Ratio < 0 || o.Ratio > 1 || o.WatchMS > v.DurationMS || o.Complete != (o.Ratio == 1) {
				t.Fatalf("outcome out of range: %+v for a video of %d ms", o, v.DurationMS)
			}
			s := &miss
			if w.Affinity(u, v) > 0.3 {
				s = &match
			}
			s.n++
			if o.Ratio >= 0.8 {
				s.pos++
			}
			if o.Liked {
				s.likes++
			}
		}
	}
	pm, px := float64(match.pos)/float64(match.n), float64(miss.pos)/float64(miss.n)
	if pm < 2*px || pm < 0.4 {
		t.Errorf("share watched ≥ 0.8: %.3f on the user's topics, %.3f elsewhere", pm, px)
	}
	lm, lx := float64(match.likes)/float64(match.n), float64(miss.likes)/float64(miss.n)
	if lm < 2*lx {
		t.Errorf("like rate: %.3f on the user's topics, %.3f elsewhere", lm, lx)
	}
	t.Logf("≥0.8: %.3f vs %.3f; likes %.3f vs %.3f (%d, %d views)", pm, px, lm, lx, match.n, miss.n)
}

// TestTagsCarryTopics checks the content signal: almost every video has a tag of one of its
// topics.
func TestTagsCarryTopics(t *testing.T) {
	w := New(Config{Seed: 5, Users: 10, Videos: 500})
	missing := 0
	for _, v := range w.Videos {
		if !slices.ContainsFunc(v.Tags, func(tag string) bool {
			for topic, x := range v.Topics {
				if x > 0 && slices.Contains(w.TopicTags[topic], tag) {
					return true
				}
			}
			return false
		}) {
			missing++
		}
	}
	if missing > len(w.Videos)/20 {
		t.Errorf("%d of %d videos have no tag of their topics", missing, len(w.Videos))
	}
}
