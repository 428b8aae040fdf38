package recommender

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a Ranker's Prometheus metrics.
type metrics struct {
	rank    prometheus.Histogram
	events  prometheus.Counter
	catalog prometheus.Gauge
	rebuild prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, r *Ranker) (*metrics, error) {
	m := &metrics{
		rank: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reelay_recommender_rank_seconds",
			Help:    "Time to rank a For You page: the viewer's follows and blocks, then the model.",
			Buckets: []float64{0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25},
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reelay_recommender_events_observed_total",
			Help: "Player events the model learned from, the rebuild's included.",
		}),
		catalog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reelay_recommender_catalogue_videos",
			Help: "Videos the recommender may pick (ready, public, not hidden), as last read.",
		}),
		rebuild: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reelay_recommender_rebuild_seconds",
			Help: "How long the rebuild of the model from the events table took at start; 0 until it is over.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "reelay_recommender_ready",
		Help: "1 once the model is rebuilt from the events table, 0 before.",
	}, func() float64 {
		if r.ready.Load() {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.rank, m.events, m.catalog, m.rebuild, ready} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("recommender: metrics: %w", err)
		}
	}
	return m, nil
}
