package main

import (
	"testing"
	"time"

	"github.com/reelay/reelay/bench/swipesim/world"
	"github.com/reelay/reelay/recommender"
)

// TestTuneReadsNoTest tunes reelay's weights on a small world twice, the second time with the
// held-out test interactions emptied: the choice must be the same, for it may read only the
// history's validation split. It must also be no worse on validation than the defaults, and
// score them as the defaults (the climb's start).
func TestTuneReadsNoTest(t *testing.T) {
	w := world.New(world.Config{Seed: 3, Users: 200, Videos: 200, Uploads: 6 * time.Hour})
	lg := simulate(w, simConfig{Hours: 6})
	sp := splitLog(lg, false)
	opts := recommender.Options{Seed: 3, RefitEvery: -1}
	a := tuneReelay(lg, sp, opts)
	if a.Users < 20 {
		t.Fatalf("only %d validation users", a.Users)
	}
	if a.Tried < 2 || a.Validation < a.Default {
		t.Errorf("tuning %+v: tried fewer than 2 settings, or chose worse than the defaults", a)
	}
	if a.Validation == a.Default && a.Weights != recommender.DefaultWeights() {
		t.Errorf("tuning %+v: no gain on validation, yet not the defaults", a)
	}
	blind := sp
	blind.held = nil
	if b := tuneReelay(lg, blind, opts); b != a {
		t.Errorf("tuning without the test interactions %+v, with them %+v: it reads the test split", b, a)
	}
	t.Logf("%+v", a)
}
