package edge

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// tracedOrigin is the test origin, keeping the traceparent of each request.
func tracedOrigin(t *testing.T) (url string, traceparents func() []string) {
	o := &testOrigin{fetches: make(map[string]int)}
	var mu sync.Mutex
	var seen []string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("traceparent"))
		mu.Unlock()
		o.serve(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// TestTraceparentOnFills: a traced request's span is the child of the player's traceparent,
// its fill's span the child of it, lasting until the streamed body is whole, and the fill
// sends the origin its own traceparent; untraced, the fill sends none.
func TestTraceparentOnFills(t *testing.T) {
	const player = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, traced := range []bool{true, false} {
		originURL, traceparents := tracedOrigin(t)
		rec := tracetest.NewSpanRecorder()
		cfg := Config{Origin: originURL, Addr: "127.0.0.1:0"}
		if traced {
			cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		_, prefix := newVideo()
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(prefix + "big/seg_00001.m4s") // streamed: the fill outlives the request
		ctx.Request.Header.Set("traceparent", player)
		e.Handler()(&ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d", ctx.Response.StatusCode())
		}
		if !traced {
			if tp := traceparents(); len(tp) != 1 || tp[0] != "" {
				t.Errorf("untraced: the origin was sent traceparents %q", tp)
			}
			if len(rec.Ended()) != 0 {
				t.Errorf("untraced: %d spans", len(rec.Ended()))
			}
			continue
		}
		var server, fill sdktrace.ReadOnlySpan
		waitFor(t, 10*time.Second, "the fill's span to end with its body", func() bool {
			for _, s := range rec.Ended() {
				switch s.Name() {
				case "edge GET":
					server = s
				case "edge fill origin":
					fill = s
				}
			}
			return server != nil && fill != nil
		})
		if p := server.Parent(); !p.IsRemote() || p.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || p.SpanID().String() != "00f067aa0ba902b7" {
			t.Errorf("the request's span has parent %v, want the player's traceparent", p)
		}
		if fill.Parent().SpanID() != server.SpanContext().SpanID() || fill.SpanKind() != trace.SpanKindClient ||
			fill.SpanContext().TraceID() != server.SpanContext().TraceID() {
			t.Errorf("the fill's span has parent %v in trace %v, want the request's span %v", fill.Parent().SpanID(), fill.SpanContext().TraceID(), server.SpanContext())
		}
		want := "00-" + fill.SpanContext().TraceID().String() + "-" + fill.SpanContext().SpanID().String() + "-01"
		if tp := traceparents(); len(tp) != 1 || tp[0] != want {
			t.Errorf("the origin was sent traceparents %q, want [%s]", tp, want)
		}
	}
}
