package edge

import (
	"testing"

	"github.com/valyala/fasthttp"
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
