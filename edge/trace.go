package edge

import (
	"context"
	"net/http"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/internal/tracing"
)

// Tracing (Config.TracerProvider): a player's request for an object is a server span, the
// child of the traceparent it sent; each fill it runs is a client span ("edge fill peer",
// "edge fill origin", "edge fill stored") whose traceparent goes with the fill, so that the
// owner's server span and the origin's are its children. With tracing off (e.tracer nil) the
// requests carry context.Background() and nothing else is done: a hit costs what it did.

// startSpan starts the server span of a request, from the traceparent it carries.
func (e *Edge) startSpan(ctx *fasthttp.RequestCtx) (context.Context, trace.Span) {
	parent := tracing.Extract(context.Background(), headerCarrier{&ctx.Request.Header})
	return e.tracer.Start(parent, "edge "+string(ctx.Method()), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", string(ctx.Method())),
			attribute.String("url.path", string(ctx.URI().PathOriginal())),
			attribute.String("reelay.edge", e.name),
			attribute.Bool("reelay.peer_request", len(ctx.Request.Header.Peek(PeerHeader)) > 0)))
}

// endSpan ends the server span of a request once its answer is written.
func endSpan(span trace.Span, ctx *fasthttp.RequestCtx) {
	status := ctx.Response.StatusCode()
	span.SetAttributes(attribute.Int("http.response.status_code", status),
		attribute.String("reelay.cache_status", string(ctx.Response.Header.Peek("Cache-Status"))))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// startFillSpan starts the client span of a fill from url, or returns nil with tracing off.
func (e *Edge) startFillSpan(tctx context.Context, url, peer string, h how) (context.Context, trace.Span) {
	if e.tracer == nil {
		return tctx, nil
	}
	name := "edge fill origin"
	switch {
	case peer == peerStored:
		name = "edge fill stored"
	case h == howPeer:
		name = "edge fill peer"
	}
	return e.tracer.Start(tctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("url.full", url), attribute.String("reelay.edge", e.name)))
}

// endFillSpan ends a fill's span, nil with tracing off, with upstream's status or the error.
func endFillSpan(span trace.Span, status int, err error) {
	if span == nil {
		return
	}
	if status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 && err == nil {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	tracing.End(span, err)
}

// headerCarrier carries the W3C trace context in a fasthttp request's header.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c headerCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c headerCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}
