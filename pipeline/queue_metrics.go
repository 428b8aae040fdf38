package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/db"
)

// queueScrapeTimeout bounds the database read of one scrape, well inside Prometheus' default
// scrape timeout (10s).
const queueScrapeTimeout = 3 * time.Second

// queueMetrics exports the job queue's backlog, read from the database when scraped (see
// db.Backlog): reelay_jobs_queued{kind} and reelay_jobs_oldest_age_seconds{kind}, for each of
// its kinds, 0 when none waits. Every process with a pipeline exports them, the API's
// included, so that a queue that no live worker drains still shows; they are one database's
// figures seen from several processes, so aggregate them with max, not sum. When the read
// fails the scrape goes on without them, and the failure is logged.
type queueMetrics struct {
	d           *db.DB
	kinds       []string
	log         *slog.Logger
	queued, age *prometheus.Desc
}

func newQueueMetrics(d *db.DB, log *slog.Logger, kinds ...string) *queueMetrics {
	return &queueMetrics{
		d: d, kinds: kinds, log: log,
		queued: prometheus.NewDesc("reelay_jobs_queued",
			"Jobs of the queue waiting for a worker (due, or on a dead worker's expired lease), by kind.", []string{"kind"}, nil),
		age: prometheus.NewDesc("reelay_jobs_oldest_age_seconds",
			"How long the job that has waited longest for a worker has waited, by kind; 0 when none waits.", []string{"kind"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (q *queueMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.queued
	ch <- q.age
}

// Collect implements prometheus.Collector.
func (q *queueMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueScrapeTimeout)
	defer cancel()
	now := time.Now()
	for _, kind := range q.kinds {
		b, err := q.d.Backlog(ctx, kind)
		if err != nil {
			q.log.Warn("pipeline: job queue metrics", "err", err)
			return
		}
		age := 0.0
		if b.Due > 0 {
			age = max(0, now.Sub(b.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(q.queued, prometheus.GaugeValue, float64(b.Due), kind)
		ch <- prometheus.MustNewConstMetric(q.age, prometheus.GaugeValue, age, kind)
	}
}

var _ prometheus.Collector = (*queueMetrics)(nil)
