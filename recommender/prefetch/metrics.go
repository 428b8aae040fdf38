package prefetch

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Prefetcher's counters.
type metrics struct {
	hints   *prometheus.CounterVec
	peekN   *prometheus.CounterVec
	bytes   prometheus.Counter
	viewers prometheus.GaugeFunc
	queued  prometheus.GaugeFunc
}

func newMetrics(viewers, queued func() float64) metrics {
	return metrics{
		hints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_prefetch_hints_total",
			Help: "Videos predicted for a viewer's next swipes, by what became of them: sent (to one edge each), or dropped as a duplicate (hinted lately), past the viewer's budget, past the bandwidth cap, the queue full, or failed (the edge did not take it).",
		}, []string{"result"}),
		peekN: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_prefetch_peeks_total",
			Help: "Peeks at a viewer's likely next page near the end of the last one served (Config.PeekAhead), by result: done or failed.",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reelay_prefetch_bytes_total",
			Help: "Bytes the edges report fetching for the hints.",
		}),
		viewers: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "reelay_prefetch_viewers",
			Help: "Viewers whose next swipes are predicted.",
		}, viewers),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "reelay_prefetch_queued",
			Help: "Hints waiting to be sent.",
		}, queued),
	}
}

func (m metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.hints, m.peekN, m.bytes, m.viewers, m.queued} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m metrics) dropped(reason string, videos int) {
	m.hints.WithLabelValues(reason).Add(float64(videos))
}

func (m metrics) sent(videos int, bytes int64) {
	m.hints.WithLabelValues("sent").Add(float64(videos))
	m.bytes.Add(float64(bytes))
}

func (m metrics) peeks(result string) {
	m.peekN.WithLabelValues(result).Inc()
}
