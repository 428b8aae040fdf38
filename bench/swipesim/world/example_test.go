package world_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/reelay/reelay/bench/swipesim/world"
)

// A player of the end-to-end simulation: the catalogue published by a time, and what one user
// does with each video of a page.
func Example() {
	w := world.New(world.Config{Seed: 1, Users: 100, Videos: 500, Uploads: time.Hour})
	now := w.Config.Start.Add(30 * time.Minute)
	catalogue := w.Catalogue(now)
	u := w.User(7)
	rng := rand.New(rand.NewPCG(1, 7)) // one generator per player
	follows := map[int64]bool{}
	watched := 0
	for _, v := range catalogue[:20] {
		o := w.Watch(u, &v, follows[v.CreatorID], rng)
		if o.Followed {
			follows[v.CreatorID] = true
		}
		if o.Ratio >= 0.8 {
			watched++
		}
	}
	fmt.Println(len(catalogue) > 400, len(catalogue) < 500, watched <= 20)
	// Output: true true true
}
