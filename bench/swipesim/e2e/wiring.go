package e2e

import (
	"context"
	"fmt"

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
}

// newRanking makes the recommender (its exploration seeded) and, with cfg.prefetch, the
// prefetcher, whose hints go to every edge of s (each keeps what it prefetches, for the
// players that ask it).
func newRanking(s *system, cfg systemConfig) (*ranking, error) {
	rk, err := recommender.NewRanker(recommender.Config{Model: recommender.Options{Seed: cfg.seed}, Logger: cfg.log}, s.db)
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	r := &ranking{ranker: rk}
	if cfg.prefetch {
		var urls []string
		for _, n := range s.edges {
			urls = append(urls, n.URL())
		}
		if r.prefetch, err = prefetch.New(prefetch.Config{Edges: urls, AdminToken: adminToken, Logger: cfg.log}); err != nil {
			return nil, fmt.Errorf("e2e: %w", err)
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

// watch subscribes the ranking to the feed's events; call it before the feed runs.
func (r *ranking) watch(events *feed.Events) {
	r.ranker.Watch(events)
	if r.prefetch != nil {
		r.prefetch.Watch(events)
	}
}

// tiers are the ranking's Run methods.
func (r *ranking) tiers() []func(context.Context) error {
	t := []func(context.Context) error{r.ranker.Run}
	if r.prefetch != nil {
		t = append(t, r.prefetch.Run)
	}
	return t
}
