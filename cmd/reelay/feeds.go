package main

import (
	"flag"

	"github.com/reelay/reelay/feed"
)

// feeds is how the feed service builds its feeds, for the commands that run it (reelay up,
// reelay feed).
type feeds struct {
	celebrityThreshold int
	fanoutWorkers      int
}

func (f *feeds) register(fs *flag.FlagSet) {
	fs.IntVar(&f.celebrityThreshold, "celebrity-threshold", 10_000,
		"followers above which a creator's new videos are pulled into the Following feeds at read time instead of pushed into each follower's timeline")
	fs.IntVar(&f.fanoutWorkers, "fanout-workers", 1, "fan-out jobs (pushing new videos into followers' timelines) run at once in this process")
}

func (f *feeds) validate() error {
	if f.celebrityThreshold < 1 {
		return usagef("invalid --celebrity-threshold %d: want at least 1", f.celebrityThreshold)
	}
	if f.fanoutWorkers < 1 || f.fanoutWorkers > 64 {
		return usagef("invalid --fanout-workers %d: want 1 to 64", f.fanoutWorkers)
	}
	return nil
}

// apply sets the feeds' fields of cfg.
func (f *feeds) apply(cfg feed.Config) feed.Config {
	cfg.CelebrityThreshold, cfg.FanoutWorkers = f.celebrityThreshold, f.fanoutWorkers
	return cfg
}
