package main

import (
	"github.com/reelay/reelay/recommender"
)

// Tuning is how reelay's score weights were chosen for one evaluation: on a validation split
// of the history alone (each user's last HoldOut of their history held out again, reelay
// fitted on the rest), never on the held-out test interactions.
type Tuning struct {
	// Weights are the weights chosen: the best validation NDCG@10 that the climb found, the
	// defaults unless some setting beat them.
	Weights recommender.Weights `json:"weights"`
	// Validation is the chosen weights' NDCG@10 on the validation split; Default the
	// default weights'.
	Validation float64 `json:"validation_ndcg10"`
	Default    float64 `json:"default_validation_ndcg10"`
	// Tried is how many weight settings were tried; Users the validation users.
	Tried int `json:"tried"`
	Users int `json:"users"`
}

// tuneRounds bounds tuneReelay's rounds of coordinate ascent.
const tuneRounds = 3

// tuneMinGain is the least relative gain in validation NDCG@10 for which tuneReelay takes a
// step: smaller ones are within what picking the best of many settings on about 1,000 users
// finds by chance (on seed 3, steps of less than 1 % each added up to a 2 % gain on
// validation and a 4 % loss on test).
const tuneMinGain = 0.01

// tuneReelay chooses reelay's weights for lg on a validation split of sp's history: it splits
// the history again as splitLog splits a log, fits reelay on that inner history with opts,
// and, from the default weights, climbs one weight at a time (each halved and doubled, a zero
// one tried at 1, in rounds until none helps or tuneRounds), scoring each setting by its mean
// NDCG@10 over the users with a validation positive; a step must gain tuneMinGain. The test interactions (sp.held) are not
// read.
func tuneReelay(lg *Log, sp split, opts recommender.Options) Tuning {
	inner := *lg
	inner.Interactions = sp.history
	vs := splitLog(&inner, sp.userNow)
	items := 0
	for i, v := range lg.Videos {
		if !v.Published.After(vs.end) {
			items = i + 1
		}
	}
	seen := map[int64]map[int]bool{}
	for _, in := range vs.history {
		if seen[in.User] == nil {
			seen[in.User] = map[int]bool{}
		}
		seen[in.User][in.Item] = true
	}
	type val struct {
		user int64
		pos  map[int]bool
	}
	var users []val
	for _, u := range vs.users {
		pos := map[int]bool{}
		for _, in := range vs.held[u] {
			if in.Positive && in.Item < items && !seen[u][in.Item] {
				pos[in.Item] = true
			}
		}
		if len(pos) > 0 {
			users = append(users, val{u, pos})
		}
	}
	t := Tuning{Weights: recommender.DefaultWeights(), Users: len(users)}
	if len(users) == 0 {
		return t
	}
	r := fitReelay(&inner, vs, items, opts)
	score := func(w recommender.Weights) float64 {
		t.Tried++
		r.m.SetWeights(w)
		sum := 0.0
		for _, v := range users {
			sum += ndcg(r.rank(v.user, ndcgAt, seen[v.user]), v.pos, ndcgAt)
		}
		return sum / float64(len(users))
	}
	t.Default = score(t.Weights)
	t.Validation = t.Default
	for range tuneRounds {
		improved := false
		for _, p := range []*float64{&t.Weights.Content, &t.Weights.Batch, &t.Weights.Quality, &t.Weights.Affinity, &t.Weights.Covisit, &t.Weights.Follow} {
			was := *p
			tries := []float64{was * 2, was / 2}
			if was == 0 {
				tries = []float64{1}
			}
			for _, x := range tries {
				*p = x
				if s := score(t.Weights); s > t.Validation*(1+tuneMinGain) {
					t.Validation, was, improved = s, x, true
					break
				}
			}
			*p = was
		}
		if !improved {
			break
		}
	}
	return t
}
