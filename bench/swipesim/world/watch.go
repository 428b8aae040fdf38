package world

import (
	"math"
	"math/rand/v2"
)

// Outcome is what a user did with one video of their feed.
type Outcome struct {
	// Ratio is the share of the video watched before swiping away, in [0, 1]; 1 is a
	// complete view.
	Ratio float64
	// WatchMS is Ratio times the video's duration, in milliseconds.
	WatchMS int64
	// Complete is a view to the end (Ratio 1): a complete event, where a shorter view is a
	// skip event with WatchMS.
	Complete bool
	// Liked, Shared: the user liked, shared the video. Both grow with Ratio.
	Liked, Shared bool
	// Followed: the user followed the video's creator (only after a like, and never when
	// Watch was told the user already follows them).
	Followed bool
	// NotInterested: the user marked the video not interested (only after a fast skip).
	NotInterested bool
}

// The watch-ratio model: a latent score
//
//	s = Base + TasteWeight·(taste·topics) + QualityWeight·quality + patience
//	    - DurationWeight·ln(duration/15 s) + FollowBonus·following + NoiseSD·N(0,1)
//
// gives the ratio min(1, RatioScale·sigmoid(s)): a video whose topics miss the user's taste
// is mostly swiped within the first third; one on the user's favourite topic is mostly
// watched to the end.
const (
	Base           = -2.0
	TasteWeight    = 7.0
	QualityWeight  = 0.8
	DurationWeight = 0.4
	FollowBonus    = 0.5
	NoiseSD        = 0.7
	RatioScale     = 1.3
)

// Affinity is u's latent interest in v: the dot product of taste and topics, in [0, 1].
func (w *World) Affinity(u *User, v *Video) float64 {
	a := 0.0
	for t, x := range v.Topics {
		a += x * u.Taste[t]
	}
	return a
}

// score is the latent watch score of u for v without the noise.
func (w *World) score(u *User, v *Video, following bool) float64 {
	s := Base + TasteWeight*w.Affinity(u, v) + QualityWeight*v.Quality + u.Patience -
		DurationWeight*math.Log(float64(v.DurationMS)/15000)
	if following {
		s += FollowBonus
	}
	return s
}

// Expected is the ratio u would watch of v without noise: the oracle's ranking score.
func (w *World) Expected(u *User, v *Video, following bool) float64 {
	return min(1, RatioScale*sigmoid(w.score(u, v, following)))
}

// Watch draws what u does with v when it comes up in their feed: how much they watch, and
// whether they like, share, follow or mark it not interested. following says whether u
// already follows v's creator. Watch only reads w; rng is the caller's, so that concurrent
// callers each pass their own.
func (w *World) Watch(u *User, v *Video, following bool, rng *rand.Rand) Outcome {
	ratio := min(1, RatioScale*sigmoid(w.score(u, v, following)+NoiseSD*rng.NormFloat64()))
	o := Outcome{Ratio: ratio, Complete: ratio >= 1}
	o.WatchMS = int64(math.Round(ratio * float64(v.DurationMS)))
	if o.Complete {
		o.WatchMS = v.DurationMS
	}
	r4 := ratio * ratio * ratio * ratio
	o.Liked = rng.Float64() < 0.01+0.3*r4
	o.Shared = rng.Float64() < 0.002+0.05*r4
	o.Followed = o.Liked && !following && rng.Float64() < 0.15
	o.NotInterested = ratio < 0.15 && rng.Float64() < 0.03
	return o
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
