package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

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

// BenchmarkServedHit measures memory-cache hits of a 1 MiB segment through the real server
// on loopback, from 50 keep-alive connections at once (the issue 16 shape; bench/edge runs
// it against Varnish and nginx): requests/s and the p99 of the requests' latencies. Client
// and server share this process, so compare runs of it, not its figures with bench/edge's.
func BenchmarkServedHit(b *testing.B) {
	o := newTestOrigin(b)
	e, err := New(Config{Origin: o.URL, Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	const conns = 50
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	defer client.CloseIdleConnections()
	_, prefix := newVideo()
	url := e.URL() + prefix + "big/seg_00001.m4s"
	get := func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && (resp.StatusCode != http.StatusOK || n != bigBody) {
			err = fmt.Errorf("%d, %d bytes", resp.StatusCode, n)
		}
		return err
	}
	if err := get(); err != nil { // the fill
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	next := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, conns)
	start := time.Now()
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			for range next {
				t := time.Now()
				if err := get(); err != nil {
					errc <- err
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	for b.Loop() {
		select {
		case next <- struct{}{}:
		case err := <-errc:
			b.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	}
}
