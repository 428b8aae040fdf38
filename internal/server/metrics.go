package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/reelay/reelay/internal/listener"
)

// Metrics holds the request metrics that every listener of a process shares, and the
// registry that their /metrics endpoints serve.
type Metrics struct {
	reg       *prometheus.Registry
	listeners *listener.Metrics
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inflight  *prometheus.GaugeVec
}

// NewMetrics registers the HTTP request and connection metrics and the Go and process
// collectors on reg. It panics when they are registered there already.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_http_requests_total",
			Help: "HTTP requests served, by listener, method and status code.",
		}, []string{"listener", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reelay_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by listener.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"listener"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reelay_http_in_flight_requests",
			Help: "HTTP requests being served, by listener.",
		}, []string{"listener"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if m.listeners, err = listener.NewMetrics(reg); err != nil {
		panic(err) // as MustRegister: registered twice on reg
	}
	return m
}

// Registry is the registry /metrics serves; tiers register their own metrics on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
