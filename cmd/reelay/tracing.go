package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/internal/tracing"
)

// tracingFlags holds the OpenTelemetry flag that every long-running tier takes.
type tracingFlags struct {
	otlpEndpoint string
}

func (t *tracingFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.otlpEndpoint, "otlp-endpoint", "", "OpenTelemetry tracing: URL of an OTLP/HTTP receiver that spans are sent to, such as http://127.0.0.1:4318 (/v1/traces is added when it has no path); empty is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT's or OTEL_EXPORTER_OTLP_ENDPOINT's, and with neither, tracing is off")
}

func (t *tracingFlags) validate() error {
	if t.otlpEndpoint == "" {
		return nil
	}
	if _, err := tracing.TracesURL(t.otlpEndpoint); err != nil {
		return usagef("invalid --otlp-endpoint %q: want an http:// or https:// URL such as http://127.0.0.1:4318", t.otlpEndpoint)
	}
	return nil
}

// endpoint is where spans go: --otlp-endpoint, else the standard OTEL_EXPORTER_OTLP_*
// variables (the traces URL as it is, or the base URL with /v1/traces), else "" (off).
func (t *tracingFlags) endpoint(getenv func(string) string) string {
	if t.otlpEndpoint != "" {
		return t.otlpEndpoint
	}
	if v := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		return v
	}
	if v := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		return strings.TrimSuffix(v, "/") + tracing.TracesPath
	}
	return ""
}

// provider returns the TracerProvider of the process's tiers, whose spans name service, and
// the function that flushes it, which the command calls once its tiers have stopped. Off, it
// is a no-op provider. A test's env.tracerProvider stands in for it.
func (t *tracingFlags) provider(ctx context.Context, e *env, service string, log *slog.Logger) (trace.TracerProvider, func(), error) {
	if e.tracerProvider != nil {
		return e.tracerProvider, func() {}, nil
	}
	endpoint := t.endpoint(e.getenv)
	tp, shutdown, err := tracing.New(ctx, tracing.Config{Endpoint: endpoint, Service: service})
	if err != nil {
		return nil, nil, err
	}
	if endpoint != "" {
		log.Info("tracing", "otlp_endpoint", endpoint, "service", service)
	}
	return tp, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			log.Warn("flushing the last spans", "err", err)
		}
	}, nil
}
