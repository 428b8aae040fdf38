// Package tracing is reelay's OpenTelemetry setup: a TracerProvider that exports spans over
// OTLP/HTTP when an endpoint is configured, and a no-op one otherwise, plus the W3C trace
// context that crosses reelay's own hops (HTTP headers between tiers, the traceparent stored
// with a job).
//
// No tier reads a global provider: each takes a trace.TracerProvider in its Config, nil for
// none, and asks Enabled before doing any work for a span on a hot path.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracesPath is the path an OTLP/HTTP receiver takes traces at, added to an endpoint that has
// no path of its own.
const TracesPath = "/v1/traces"

// Config configures New.
type Config struct {
	// Endpoint is the URL of an OTLP/HTTP receiver (an OpenTelemetry Collector, Jaeger, Tempo):
	// http://host:4318, to which TracesPath is added when it has no path, or the full URL of
	// its traces. Default "": tracing is off and New returns a no-op provider.
	Endpoint string
	// Service is the service.name of the spans ("reelay-edge", ...). OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override it. Default "reelay".
	Service string
	// BatchTimeout is the longest a finished span waits before it is sent. Default 5s.
	BatchTimeout time.Duration
}

// New returns the TracerProvider of cfg, and the function that flushes and stops it, which
// the caller calls once the tiers have stopped. With no Endpoint it returns a no-op provider
// and a shutdown that does nothing. The exporter also takes the OTEL_EXPORTER_OTLP_* settings
// of the environment that cfg does not set (headers, timeout, compression), and the sampler
// OTEL_TRACES_SAMPLER; by default every trace is sampled, and a request follows its caller's
// decision.
func New(ctx context.Context, cfg Config) (trace.TracerProvider, func(context.Context) error, error) {
	if cfg.Endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	endpoint, err := TracesURL(cfg.Endpoint)
	if err != nil {
		return nil, nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	if cfg.Service == "" {
		cfg.Service = "reelay"
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", cfg.Service)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	var batch []sdktrace.BatchSpanProcessorOption
	if cfg.BatchTimeout > 0 {
		batch = append(batch, sdktrace.WithBatchTimeout(cfg.BatchTimeout))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, batch...), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// TracesURL returns the URL that traces are posted to for endpoint: endpoint itself when it
// has a path, else endpoint with TracesPath.
func TracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tracing: endpoint %q: want an http:// or https:// URL such as http://127.0.0.1:4318", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = TracesPath
	}
	return u.String(), nil
}

// Enabled reports whether tp records spans: false for nil and for a no-op provider, so that a
// hot path skips even the work of starting a span that would be dropped.
func Enabled(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return false
	}
	return true
}

// Tracer returns the tracer of a tier from tp, a no-op one when tp is nil.
func Tracer(tp trace.TracerProvider, name string) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer("github.com/reelay/reelay/" + name)
}

// propagator is the W3C trace context, the only one reelay speaks on its hops.
var propagator = propagation.TraceContext{}

// Inject writes the trace context of ctx into carrier (traceparent, tracestate).
func Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	propagator.Inject(ctx, carrier)
}

// Extract returns ctx with the remote trace context that carrier holds, if it holds a valid one.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return propagator.Extract(ctx, carrier)
}

// TraceParent returns the W3C traceparent of the span in ctx, "" when it has none: what a job
// stores to continue its trace in a worker.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceParent returns ctx continuing the remote trace of traceparent; ctx unchanged when
// traceparent is "" or not valid.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// End ends span, marked as failed with err when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
