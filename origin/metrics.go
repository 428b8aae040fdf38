package origin

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the origin's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec   // by status class
	bytes    prometheus.Counter       // body bytes written
	store    *prometheus.HistogramVec // by store operation
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_origin_requests_total",
			Help: "Requests answered by the origin, by status class (2xx, 3xx, 4xx, 5xx).",
		}, []string{"class"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reelay_origin_sent_bytes_total",
			Help: "Response body bytes sent by the origin.",
		}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reelay_origin_store_duration_seconds",
			Help:    "Time until the object store answered a Stat, Get or GetRange (the first byte, not the whole body), by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"op"}),
	}
	for _, class := range []string{"2xx", "3xx", "4xx", "5xx"} {
		m.requests.WithLabelValues(class)
	}
	if reg == nil {
		return m, nil
	}
	collectors := []prometheus.Collector{m.requests, m.bytes, m.store}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("origin: registering metrics: %w", err)
		}
	}
	return m, nil
}

// observeStore records how long a store operation took.
func (m *metrics) observeStore(op string, start time.Time) {
	m.store.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// observe records a finished request.
func (m *metrics) observe(rec *recorder) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if class := status / 100; class >= 2 && class <= 5 {
		m.requests.WithLabelValues(fmt.Sprintf("%dxx", class)).Inc()
	}
	m.bytes.Add(float64(rec.written))
}

// recorder is an http.ResponseWriter that notes the status and counts the body bytes.
type recorder struct {
	http.ResponseWriter
	status  int
	written int64
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.written += int64(n)
	return n, err
}

// ReadFrom lets io.Copy use the underlying writer's ReadFrom, which net/http turns into
// sendfile(2) for file-backed bodies.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	rf, ok := r.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(struct{ io.Writer }{r.ResponseWriter}, src)
		r.written += n
		return n, err
	}
	n, err := rf.ReadFrom(src)
	r.written += n
	return n, err
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var _ io.ReaderFrom = (*recorder)(nil)
