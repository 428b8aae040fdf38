package main

import "github.com/reelay/reelay/recommender/baseline"

// hashtagRanker is a reference contender, not one of the baselines: a content model that
// scores a video by the user's interest in its hashtags, learned from every view of their
// history (the watch ratio less the user's mean ratio, added to each hashtag of the video).
// It shows how much of the simulator's signal the hashtags carry; a replayed log has none.
func hashtagRanker(lg *Log, sp split, items int) ranker {
	type sum struct{ n, total float64 }
	means := map[int64]*sum{}
	for _, in := range sp.history {
		s := means[in.User]
		if s == nil {
			s = &sum{}
			means[in.User] = s
		}
		s.n++
		s.total += in.Ratio
	}
	profiles := map[int64]map[string]float64{}
	for _, in := range sp.history {
		p := profiles[in.User]
		if p == nil {
			p = map[string]float64{}
			profiles[in.User] = p
		}
		w := in.Ratio - means[in.User].total/means[in.User].n
		for _, tag := range lg.Videos[in.Item].Tags {
			p[tag] += w
		}
	}
	return func(user int64, k int, seen map[int]bool) []int {
		p := profiles[user]
		scores := make([]float64, items)
		for i := range scores {
			for _, tag := range lg.Videos[i].Tags {
				scores[i] += p[tag]
			}
		}
		return baseline.TopK(scores, k, func(i int) bool { return seen[i] })
	}
}

// hasTags reports whether any video of lg has hashtags.
func hasTags(lg *Log) bool {
	for _, v := range lg.Videos {
		if len(v.Tags) > 0 {
			return true
		}
	}
	return false
}
