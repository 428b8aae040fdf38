package e2e

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/recommender"
	"github.com/reelay/reelay/recommender/prefetch"
)

// ranking is the feed's For You ranking and, with prefetch on, its next-swipe prefetch, as
// `reelay up` wires them: wire sets them in the feed's Config, watch subscribes them to the
// feed's events (before the feed runs), and tiers are what must run beside it.
type ranking struct {
	ranker   *recommender.Ranker
	prefetch *prefetch.Prefetcher // nil with prefetch off
	metrics  *prometheus.Registry // the prefetcher's
	log      *hintLog             // the hints the prefetcher sent
}

// newRanking makes the recommender (its exploration seeded) and, with cfg.prefetch, the
// prefetcher, whose hints go to every edge of s that players ask (each keeps what it
// prefetches, for the players that ask it).
//
// Both run on the real clock, with their defaults but for two knobs that stand for a pace
// the simulation compresses: the recommender reads the catalogue every 10 simulated seconds
// (its default, 3 s, would be 2 simulated minutes of a new video's first 10), and the
// prefetcher's per-viewer budget refills every 3 simulated seconds (its default, 3 s, is
// "more than anyone watches" at a real viewer's pace, not at 20 simulated seconds a second).
func newRanking(s *system, cfg systemConfig) (*ranking, error) {
	sim := func(d time.Duration) time.Duration {
		return max(10*time.Millisecond, time.Duration(float64(d)/float64(time.Second)*float64(cfg.timeScale)))
	}
	rk, err := recommender.NewRanker(recommender.Config{Model: recommender.Options{Seed: cfg.seed}, Poll: sim(10 * time.Second), Logger: cfg.log}, s.db)
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	r := &ranking{ranker: rk, metrics: prometheus.NewRegistry(), log: newHintLog()}
	if cfg.prefetch {
		var urls []string
		for i, n := range s.edges {
			if i == 0 || !cfg.oneEdge {
				urls = append(urls, n.URL())
			}
		}
		if r.prefetch, err = prefetch.New(prefetch.Config{Edges: urls, AdminToken: adminToken,
			UserInterval: sim(prefetch.DefaultUserInterval), Registerer: r.metrics, Client: &http.Client{Transport: r.log}, Logger: cfg.log}); err != nil {
			return nil, fmt.Errorf("e2e: %w", err)
		}
		if !cfg.noPeek {
			r.prefetch.SetPeek(rk.Peek)
		}
	}
	return r, nil
}

// wire sets the ranking in the feed's Config.
func (r *ranking) wire(fcfg *feed.Config) {
	fcfg.Ranker = r.ranker
	if r.prefetch != nil {
		fcfg.ForYouServed = r.prefetch.Served
	}
}

// watch subscribes the ranking to the feed's events and loads the catalogue; call it before
// the feed runs.
func (r *ranking) watch(ctx context.Context, events *feed.Events) error {
	r.ranker.Watch(events)
	if r.prefetch != nil {
		r.prefetch.Watch(events)
	}
	if err := r.ranker.Load(ctx); err != nil {
		return fmt.Errorf("e2e: %w", err)
	}
	return nil
}

// hints returns the prefetcher's counts of hinted videos by what became of them ("sent",
// "duplicate", ...; see reelay_prefetch_hints_total), and the bytes the edges reported
// fetching for them; none with prefetch off.
func (r *ranking) hints() (map[string]int64, int64, error) {
	out := map[string]int64{}
	var bytes int64
	families, err := r.metrics.Gather()
	if err != nil {
		return nil, 0, fmt.Errorf("e2e: the prefetcher's metrics: %w", err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "reelay_prefetch_hints_total":
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" {
						out[l.GetValue()] = int64(m.GetCounter().GetValue())
					}
				}
			case "reelay_prefetch_bytes_total":
				bytes = int64(m.GetCounter().GetValue())
			}
		}
	}
	return out, bytes, nil
}

// tiers are the ranking's Run methods.
func (r *ranking) tiers() []func(context.Context) error {
	t := []func(context.Context) error{r.ranker.Run}
	if r.prefetch != nil {
		t = append(t, r.prefetch.Run)
	}
	return t
}
