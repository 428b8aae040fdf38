package recommender

import (
	"time"
)

// The content affinity: how the viewings of a user ended, by hashtag. In a short-video feed
// the topic decides most of a viewing, and a hashtag names a topic; a user's watch ratio on
// a hashtag's videos, against their own mean, predicts how they will watch the next one
// better than the video's global rates do. Every ended viewing counts (a skip teaches as
// much as a complete view), decayed with InterestHalfLife.

// outcome sums the ended viewings of one hashtag's videos by one user, as of at: n viewings,
// watched the sum of their watch ratios (a like counts as a ratio of 1).
type outcome struct {
	n, watched float64
	at         time.Time
}

// Bounds of the content affinity.
const (
	maxOutcomes  = 200 // hashtags whose outcomes are remembered per user
	outcomePrior = 2.0 // viewings of the user's mean a hashtag's rate starts from
	topTags      = 6   // hashtags whose videos a page considers
)

// add decays o to t and adds one viewing.
func (o *outcome) add(ratio float64, t time.Time, halfLife time.Duration) {
	if t.After(o.at) {
		o.n = decay(o.n, o.at, t, halfLife)
		o.watched = decay(o.watched, o.at, t, halfLife)
		o.at = t
	}
	o.n++
	o.watched += ratio
}

// outcome counts u's ended viewing of it.
func (m *Model) outcome(u *user, it *item, ratio float64, liked bool, t time.Time) {
	if liked {
		ratio = 1
	}
	hl := m.opts.InterestHalfLife
	u.mean.add(ratio, t, hl)
	for _, tag := range it.Tags {
		o := u.outcomes[tag]
		if o == nil {
			if len(u.outcomes) >= maxOutcomes {
				forgetWeakest(u.outcomes, t, hl)
			}
			o = &outcome{at: t}
			u.outcomes[tag] = o
		}
		o.add(ratio, t, hl)
	}
}

// forgetWeakest forgets the outcome of the fewest (decayed) viewings.
func forgetWeakest(in map[string]*outcome, t time.Time, hl time.Duration) {
	var weak string
	w := -1.0
	for k, o := range in {
		n := decay(o.n, o.at, t, hl)
		if w < 0 || n < w || n == w && k < weak {
			weak, w = k, n
		}
	}
	delete(in, weak)
}

// userMean is u's mean watch ratio, with a prior of a few viewings at 0.5.
func (u *user) userMean() float64 {
	return (u.mean.watched + outcomePrior*0.5) / (u.mean.n + outcomePrior)
}

// contentLift is how much more of it u is expected to watch than their mean, from their
// viewings of its hashtags pooled (each decayed to now): 0 without any.
func (m *Model) contentLift(u *user, it *item, now time.Time) float64 {
	if u == nil {
		return 0
	}
	hl := m.opts.InterestHalfLife
	var n, w float64
	for _, tag := range it.Tags {
		if o := u.outcomes[tag]; o != nil {
			n += decay(o.n, o.at, now, hl)
			w += decay(o.watched, o.at, now, hl)
		}
	}
	mean := u.userMean()
	return (w+outcomePrior*mean)/(n+outcomePrior) - mean
}

// bestTags returns the n hashtags on whose videos u watched most above their mean.
func (m *Model) bestTags(u *user, n int, now time.Time) []string {
	hl := m.opts.InterestHalfLife
	mean := u.userMean()
	all := make([]keyed[string], 0, len(u.outcomes))
	for k, o := range u.outcomes {
		on, ow := decay(o.n, o.at, now, hl), decay(o.watched, o.at, now, hl)
		if lift := (ow+outcomePrior*mean)/(on+outcomePrior) - mean; lift > 0 {
			all = append(all, keyed[string]{k, lift})
		}
	}
	return topKeys(all, n)
}
