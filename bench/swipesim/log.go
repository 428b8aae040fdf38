package main

import (
	"cmp"
	"slices"
	"time"

	"github.com/reelay/reelay/recommender"
)

// Interaction is one view in a log: a user and a video of the feed, and what the user did.
type Interaction struct {
	User int64
	Item int // index in Log.Videos
	At   time.Time
	// Position is the item's index in its feed page.
	Position int
	// Ratio is the share of the video watched, in [0, 1] (1: a complete view).
	Ratio float64
	// Positive is what the evaluator counts as a hit: a watch ratio of at least 0.8 on the
	// simulator, a weight of at least the threshold in a replayed log.
	Positive bool
	// Liked, Shared, Followed (the creator), NotInterested.
	Liked, Shared, Followed, NotInterested bool
}

// Log is an interaction history and its catalogue: what the offline evaluator splits, fits
// every contender on, and scores them against.
type Log struct {
	Videos       []recommender.Video
	Interactions []Interaction // in order of At
	// Oracle, when not nil, is the world's own expected watch ratio of a user for a video:
	// the ceiling a recommender could reach (the simulator has one, a replayed log does not).
	Oracle func(user int64, item int) float64
}

// split is a log divided by time, each user's last HoldOut share of interactions held out.
type split struct {
	history []Interaction // in order of At
	held    map[int64][]Interaction
	// end is the time of the last interaction of the history: the evaluation's "now".
	end time.Time
	// users lists the users in the order of their first interaction.
	users []int64
	// userNow says, when set, each user's own "now": see splitLog.
	userNow bool
}

// now is when user asks for the ranking that the held-out views are compared with: with
// userNow, the time of the user's first held-out interaction (when they came back, the
// moment a feed would rank for them); otherwise the split (end), the same for everyone.
func (s split) now(user int64) time.Time {
	if h := s.held[user]; s.userNow && len(h) > 0 {
		return h[0].At
	}
	return s.end
}

// HoldOut is the share of each user's interactions, the latest, that the evaluation holds out.
const HoldOut = 0.2

// splitLog holds out the last HoldOut of each user's interactions (rounded down: a user with
// fewer than 5 interactions is only in the history).
func splitLog(lg *Log, userNow bool) split {
	byUser := map[int64][]Interaction{}
	var users []int64
	for _, in := range lg.Interactions {
		if _, ok := byUser[in.User]; !ok {
			users = append(users, in.User)
		}
		byUser[in.User] = append(byUser[in.User], in)
	}
	s := split{held: map[int64][]Interaction{}, users: users, userNow: userNow}
	for _, u := range users {
		ins := byUser[u]
		h := int(float64(len(ins)) * HoldOut)
		s.history = append(s.history, ins[:len(ins)-h]...)
		if h > 0 {
			s.held[u] = ins[len(ins)-h:]
		}
	}
	slices.SortStableFunc(s.history, func(a, b Interaction) int { return a.At.Compare(b.At) })
	for _, in := range s.history {
		if in.At.After(s.end) {
			s.end = in.At
		}
	}
	return s
}

// sortInteractions puts ins in order of time, keeping the order of equal times.
func sortInteractions(ins []Interaction) {
	slices.SortStableFunc(ins, func(a, b Interaction) int { return cmp.Compare(a.At.UnixNano(), b.At.UnixNano()) })
}
