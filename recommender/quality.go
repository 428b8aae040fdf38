package recommender

import (
	"math"
	"math/rand/v2"
	"time"
)

// item is a pickable video and what the events taught about it.
type item struct {
	Video
	pickable bool // Upserted and not Removed: lists and neighbours that still hold it skip it otherwise

	// Counts over every viewer, for the Beta posteriors of its rates.
	impressions   float64
	views         float64 // viewings that ended (completed, skipped, or not interested)
	completes     float64
	skips         float64 // skips and not_interested
	likes, shares float64
	watched       float64 // the sum of the watch ratios (at most 1) of the ended viewings

	// popularity is a count of plays, likes and shares decayed with PopularityHalfLife, as
	// of popularAt.
	popularity float64
	popularAt  time.Time

	// neighbours are the videos co-visited with it, by weight (at most MaxNeighbours);
	// heavy is the heaviest neighboursAsked of them, heaviest first, as of the end of the
	// last Observe that changed them (a page reads it, rather than sort the map).
	neighbours map[*item]float64
	heavy      []neighbour
	hash       uint64 // idHash(ID)
}

// The priors of the rates: what a video that nobody watched yet is expected to do, each
// worth a few viewings, so that a handful of events moves a new video's estimate, but not
// all the way.
var (
	priorWatch    = beta{2, 2}     // half of it watched
	priorComplete = beta{1, 2}     // a third complete it
	priorSkip     = beta{1.5, 1.5} // half skip it
	priorLike     = beta{0.5, 9.5} // 5 % like it
	priorShare    = beta{0.1, 9.9} // 1 % share it
)

// beta is a Beta(a, b) distribution: a rate after a successes in a+b trials.
type beta struct{ a, b float64 }

func (b beta) mean() float64 { return b.a / (b.a + b.b) }

// with returns the posterior after k successes in n trials.
func (b beta) with(k, n float64) beta { return beta{b.a + k, b.b + max(n-k, 0)} }

// sample draws a rate from the distribution.
func (b beta) sample(r *rand.Rand) float64 {
	x := gamma(r, b.a)
	y := gamma(r, b.b)
	if x+y == 0 {
		return b.mean()
	}
	return x / (x + y)
}

// gamma draws from Gamma(k, 1) (Marsaglia and Tsang; for k < 1, boosted by U^(1/k)).
func gamma(r *rand.Rand, k float64) float64 {
	if k < 1 {
		return gamma(r, k+1) * math.Pow(r.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// rates are a video's predicted watch ratio and probabilities of completing, liking, sharing
// and skipping it.
type rates struct {
	watch, complete, like, share, skip float64
}

// posteriors returns the Beta posteriors of the item's rates.
func (it *item) posteriors() (watch, complete, skip, like, share beta) {
	n := max(it.views, it.impressions)
	return priorWatch.with(it.watched, it.views), priorComplete.with(it.completes, it.views),
		priorSkip.with(it.skips, it.views), priorLike.with(it.likes, n), priorShare.with(it.shares, n)
}

// predict returns the rates' means, or with r a draw of each (Thompson sampling).
func (it *item) predict(r *rand.Rand) rates {
	w, c, s, l, sh := it.posteriors()
	if r == nil {
		return rates{w.mean(), c.mean(), l.mean(), sh.mean(), s.mean()}
	}
	// The rates that decide most of the value are drawn; the others are their means.
	return rates{w.sample(r), c.mean(), l.sample(r), sh.mean(), s.sample(r)}
}

// value is the blend of the rates that ranks videos: watch time first, then likes and shares
// (rarer and stronger signals), less skips.
func (p rates) value() float64 {
	return 1.0*p.watch + 0.5*p.complete + 3*p.like + 6*p.share - 0.6*p.skip
}

// decay returns v, worth v at from, at to: halved every halfLife.
func decay(v float64, from, to time.Time, halfLife time.Duration) float64 {
	if v == 0 || !to.After(from) {
		return v
	}
	return v * math.Exp2(-float64(to.Sub(from))/float64(halfLife))
}

// popularityAt returns the item's popularity at now.
func (it *item) popularityAt(now time.Time, halfLife time.Duration) float64 {
	return decay(it.popularity, it.popularAt, now, halfLife)
}

// addPopularity adds w to the item's popularity at t.
func (it *item) addPopularity(w float64, t time.Time, halfLife time.Duration) {
	if t.After(it.popularAt) {
		it.popularity = decay(it.popularity, it.popularAt, t, halfLife)
		it.popularAt = t
	}
	it.popularity += w
}
