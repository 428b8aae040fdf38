package e2e

import "flag"

// Register defines a flag for each knob of o on fs, every name starting with prefix ("" for
// the end-to-end command alone, "e2e-" beside bench/swipesim's own flags); a flag left unset
// keeps the knob's zero value, which Run takes as its default. Seed is the caller's.
func (o *Options) Register(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&o.Players, prefix+"players", 0, "simulated players (default 60)")
	fs.IntVar(&o.Users, prefix+"users", 0, "the world's users; the players are the first of them (default 1000)")
	fs.IntVar(&o.Videos, prefix+"videos", 0, "the world's videos, the uploads during the run included (default 800)")
	fs.IntVar(&o.NewVideos, prefix+"new-videos", 0, "the videos uploaded during each run (default 12)")
	fs.DurationVar(&o.Duration, prefix+"duration", 0, "how long the players play in each run, prefetch off then on (default 1m)")
	fs.DurationVar(&o.TimeScale, prefix+"time-scale", 0, "the real time of a simulated second (default 50ms)")
	fs.DurationVar(&o.OriginLatency, prefix+"origin-latency", 0, "the delay of every origin request (default 80ms; negative: none)")
	fs.IntVar(&o.Edges, prefix+"edges", 0, "edge nodes (default 3)")
	fs.BoolVar(&o.OneEdge, prefix+"one-edge", false, "every player asks the first edge, and the hints go to it alone (reelay up's shape)")
	fs.BoolVar(&o.NoPeek, prefix+"no-peek", false, "the prefetcher hints a page's first videos only once it is served, not before (the prefetcher as it was)")
	fs.IntVar(&o.Probes, prefix+"probes", 0, "feedback-to-ranking probes (default 20)")
	fs.IntVar(&o.Rate, prefix+"rate", 0, "requests per second of the For You load (default 1000)")
	fs.DurationVar(&o.LoadDuration, prefix+"load-duration", 0, "the For You load's measured length (default 5s)")
	fs.StringVar(&o.Postgres, prefix+"postgres", "", "a PostgreSQL URL, to create the runs' databases next to its own (default: SQLite)")
	fs.StringVar(&o.Dir, prefix+"dir", "", "where to make the temporary directory of the store, databases and edges' caches (default: the system's)")
}
