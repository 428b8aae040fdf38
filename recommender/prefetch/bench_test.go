package prefetch

import (
	"strconv"
	"testing"
)

// BenchmarkServed is what a For You page pays for the prefetch: Served on a page of 10 new
// videos for one of 10,000 viewers, predicted, checked against the budgets and queued (the
// queue is drained by a worker that drops the hints, so the HTTP cost is not counted).
func BenchmarkServed(b *testing.B) {
	p, err := New(Config{Edges: []string{"http://127.0.0.1:1"}, AdminToken: "tok", BytesPerSecond: 1 << 50})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for range p.queue {
		}
	}()
	b.Cleanup(func() { close(p.queue) })
	pages := make([][]string, 1000)
	for i := range pages {
		for j := range 10 {
			pages[i] = append(pages[i], "v"+strconv.Itoa(i*10+j))
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Served(int64(i%10_000+1), pages[i%len(pages)])
		i++
	}
}
