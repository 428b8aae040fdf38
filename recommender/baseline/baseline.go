// Package baseline holds the classic recommenders that reelay's own is measured against
// offline (issue 13, bench/swipesim): random, popularity, item-kNN and EASE. Each is fitted
// on an implicit-feedback history (Data: which items each user interacted with, and how
// strongly) and scores every item for a user; Recommend turns scores into a top-k list that
// leaves out what the user has already seen.
//
// Users and items are dense indices (0..Users-1, 0..Items-1); the caller maps its ids to
// them. The models are read-only once fitted and safe for concurrent use.
package baseline

import (
	"cmp"
	"errors"
	"math"
	"slices"
)

// ErrData reports a history the models cannot be fitted on.
var ErrData = errors.New("baseline: invalid data")

// Entry is one item of a user's history and the strength of the interaction (1 for a
// plain implicit positive).
type Entry struct {
	Item   int
	Weight float64
}

// Data is a user×item interaction matrix, stored by rows.
type Data struct {
	Users, Items int
	// Rows[u] is user u's history: distinct items, in any order.
	Rows [][]Entry
}

// NewData returns an empty history of users×items.
func NewData(users, items int) *Data {
	return &Data{Users: users, Items: items, Rows: make([][]Entry, users)}
}

// Add records that user interacted with item with weight w; a second Add of the same pair
// keeps the larger weight.
func (d *Data) Add(user, item int, w float64) {
	row := d.Rows[user]
	for i := range row {
		if row[i].Item == item {
			row[i].Weight = max(row[i].Weight, w)
			return
		}
	}
	d.Rows[user] = append(row, Entry{item, w})
}

func (d *Data) validate() error {
	if d == nil || d.Users < 0 || d.Items < 0 || len(d.Rows) != d.Users {
		return ErrData
	}
	for _, row := range d.Rows {
		for _, e := range row {
			if e.Item < 0 || e.Item >= d.Items || math.IsNaN(e.Weight) || math.IsInf(e.Weight, 0) {
				return ErrData
			}
		}
	}
	return nil
}

// Scorer is a fitted model: it writes a score for every item for user into dst (len Items);
// higher is better.
type Scorer interface {
	Score(user int, dst []float64)
}

// Recommend returns the k items of highest score for user, best first, leaving out the
// items for which seen returns true (nil: none). Ties go to the lower index.
func Recommend(s Scorer, items, user, k int, seen func(item int) bool) []int {
	scores := make([]float64, items)
	s.Score(user, scores)
	return TopK(scores, k, seen)
}

// TopK returns the indices of the k largest scores, best first, leaving out those for which
// skip returns true, and scores that are -Inf or NaN (items a model cannot rank). Ties go to
// the lower index.
func TopK(scores []float64, k int, skip func(int) bool) []int {
	idx := make([]int, 0, len(scores))
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, -1) || (skip != nil && skip(i)) {
			continue
		}
		idx = append(idx, i)
	}
	better := func(a, b int) int {
		if c := cmp.Compare(scores[b], scores[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	if k < len(idx) {
		// A partial selection would be faster; a full sort of a few thousand items is fast
		// enough for an evaluator and plainly correct.
		slices.SortFunc(idx, better)
		return idx[:max(k, 0)]
	}
	slices.SortFunc(idx, better)
	return idx
}
