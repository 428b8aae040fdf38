package main

import (
	"context"
	"log/slog"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/web"
)

// dashboard is the operator dashboard's data on the API listener of reelay up and reelay feed:
// the pipeline read from d, the clusters of the edges at edgeURLs (asked with edgeToken; each
// edge's view covers its cluster, so reelay up lists its own edges and reelay feed its
// --purge-url and --prefetch-edges), and purge, the feed's own purge of every edge.
func dashboard(d *db.DB, edgeURLs []string, edgeToken string, purge func(context.Context, string) error, log *slog.Logger) *web.Dashboard {
	return web.NewDashboard(web.DashboardConfig{
		Pipeline:  func(ctx context.Context) (any, error) { return pipeline.ReadStatus(ctx, d) },
		Edges:     edgeURLs,
		EdgeToken: edgeToken,
		Purge:     purge,
		Logger:    log,
	})
}
