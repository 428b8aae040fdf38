package listener

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the connections of the listeners that share it, by listener name.
type Metrics struct {
	open         *prometheus.GaugeVec
	refused      *prometheus.CounterVec
	acceptErrors *prometheus.CounterVec
}

// NewMetrics registers the listener metrics on reg. Registered there already (by another
// server of the process that shares the registry), they are shared.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reelay_listener_connections",
			Help: "Connections open, by listener.",
		}, []string{"listener"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_listener_refused_connections_total",
			Help: "Connections closed by a cap, by listener and by reason: listener (past MaxConns) or client (past MaxConnsPerClient) for new ones, silent for the oldest of those that had sent nothing, closed to make room at MaxConns.",
		}, []string{"listener", "reason"}),
		acceptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_listener_accept_errors_total",
			Help: "Accept errors ridden out with a backoff (out of file descriptors, aborted connections), by listener.",
		}, []string{"listener"}),
	}
	var err error
	if m.open, err = register(reg, m.open); err != nil {
		return nil, err
	}
	if m.refused, err = register(reg, m.refused); err != nil {
		return nil, err
	}
	if m.acceptErrors, err = register(reg, m.acceptErrors); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg, or returns the collector registered there already in its place.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

func (m *Metrics) opened(name string) {
	if m != nil {
		m.open.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) closed(name string) {
	if m != nil {
		m.open.WithLabelValues(name).Dec()
	}
}

func (m *Metrics) refuse(name, reason string) {
	if m != nil {
		m.refused.WithLabelValues(name, reason).Inc()
	}
}

func (m *Metrics) acceptError(name string) {
	if m != nil {
		m.acceptErrors.WithLabelValues(name).Inc()
	}
}
