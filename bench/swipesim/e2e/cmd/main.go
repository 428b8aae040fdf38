// Command cmd runs the swipe simulator's end-to-end mode alone (bench/swipesim/e2e): simulated
// players against a reelay in this process, with prefetch off and then on.
//
//	go run ./bench/swipesim/e2e/cmd -json
//	go run ./bench/swipesim/e2e/cmd -players 100 -duration 60s -postgres postgres://reelay@127.0.0.1:5432/reelay
//
// Its flags are e2e.Options.Register's, and -seed and -json.
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
	o.Register(flag.CommandLine, "")
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
