package main

import (
	"context"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/recommender"
	"github.com/reelay/reelay/recommender/prefetch"
)

// rankedFeed makes the feed service of cfg with For You ranked by the recommender and, with
// pf, the next swipes prefetched: both learn from the feed's events, and the recommender has
// read its catalogue and which events to replay. It returns the service, the recommender,
// whose Ready belongs in /readyz, and what must run beside the service.
func rankedFeed(ctx context.Context, cfg feed.Config, d *db.DB, pf *prefetch.Prefetcher) (*feed.Service, *recommender.Ranker, []func(context.Context) error, error) {
	rec, err := recommender.NewRanker(recommender.Config{Registerer: cfg.Registerer, Logger: cfg.Logger}, d)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg.Ranker = rec
	runs := []func(context.Context) error{rec.Run}
	if pf != nil {
		cfg.ForYouServed = pf.Served
		pf.SetPeek(rec.Peek)
		runs = append(runs, pf.Run)
	}
	svc, err := feed.New(cfg, d, ingest.NewUploads(d))
	if err != nil {
		return nil, nil, nil, err
	}
	// Before svc.Run serves the events' subscribers.
	rec.Watch(svc.Events())
	if pf != nil {
		pf.Watch(svc.Events())
	}
	if err := rec.Load(ctx); err != nil {
		return nil, nil, nil, err
	}
	return svc, rec, runs, nil
}
