package main

import (
	"slices"
	"testing"
	"time"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/recommender"
)

func TestHistoryEvents(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	lg := &Log{Videos: []recommender.Video{
		{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Creator: 100, DurationMS: 10000},
		{ID: "bbbbbbbbbbbbbbbbbbbbbbbbba", Creator: 200, DurationMS: 20000},
	}}
	type ev struct {
		user  int64
		video int
		typ   feed.EventType
		watch int64
		at    time.Duration // after t0
	}
	for _, tc := range []struct {
		name    string
		history []Interaction
		want    []ev
		follows map[int64][]int64
	}{
		{
			name:    "a skip at half",
			history: []Interaction{{User: 1, Item: 1, At: t0, Ratio: 0.5, Position: 3}},
			want: []ev{
				{1, 1, feed.EventImpression, 0, 0}, {1, 1, feed.EventPlay, 0, 0},
				{1, 1, feed.EventSkip, 10000, 10 * time.Second},
			},
		},
		{
			name:    "a complete view, liked, shared, its creator followed",
			history: []Interaction{{User: 2, Item: 0, At: t0, Ratio: 1, Liked: true, Shared: true, Followed: true}},
			want: []ev{
				{2, 0, feed.EventImpression, 0, 0}, {2, 0, feed.EventPlay, 0, 0},
				{2, 0, feed.EventComplete, 10000, 10 * time.Second}, {2, 0, feed.EventLike, 10000, 10 * time.Second},
				{2, 0, feed.EventShare, 10000, 10 * time.Second}, {2, 0, feed.EventFollow, 10000, 10 * time.Second},
			},
			follows: map[int64][]int64{2: {100}},
		},
		{
			name: "a fast skip marked not interested, and another user's view that ends later",
			history: []Interaction{
				{User: 3, Item: 1, At: t0, Ratio: 0.05, NotInterested: true},
				{User: 4, Item: 0, At: t0.Add(500 * time.Millisecond), Ratio: 0.1},
			},
			want: []ev{
				{3, 1, feed.EventImpression, 0, 0}, {3, 1, feed.EventPlay, 0, 0},
				{4, 0, feed.EventImpression, 0, 500 * time.Millisecond}, {4, 0, feed.EventPlay, 0, 500 * time.Millisecond},
				{3, 1, feed.EventSkip, 1000, time.Second}, {3, 1, feed.EventNotInterested, 1000, time.Second},
				{4, 0, feed.EventSkip, 1000, 1500 * time.Millisecond},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			follows, served := map[int64][]int64{}, map[int64][]string{}
			events := historyEvents(lg, tc.history, follows, served)
			if len(events) != len(tc.want) {
				t.Fatalf("%d events, want %d: %+v", len(events), len(tc.want), events)
			}
			for i, e := range events {
				w := tc.want[i]
				if e.ID != int64(i+1) || e.UserID != w.user || e.Video != lg.Videos[w.video].ID || e.Type != w.typ ||
					e.WatchMS != w.watch || !e.At.Equal(t0.Add(w.at)) {
					t.Errorf("event %d = %+v, want %+v", i, e, w)
				}
			}
			for u, want := range tc.follows {
				if !slices.Equal(follows[u], want) {
					t.Errorf("user %d follows %v, want %v", u, follows[u], want)
				}
			}
			if len(tc.follows) == 0 && len(follows) > 0 {
				t.Errorf("follows %v, want none", follows)
			}
			if got := served[tc.history[0].User]; len(got) != 1 || got[0] != lg.Videos[tc.history[0].Item].ID {
				t.Errorf("served %v", got)
			}
		})
	}
}

func TestSplitLog(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var lg Log
	// User 1: 10 views (2 held out); user 2: 4 views (none); user 3: 5 views (1).
	for u, n := range map[int64]int{1: 10, 2: 4, 3: 5} {
		for i := range n {
			lg.Interactions = append(lg.Interactions, Interaction{User: u, Item: i, At: t0.Add(time.Duration(i*10+int(u)) * time.Minute)})
		}
	}
	sortInteractions(lg.Interactions)
	for _, userNow := range []bool{false, true} {
		sp := splitLog(&lg, userNow)
		if len(sp.held[1]) != 2 || len(sp.held[2]) != 0 || len(sp.held[3]) != 1 || len(sp.history) != 16 {
			t.Fatalf("held out %d, %d, %d; history %d; want 2, 0, 1; 16", len(sp.held[1]), len(sp.held[2]), len(sp.held[3]), len(sp.history))
		}
		if sp.held[1][0].Item != 8 || sp.held[3][0].Item != 4 {
			t.Errorf("held out items %d, %d: want each user's last", sp.held[1][0].Item, sp.held[3][0].Item)
		}
		// The history's end: user 1's 8th view (70+1 min) is after user 3's 4th (30+3 min).
		if want := t0.Add(71 * time.Minute); !sp.end.Equal(want) {
			t.Errorf("end %v, want %v", sp.end, want)
		}
		want := sp.end
		if userNow {
			want = t0.Add(43 * time.Minute) // user 3's held-out view
		}
		if got := sp.now(3); !got.Equal(want) {
			t.Errorf("userNow %v: now(3) = %v, want %v", userNow, got, want)
		}
		for i := 1; i < len(sp.history); i++ {
			if sp.history[i].At.Before(sp.history[i-1].At) {
				t.Fatal("history out of order")
			}
		}
	}
}
