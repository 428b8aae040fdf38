package edge

import (
	"testing"

	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkHit measures the handler on a memory-cache hit, allocations included: every
// allocation on the hit path is garbage that a loaded edge collects while players wait.
func BenchmarkHit(b *testing.B) {
	o := newTestOrigin(b)
	e, err := New(Config{Origin: o.URL, Addr: "127.0.0.1:0"}) // not served: the handler is called
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	_, prefix := newVideo()
	h := e.Handler()
	// Segments only: the test origin's playlists have max-age=0, so every request refreshes them.
	for _, name := range []string{"360p/seg_00001.m4s", "big/seg_00001.m4s"} {
		b.Run(name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(prefix + name)
			h(&ctx) // the fill
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				h(&ctx)
			}
		})
	}
}

// BenchmarkHitTraced is BenchmarkHit with tracing on, every request sampled and its spans
// dropped once ended: what a traced hit costs (a server span, its attributes, the traceparent
// looked for). BenchmarkHit is the cost with tracing off, the default.
func BenchmarkHitTraced(b *testing.B) {
	o := newTestOrigin(b)
	tp := sdktrace.NewTracerProvider() // no processor: spans are recorded, then dropped
	e, err := New(Config{Origin: o.URL, Addr: "127.0.0.1:0", TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	_, prefix := newVideo()
	h := e.Handler()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(prefix + "360p/seg_00001.m4s")
	h(&ctx) // the fill
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d", ctx.Response.StatusCode())
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
	}
}
