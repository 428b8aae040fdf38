package baseline

import "math/rand/v2"

// Random scores items uniformly at random: the floor every model must clear. A user's
// scores depend only on the seed and the user, so a run is repeatable.
type Random struct {
	Seed int64
}

// Score draws a score for every item.
func (r Random) Score(user int, dst []float64) {
	rng := rand.New(rand.NewPCG(uint64(r.Seed), uint64(user)))
	for i := range dst {
		dst[i] = rng.Float64()
	}
}
