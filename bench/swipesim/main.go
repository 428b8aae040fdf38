// Command swipesim is reelay's swipe simulator (issue 13): a seeded, fully observed world of
// users and short videos (package world), and an offline evaluator that compares reelay's
// recommender with four baselines fitted on the same history (package recommender/baseline):
// random, popularity, item-kNN and EASE.
//
//	go run ./bench/swipesim                 # the default world, a readable table
//	go run ./bench/swipesim -small          # a quick run, for tuning
//	go run ./bench/swipesim -contenders reelay,ease,itemknn
//	go run ./bench/swipesim -json           # one JSON object
//	go run ./bench/swipesim -replay FILE.csv -json
//
// # Offline mode
//
// The simulator lets -users users swipe through feeds for -hours simulated hours while new
// videos keep arriving (the world has -videos videos in all, a fifth uploaded during the run).
// The feed that makes the history is a fixed logging policy, by default uniform draws from the
// catalogue published by then (never a video the user saw), so that every contender learns
// from the same logs and the held-out views measure the users' tastes rather than the policy.
// With -popular 0.3, 30 % of the slots come from the 100 most watched videos so far: the
// held-out positives then crowd on the policy's favourites, and popularity, item-kNN and EASE
// all beat the oracle, which knows the tastes but not the policy.
//
// The log is split by time: the last 20 % of each user's interactions are held out (rounded
// down). Each contender is fitted on the rest and ranks, for each user, the catalogue
// published by the split (the time of the history's last interaction) without the items of
// the user's history. The split is per user, so one user's history may be later than
// another's held-out views: every contender sees the same history. The measures, averaged
// over the users with at least one held-out positive on such an item:
//
//   - NDCG@10 with binary relevance, positive = a watch ratio of at least 0.8;
//   - Recall@50: the positives in the first 50, out of min(50, positives).
//
// The baselines learn from the history's positives and likes as implicit feedback (weight 1);
// -ease-lambda and -knn set EASE's regularisation and item-kNN's neighbours (defaults 100 and
// 100; EASE ranks at most 3,000 items, the most popular, so keep -videos around that or below).
// reelay's recommender gets the whole history as the events a player sends (impression,
// play, skip with watch_ms or complete, like, share, follow, not_interested) at their
// simulated times, the catalogue through Upsert (id, creator, hashtags, duration, publication
// time), and is asked Recommend(Query{User, Follows, Exclude: the user's history in the order
// served, Limit: 50, Now: the split}); with -user-now, Now is the user's own split (their
// first held-out view) instead. The "reelay" block of the output says where its picks came
// from (candidate sources, hits by source, the share of positives among all its candidates).
// reelay's score weights (recommender.Weights) are chosen for each evaluation on a validation
// split of the history alone, never the held-out views (tune.go; reported under "tuning");
// -no-tune keeps the defaults.
//
// Two references that are not baselines follow: "hashtags", a content model of each user's
// interest in hashtags learned from all their views (on logs with hashtags), and, on the
// simulator, "oracle", which ranks by the world's expected watch ratio: the ceiling.
//
// # Replaying a public log
//
// -replay FILE.csv reads a log with the header user,item,timestamp,weight: user and item any
// non-empty strings, timestamp in Unix seconds (a fraction allowed), weight a number. It is
// split and scored as above, with positive = weight ≥ -positive (default 0.8: a watch ratio,
// or a rating scaled to 0..1). reelay sees each line as a view of a 15 s video (each item
// its own creator, no hashtags, published at its first line) watched to the ratio
// min(1, 0.8·weight/threshold), so that a positive is a view of at least 0.8 as on the
// simulator; a ratio of 1 (weight ≥ 1.25·threshold) is a complete view and a like. A log
// spans months where reelay's half-lives of popularity and interests suit a live feed (hours,
// days): for a replay they are set to a quarter of the log's span. On both, reelay's batch
// component is fitted once at the split (Model.Refit) rather than every 10 minutes of the
// history.
//
// MovieLens (ratings.csv: userId,movieId,rating,timestamp), with ratings 0.5-5 scaled to
// 0.1-1, so that 4 stars and up are positives at the default threshold:
//
//	awk -F, 'NR==1{print "user,item,timestamp,weight"; next} {print $1","$2","$4","$3/5}' ratings.csv > ml.csv
//
// MovieLens 100K's u.data is the same without a header, tab-separated
// (user, item, rating, timestamp):
//
//	awk -F'\t' 'BEGIN{print "user,item,timestamp,weight"} {print $1","$2","$4","$3/5}' u.data > ml100k.csv
//
// KuaiRec (big_matrix.csv or small_matrix.csv:
// user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio), the watch
// ratio as the weight (it exceeds 1 on replays; positives are 0.8 and up as on the simulator):
//
//	awk -F, 'NR==1{print "user,item,timestamp,weight"; next} $7!=""{print $1","$2","$7","$8}' small_matrix.csv > kuairec.csv
//
// (The awk skips rows without a timestamp, which the parser would refuse.)
//
// # Output
//
// -json prints one object: {"seed", "source", "offline": {"ndcg10": {contender: value},
// "recall50": {...}, "users", "items", ...}, "e2e": {...}}. On the simulator the offline
// evaluation is followed by the end-to-end run of bench/swipesim/e2e (simulated players
// against a reelay in this process, about 3 minutes; its knobs are the -e2e-* flags), whose
// figures fill "e2e"; it is null with -replay (offline only) or -e2e=false. Without -json,
// a table.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/reelay/reelay/bench/swipesim/e2e"
	"github.com/reelay/reelay/bench/swipesim/world"
)

// Output is the JSON object that -json prints.
type Output struct {
	Seed int64 `json:"seed"`
	// Source is "simulator" or the replayed file.
	Source  string   `json:"source"`
	Offline *Offline `json:"offline"`
	// E2E holds the end-to-end figures; null when the run had no end-to-end part.
	E2E json.RawMessage `json:"e2e"`
	// Seconds is the whole run's wall time.
	Seconds float64 `json:"seconds"`
}

func main() {
	log.SetFlags(0)
	seed := flag.Int64("seed", 1, "the seed of the world, the history and the random contenders")
	users := flag.Int("users", 2000, "simulated users")
	videos := flag.Int("videos", 2000, "simulated videos (a fifth uploaded during the run)")
	hours := flag.Float64("hours", 24, "simulated hours of swiping")
	small := flag.Bool("small", false, "a quick run: 400 users, 500 videos, 12 hours (overrides -users, -videos, -hours)")
	replay := flag.String("replay", "", "evaluate on this CSV log (user,item,timestamp,weight) instead of the simulator")
	positive := flag.Float64("positive", 0.8, "with -replay: the weight from which an interaction is a positive")
	popular := flag.Float64("popular", 0, "the share of the history's feed slots filled from the 100 most watched videos so far (the rest: uniform)")
	userNow := flag.Bool("user-now", false, "ask reelay for each user's ranking at their own split (their first held-out interaction) rather than at the history's end")
	lambda := flag.Float64("ease-lambda", 0, "EASE's L2 regularisation (0: the baseline package's default)")
	neighbours := flag.Int("knn", 0, "item-kNN's neighbours per item (0: the baseline package's default)")
	only := flag.String("contenders", "", "a comma-separated list of the contenders to run, e.g. reelay,ease (default: all)")
	noTune := flag.Bool("no-tune", false, "keep reelay's default score weights rather than choose them on a validation split of the history")
	asJSON := flag.Bool("json", false, "print one JSON object")
	runE2E := flag.Bool("e2e", true, "after the offline evaluation, the end-to-end run: simulated players against a reelay in this process (about 3 minutes; never with -replay)")
	var e2eOpts e2e.Options
	e2eOpts.Register(flag.CommandLine, "e2e-")
	flag.Parse()
	if *small {
		*users, *videos, *hours = 400, 500, 12
	}

	t0 := time.Now()
	var lg *Log
	out := Output{Seed: *seed, Source: "simulator"}
	if *replay != "" {
		if !(*positive > 0) {
			log.Fatal("swipesim: -positive must be above 0")
		}
		f, err := os.Open(*replay)
		if err != nil {
			log.Fatal(err)
		}
		rows, err := parseCSV(f)
		f.Close()
		if err != nil {
			log.Fatalf("%s: %v", *replay, err)
		}
		lg = replayLog(rows, *positive)
		out.Source = *replay
	} else {
		if *users < 1 || *videos < 1 || !(*hours > 0) {
			log.Fatal("swipesim: -users, -videos and -hours must be above 0")
		}
		w := world.New(world.Config{
			Seed: *seed, Users: *users, Videos: *videos, Uploads: time.Duration(*hours * float64(time.Hour)),
		})
		lg = simulate(w, simConfig{Hours: *hours, PopularShare: *popular})
	}
	opts := evalOptions{Seed: *seed, UserNow: *userNow, EASELambda: *lambda, Neighbours: *neighbours, NoTune: *noTune}
	if *only != "" {
		opts.Only = map[string]bool{}
		for _, name := range strings.Split(*only, ",") {
			if !slices.Contains(contenders, name) && !slices.Contains(references, name) {
				log.Fatalf("swipesim: -contenders: unknown contender %q (known: %s, %s)", name,
					strings.Join(contenders, ", "), strings.Join(references, ", "))
			}
			opts.Only[name] = true
		}
	}
	if *replay != "" {
		opts.HalfLife = logSpan(lg) / 4
	}
	res, err := evaluate(lg, opts)
	if err != nil {
		log.Fatal(err)
	}
	out.Offline = res
	if *runE2E && *replay == "" {
		e2eOpts.Seed = *seed
		if !*asJSON {
			e2eOpts.Progress = func(s string) { fmt.Fprintln(os.Stderr, s) }
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		rep, err := e2e.Run(ctx, e2eOpts)
		stop()
		if err != nil {
			log.Fatal(err)
		}
		if out.E2E, err = json.Marshal(rep); err != nil {
			log.Fatal(err)
		}
		e2eDetails = rep.Details.String()
	}
	out.Seconds = time.Since(t0).Round(time.Millisecond).Seconds()
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		if err := enc.Encode(out); err != nil {
			log.Fatal(err)
		}
		return
	}
	printTable(os.Stdout, out)
}

// printTable writes out as a readable table.
func printTable(w io.Writer, out Output) {
	res := out.Offline
	fmt.Fprintf(w, "source %s, seed %d: %d history interactions, %d held out; %d users evaluated, %d positives, %d items at the split (%s)\n\n",
		out.Source, out.Seed, res.History, res.HeldOut, res.Users, res.Positives, res.Items, res.Split.Format(time.RFC3339))
	fmt.Fprintf(w, "%-11s %8s %9s %8s\n", "contender", "NDCG@10", "Recall@50", "fit (s)")
	for _, name := range contenderNames(res) {
		if _, ok := res.NDCG10[name]; !ok {
			continue
		}
		fmt.Fprintf(w, "%-11s %8.4f %9.4f %8.2f\n", name, res.NDCG10[name], res.Recall50[name], res.FitSeconds[name])
	}
	best, bestName := 0.0, ""
	for _, name := range []string{"random", "popularity", "itemknn", "ease"} {
		if res.NDCG10[name] > best {
			best, bestName = res.NDCG10[name], name
		}
	}
	if _, ok := res.NDCG10["reelay"]; ok && best > 0 {
		fmt.Fprintf(w, "\nreelay / best baseline run (%s) NDCG@10: %.2f×\n", bestName, res.NDCG10["reelay"]/best)
	}
	if d := res.Reelay; d != nil {
		fmt.Fprintf(w, "reelay's first 10 picks by source %v, held-out positives among them %v; %.1f picks a list; "+
			"%.0f %% of the positives among all its candidates (%d users)\n",
			d.Top10Sources, d.Top10Hits, d.MeanPicks, 100*d.PoolRecall, d.PoolUsers)
	}
	if out.E2E != nil {
		var e2e bytes.Buffer
		json.Indent(&e2e, out.E2E, "", "  ")
		fmt.Fprintf(w, "\nend to end: %s\n%s", e2e.String(), e2eDetails)
	}
	fmt.Fprintf(w, "%.1f s\n", out.Seconds)
}

// e2eDetails are the counts behind the end-to-end figures, for people.
var e2eDetails string

// logSpan is the time from a log's first interaction to its last.
func logSpan(lg *Log) time.Duration {
	if len(lg.Interactions) == 0 {
		return 0
	}
	first, last := lg.Interactions[0].At, lg.Interactions[0].At
	for _, in := range lg.Interactions {
		if in.At.Before(first) {
			first = in.At
		}
		if in.At.After(last) {
			last = in.At
		}
	}
	return last.Sub(first)
}
