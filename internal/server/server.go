// Package server runs one of reelay's net/http listeners: the tier's handler plus /metrics,
// /healthz and /readyz, request metrics and logs, panic recovery, and a graceful stop that
// lets in-flight requests finish.
//
// The listener faces the public: its connections are capped, in all and per client, and
// accept errors that pass (out of file descriptors) are ridden out (internal/listener); a
// request's header, each wait for more of its body and each write of its response are bounded
// in time (see listener.Limits and bodyDeadline). /metrics answers only the bearer token
// Config.MetricsToken; /healthz and /readyz answer everyone.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/listener"
	"github.com/reelay/reelay/internal/tracing"
)

// Config configures a Server.
type Config struct {
	// Name labels the listener in logs and metrics ("api", "origin", ...). Required.
	Name string
	// Addr is the TCP address to listen on. Default "127.0.0.1:0".
	Addr string
	// Handler serves everything but /metrics, /healthz and /readyz. Nil answers 404.
	Handler http.Handler
	// Ready reports whether the listener's dependencies answer; /readyz is 200 only when it
	// returns nil. Nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics is where request metrics are registered and what /metrics serves. Nil uses a
	// fresh registry.
	Metrics *Metrics
	// MetricsToken is the bearer token that /metrics asks for, so that what it tells (request
	// counts, the process's memory, the tiers' internals) stays with the operator: Prometheus
	// sends it with its scrape config's authorization credentials. Default "": /metrics
	// answers 403 to everyone.
	MetricsToken string
	// Limits caps the listener's connections and bounds how long a client may keep it
	// waiting. Default: the zero Limits, each of whose fields has its default (see
	// listener.Limits).
	Limits listener.Limits
	// Logger receives request and lifecycle logs. Nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful stop. Default 15s.
	ShutdownTimeout time.Duration
	// TracerProvider, when it records (tracing.Enabled), gives each request a server span
	// named "{Name} {method}", the child of the caller's W3C traceparent when it sends one.
	// Default nil: no spans.
	TracerProvider trace.TracerProvider
}

// Server is one HTTP listener.
type Server struct {
	cfg    Config
	ln     *listener.Listener
	http   *http.Server
	tracer trace.Tracer // nil when Config.TracerProvider does not record
}

// New binds cfg.Addr and returns a Server ready to Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Name == "" {
		return nil, errors.New("server: Name is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	cfg.Logger = cfg.Logger.With("listener", cfg.Name)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: %s listener: %w", cfg.Name, err)
	}
	s := &Server{cfg: cfg}
	if tracing.Enabled(cfg.TracerProvider) {
		s.tracer = tracing.Tracer(cfg.TracerProvider, "internal/server")
	}
	s.ln = listener.New(ln, listener.Config{Name: cfg.Name, Limits: cfg.Limits, Metrics: cfg.Metrics.listeners, Logger: cfg.Logger})
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: cfg.Limits.HeaderTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		ConnState:         connState,
	}
	return s, nil
}

// connState tells the listener which connections wait on keep-alive for their next request:
// at its cap, they make room for new ones.
func connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*listener.Conn)
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		lc.Idle()
	case http.StateActive: // net/http: a request's first bytes have been read
		lc.Busy()
	}
}

// Addr is the address the server listens on, with the real port when Config.Addr had port 0.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the server's base URL, e.g. "http://127.0.0.1:8080".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Serve serves until ctx is done, then stops accepting connections and waits for in-flight
// requests, at most Config.ShutdownTimeout. It returns early only when the listener fails
// for good (accept errors that pass are ridden out), and logs that as an error.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		s.cfg.Logger.Error("the listener failed: stopping", "err", err)
		return fmt.Errorf("server: %s: %w", s.cfg.Name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("server: %s: stop: %w", s.cfg.Name, err)
	}
	s.cfg.Logger.Info("stopped")
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsAuth(promhttp.HandlerFor(s.cfg.Metrics.reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		apierr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.cfg.Handler != nil {
		mux.Handle("/", s.cfg.Handler)
	} else {
		mux.Handle("/", http.NotFoundHandler())
	}
	return s.instrument(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.cfg.Logger.Warn("not ready", "err", err)
			apierr.Write(w, r, nil, apierr.New(http.StatusServiceUnavailable, "not_ready", err.Error()))
			return
		}
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// metricsAuth lets through only the requests that carry Config.MetricsToken.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.cfg.MetricsToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.MetricsToken)) != 1 {
			apierr.Write(w, r, nil, apierr.New(http.StatusForbidden, "forbidden", "/metrics needs the metrics token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// instrument counts and times requests, logs them at debug level, turns a panic into a 500
// instead of a dropped connection, and bounds each wait for more of a request body.
func (s *Server) instrument(next http.Handler) http.Handler {
	m := s.cfg.Metrics
	inflight := m.inflight.WithLabelValues(s.cfg.Name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inflight.Inc()
		r, body := startBody(w, r, s.cfg.Limits.BodyTimeout)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, body: body}
		var span trace.Span
		if s.tracer != nil {
			var ctx context.Context
			ctx, span = s.tracer.Start(tracing.Extract(r.Context(), propagation.HeaderCarrier(r.Header)), s.cfg.Name+" "+r.Method,
				trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
					attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
			r = r.WithContext(ctx)
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					if span != nil {
						span.End()
					}
					panic(p)
				}
				s.cfg.Logger.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", p)
				if !rec.wrote {
					apierr.Write(rec, r, nil, apierr.New(http.StatusInternalServerError, "internal", "internal server error"))
				}
			}
			inflight.Dec()
			code := strconv.Itoa(rec.status)
			d := time.Since(start)
			m.requests.WithLabelValues(s.cfg.Name, r.Method, code).Inc()
			m.duration.WithLabelValues(s.cfg.Name).Observe(d.Seconds())
			if span != nil {
				span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
				if rec.status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(rec.status))
				}
				span.End()
			}
			s.cfg.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "bytes", rec.bytes, "dur", d)
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
	body   *bodyDeadline // nil for a request without a body
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// SetReadDeadline, called through http.ResponseController, is the handler taking the
// connection's read deadline over from the server (see bodyDeadline).
func (r *statusRecorder) SetReadDeadline(t time.Time) error {
	if r.body != nil {
		r.body.owned.Store(true)
	}
	return http.NewResponseController(r.ResponseWriter).SetReadDeadline(t)
}
