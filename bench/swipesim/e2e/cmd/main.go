// Command cmd runs the swipe simulator's end-to-end mode alone (bench/swipesim/e2e): simulated
// players against a reelay in this process, with prefetch off and then on.
//
//	go run ./bench/swipesim/e2e/cmd -json
//	go run ./bench/swipesim/e2e/cmd -players 100 -duration 60s -postgres postgres://reelay@127.0.0.1:5432/reelay
//
// With -json it prints {"seed": ..., "e2e": {...}}, the keys of `go run ./bench/swipesim -json`;
// without, the same figures and the counts behind them for people.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/reelay/reelay/bench/swipesim/e2e"
)

func main() {
	var o e2e.Options
	asJSON := flag.Bool("json", false, "print one JSON object")
	flag.Int64Var(&o.Seed, "seed", 1, "seed of the world and the players")
	flag.IntVar(&o.Players, "players", 0, "simulated players (default 60)")
	flag.IntVar(&o.Users, "users", 0, "the world's users (default 1000)")
	flag.IntVar(&o.Videos, "videos", 0, "the world's videos, the new uploads included (default 800)")
	flag.IntVar(&o.NewVideos, "new-videos", 0, "uploads arriving during each run (default 12)")
	flag.DurationVar(&o.Duration, "duration", 0, "how long the players play in each run (default 40s)")
	flag.DurationVar(&o.TimeScale, "time-scale", 0, "real time of a simulated second (default 25ms)")
	flag.DurationVar(&o.OriginLatency, "origin-latency", 0, "delay of each origin request (default 80ms; negative: none)")
	flag.IntVar(&o.Rate, "rate", 0, "requests per second of the For You load (default 1000)")
	flag.DurationVar(&o.LoadDuration, "load-duration", 0, "measured length of the For You load (default 5s)")
	flag.BoolVar(&o.OneEdge, "one-edge", false, "every player asks the first edge, and the hints go to it alone (reelay up's shape)")
	flag.IntVar(&o.Probes, "probes", 0, "feedback-to-ranking probes (default 20)")
	flag.StringVar(&o.Postgres, "postgres", "", "a PostgreSQL URL to create the runs' databases next to (default: SQLite)")
	flag.Parse()
	if !*asJSON {
		o.Progress = func(s string) { fmt.Fprintln(os.Stderr, s) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := e2e.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(map[string]any{"seed": o.Seed, "e2e": rep})
		return
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Printf("%s\n%s", b, rep.Details)
}
