package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/reelay/reelay/recommender"
	"github.com/reelay/reelay/recommender/baseline"
)

// The contenders, in the order of the table.
var contenders = []string{"reelay", "random", "popularity", "itemknn", "ease"}

// Cutoffs of the metrics.
const (
	ndcgAt   = 10
	recallAt = 50
)

// Offline is the offline evaluation's result.
type Offline struct {
	// NDCG10 and Recall50 map each contender to its mean over the evaluated users.
	NDCG10   map[string]float64 `json:"ndcg10"`
	Recall50 map[string]float64 `json:"recall50"`
	// Users is the number of users evaluated: those with a positive held out on an item of
	// the catalogue at the split that their history does not hold.
	Users int `json:"users"`
	// Items is the catalogue at the split (the items every contender may rank).
	Items int `json:"items"`
	// History and HeldOut count interactions; Positives the held-out positives evaluated.
	History   int `json:"history"`
	HeldOut   int `json:"held_out"`
	Positives int `json:"positives"`
	// Split is the time of the last interaction of the history: the recommender's "now".
	Split time.Time `json:"split"`
	// FitSeconds is each contender's time to fit (for reelay: to observe the history).
	FitSeconds map[string]float64 `json:"fit_seconds"`
	// Reelay says where reelay's picks came from.
	Reelay *ReelayDiagnostics `json:"reelay"`
	// Tuning says how reelay's weights were chosen, on a validation split of the history
	// (nil with evalOptions.NoTune: the defaults).
	Tuning *Tuning `json:"tuning,omitempty"`
}

// evalOptions tunes evaluate.
type evalOptions struct {
	Seed int64 // seeds the random baseline and reelay's exploration
	// EASELambda is EASE's regularisation; 0 is baseline.DefaultLambda.
	EASELambda float64
	// Neighbours is item-kNN's k; 0 is baseline.DefaultNeighbours.
	Neighbours int
	// Only, when not nil, names the contenders to run (the others are left out of the
	// result): a tuner's quick run.
	Only map[string]bool
	// UserNow asks reelay for each user's ranking at their own split time rather than at
	// the history's end (see split.now).
	UserNow bool
	// HalfLife, when above 0, is reelay's half-life of popularity and interests: a replayed
	// log spans months where the model's defaults (hours, days) suit a live feed.
	HalfLife time.Duration
	// NoTune keeps reelay's default weights rather than choosing them on a validation split
	// of the history (tuneReelay).
	NoTune bool
}

// ranker gives a user's top-k list of catalogue items, leaving out the seen ones.
type ranker func(user int64, k int, seen map[int]bool) []int

// evaluate splits lg, fits every contender on the history and scores its rankings of the
// held-out positives.
func evaluate(lg *Log, opts evalOptions) (*Offline, error) {
	if len(lg.Interactions) == 0 {
		return nil, fmt.Errorf("swipesim: the log has no interactions")
	}
	sp := splitLog(lg, opts.UserNow)
	// The catalogue at the split: the items published by then (a replayed log's items are
	// published at their first interaction).
	items := 0
	for i, v := range lg.Videos {
		if !v.Published.After(sp.end) {
			items = i + 1
		}
	}
	res := &Offline{
		NDCG10: map[string]float64{}, Recall50: map[string]float64{}, FitSeconds: map[string]float64{},
		Items: items, History: len(sp.history), Split: sp.end,
		Reelay: &ReelayDiagnostics{Top10Sources: map[string]float64{}, Top10Hits: map[string]int{}},
	}
	for _, h := range sp.held {
		res.HeldOut += len(h)
	}

	// The baselines learn from the history's positives and likes, as implicit feedback.
	index := map[int64]int{}
	for i, u := range sp.users {
		index[u] = i
	}
	data := baseline.NewData(len(sp.users), items)
	seen := map[int64]map[int]bool{}
	for _, in := range sp.history {
		if seen[in.User] == nil {
			seen[in.User] = map[int]bool{}
		}
		seen[in.User][in.Item] = true
		if (in.Positive || in.Liked) && in.Item < items {
			data.Add(index[in.User], in.Item, 1)
		}
	}
	fromScorer := func(s baseline.Scorer) ranker {
		return func(user int64, k int, seen map[int]bool) []int {
			return baseline.Recommend(s, items, index[user], k, func(i int) bool { return seen[i] })
		}
	}
	rankers := map[string]ranker{}
	var err error
	timed := func(name string, fit func() (ranker, error)) {
		if err != nil || opts.Only != nil && !opts.Only[name] {
			return
		}
		t0 := time.Now()
		var r ranker
		r, err = fit()
		if err != nil {
			err = fmt.Errorf("swipesim: fitting %s: %w", name, err)
			return
		}
		res.FitSeconds[name] = math.Round(time.Since(t0).Seconds()*1000) / 1000
		rankers[name] = r
	}
	timed("random", func() (ranker, error) { return fromScorer(baseline.Random{Seed: opts.Seed}), nil })
	timed("popularity", func() (ranker, error) {
		m, err := baseline.FitPopularity(data)
		return fromScorer(m), err
	})
	timed("itemknn", func() (ranker, error) {
		m, err := baseline.FitItemKNN(data, opts.Neighbours)
		return fromScorer(m), err
	})
	timed("ease", func() (ranker, error) {
		m, err := baseline.FitEASE(data, opts.EASELambda, 0)
		return fromScorer(m), err
	})
	var rl *reelayRanker
	timed("reelay", func() (ranker, error) {
		ro := recommender.Options{
			Seed: opts.Seed, RefitEvery: -1, // one fit at the split (fitReelay)
			PopularityHalfLife: opts.HalfLife, InterestHalfLife: opts.HalfLife,
		}
		if !opts.NoTune {
			t := tuneReelay(lg, sp, ro)
			res.Tuning = &t
			ro.Weights = &t.Weights
		}
		rl = fitReelay(lg, sp, items, ro)
		return rl.rank, nil
	})
	if hasTags(lg) {
		timed("hashtags", func() (ranker, error) { return hashtagRanker(lg, sp, items), nil })
	}
	if lg.Oracle != nil {
		timed("oracle", func() (ranker, error) { return oracleRanker(lg, items), nil })
	}
	if err != nil {
		return nil, err
	}

	for _, u := range sp.users {
		pos := map[int]bool{}
		for _, in := range sp.held[u] {
			if in.Positive && in.Item < items && !seen[u][in.Item] {
				pos[in.Item] = true
			}
		}
		if len(pos) == 0 {
			continue
		}
		res.Users++
		res.Positives += len(pos)
		for _, name := range slices.Sorted(maps.Keys(rankers)) {
			list := rankers[name](u, recallAt, seen[u])
			res.NDCG10[name] += ndcg(list, pos, ndcgAt)
			res.Recall50[name] += recall(list, pos, recallAt)
			if name == "reelay" {
				res.Reelay.diagnose(rl, u, seen[u], pos)
			}
		}
	}
	if rl == nil {
		res.Reelay = nil
	} else {
		res.Reelay.finish(res.Users)
	}
	for name := range rankers {
		if res.Users > 0 {
			res.NDCG10[name] /= float64(res.Users)
			res.Recall50[name] /= float64(res.Users)
		}
	}
	return res, nil
}

// oracleRanker ranks by the world's expected watch ratio: what a recommender that knew the
// users' tastes would do.
func oracleRanker(lg *Log, items int) ranker {
	return func(user int64, k int, seen map[int]bool) []int {
		scores := make([]float64, items)
		for i := range scores {
			scores[i] = lg.Oracle(user, i)
		}
		return baseline.TopK(scores, k, func(i int) bool { return seen[i] })
	}
}

// ndcg is the normalised discounted cumulative gain of list's first k items with binary
// relevance pos: 1 when the first min(k, |pos|) items are all positives.
func ndcg(list []int, pos map[int]bool, k int) float64 {
	dcg, ideal := 0.0, 0.0
	for i := range min(k, len(list)) {
		if pos[list[i]] {
			dcg += 1 / math.Log2(float64(i+2))
		}
	}
	for i := range min(k, len(pos)) {
		ideal += 1 / math.Log2(float64(i+2))
	}
	if ideal == 0 {
		return 0
	}
	return dcg / ideal
}

// recall is the share of the positives in list's first k items, out of min(k, |pos|) (so that
// a perfect list scores 1 even with more than k positives).
func recall(list []int, pos map[int]bool, k int) float64 {
	hits := 0
	for _, i := range list[:min(k, len(list))] {
		if pos[i] {
			hits++
		}
	}
	if len(pos) == 0 {
		return 0
	}
	return float64(hits) / float64(min(k, len(pos)))
}

// references are the contenders that are not baselines, shown for comparison when the log
// allows them: a hashtag profile (needs hashtags) and the oracle (needs the world).
var references = []string{"hashtags", "oracle"}

// contenderNames lists the contenders of res in the table's order, the references last.
func contenderNames(res *Offline) []string {
	names := slices.Clone(contenders)
	for _, r := range references {
		if _, ok := res.NDCG10[r]; ok {
			names = append(names, r)
		}
	}
	return names
}
