package cache

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The policy tests replay seeded synthetic traces through Memory and LRU, as the edge would use
// them (Get, then Set on a miss), and compare hit ratios.

// simCache is what the replay needs of Memory and LRU.
type simCache interface {
	Get(string) (Entry, bool)
	Set(string, Entry)
}

type simObject struct {
	key  string
	size int
}

// catalogue makes n objects of short-video sizes: a fifth are playlists (0.5–1.5 KB), a tenth init
// segments (0.7–1.3 KB), the rest media segments (100 KB–1 MB).
func catalogue(r *rand.Rand, n int) []simObject {
	objs := make([]simObject, n)
	for i := range objs {
		video := i / 10
		switch p := r.Float64(); {
		case p < 0.2:
			objs[i] = simObject{fmt.Sprintf("/v/%d/%d.m3u8", video, i), 500 + r.IntN(1000)}
		case p < 0.3:
			objs[i] = simObject{fmt.Sprintf("/v/%d/%d/init.mp4", video, i), 700 + r.IntN(600)}
		default:
			objs[i] = simObject{fmt.Sprintf("/v/%d/seg_%05d.m4s", video, i), 100_000 + r.IntN(900_001)}
		}
	}
	return objs
}

// zipf draws ranks 0..n-1 with P(k) ∝ 1/(k+1)^s. math/rand/v2's Zipf needs s > 1; CDNs see s < 1.
type zipf struct {
	r   *rand.Rand
	cdf []float64
}

func newZipf(r *rand.Rand, s float64, n int) *zipf {
	z := &zipf{r: r, cdf: make([]float64, n)}
	sum := 0.0
	for k := range n {
		sum += 1 / math.Pow(float64(k+1), s)
		z.cdf[k] = sum
	}
	for k := range z.cdf {
		z.cdf[k] /= sum
	}
	return z
}

func (z *zipf) next() int {
	k, _ := slices.BinarySearch(z.cdf, z.r.Float64())
	return min(k, len(z.cdf)-1)
}

// zipfTrace returns requests (indexes into objs) whose popularity is Zipf(s) over a random
// ranking of objs, so that popularity and size are independent.
func zipfTrace(r *rand.Rand, objs []simObject, s float64, requests int) []int32 {
	rank := r.Perm(len(objs))
	z := newZipf(r, s, len(objs))
	trace := make([]int32, requests)
	for i := range trace {
		trace[i] = int32(rank[z.next()])
	}
	return trace
}

// sharedBody backs every simulated body: the caches only look at its length.
var sharedBody = make([]byte, 1<<20)

// hitCounter tallies one replay.
type hitCounter struct {
	hits, requests       int64
	hitBytes, totalBytes int64
}

func (h *hitCounter) request(c simCache, o simObject) {
	h.requests++
	h.totalBytes += int64(o.size)
	if _, ok := c.Get(o.key); ok {
		h.hits++
		h.hitBytes += int64(o.size)
		return
	}
	c.Set(o.key, Entry{Body: sharedBody[:o.size]})
}

func (h hitCounter) ratio() float64     { return float64(h.hits) / float64(h.requests) }
func (h hitCounter) byteRatio() float64 { return float64(h.hitBytes) / float64(h.totalBytes) }

func replay(c simCache, objs []simObject, trace []int32) hitCounter {
	var h hitCounter
	for _, i := range trace {
		h.request(c, objs[i])
	}
	return h
}

// TestMemoryBeatsLRUOnZipf replays 500,000 requests (100,000 with -short) for 20,000 objects with
// Zipf(0.9) popularity, and asserts that S3-FIFO's byte hit ratio beats LRU's at cache sizes of
// 1%, 5% and 10% of the catalogue's bytes.
func TestMemoryBeatsLRUOnZipf(t *testing.T) {
	requests := 500_000
	if testing.Short() {
		requests = 100_000
	}
	r := rand.New(rand.NewPCG(20231023, 1))
	objs := catalogue(r, 20_000)
	trace := zipfTrace(r, objs, 0.9, requests)
	var catalogueBytes int64
	for _, o := range objs {
		catalogueBytes += int64(len(o.key) + o.size)
	}
	t.Logf("%d objects, %.2f GB, %d requests, Zipf(0.9)", len(objs), float64(catalogueBytes)/1e9, requests)
	for _, pct := range []int64{1, 5, 10} {
		t.Run(fmt.Sprintf("%d%%", pct), func(t *testing.T) {
			t.Parallel()
			size := catalogueBytes * pct / 100
			s3 := replay(NewMemory(size), objs, trace)
			lru := replay(NewLRU(size), objs, trace)
			t.Logf("cache %3d%% (%4d MB): byte hit ratio S3-FIFO %.4f LRU %.4f; object hit ratio S3-FIFO %.4f LRU %.4f",
				pct, size>>20, s3.byteRatio(), lru.byteRatio(), s3.ratio(), lru.ratio())
			if s3.byteRatio() <= lru.byteRatio() {
				t.Errorf("S3-FIFO byte hit ratio %.4f <= LRU's %.4f", s3.byteRatio(), lru.byteRatio())
			}
		})
	}
}

// TestMemoryScanResistance runs a Zipf(0.9) workload over 5,000 hot segments; halfway through, a
// one-time sequential scan of 40,000 cold segments is interleaved with it, one scan request per
// hot request (a crawler, or a prefetcher gone wrong). It asserts that S3-FIFO keeps a higher hit
// ratio on the hot requests than LRU, during the scan and after it.
func TestMemoryScanResistance(t *testing.T) {
	const (
		hotObjects  = 5_000
		scanObjects = 40_000
		segment     = 200_000
	)
	warmup, after := 100_000, 50_000
	if testing.Short() {
		warmup, after = 30_000, 20_000
	}
	r := rand.New(rand.NewPCG(7, 7))
	hot := make([]simObject, hotObjects)
	for i := range hot {
		hot[i] = simObject{fmt.Sprintf("/v/hot%d/seg_%05d.m4s", i/8, i), segment}
	}
	z := newZipf(r, 0.9, hotObjects)
	size := int64(hotObjects*segment) / 10

	type result struct{ during, after hitCounter }
	run := func(c simCache) result {
		r := rand.New(rand.NewPCG(8, 8)) // the same requests for both caches
		z.r = r
		var warm, res result
		for range warmup {
			warm.during.request(c, hot[z.next()])
		}
		for i := range scanObjects {
			res.during.request(c, hot[z.next()])
			var discard hitCounter
			discard.request(c, simObject{fmt.Sprintf("/v/cold%d/seg_%05d.m4s", i/8, i), segment})
		}
		for range after {
			res.after.request(c, hot[z.next()])
		}
		return res
	}
	s3 := run(NewMemory(size))
	lru := run(NewLRU(size))
	t.Logf("hot hit ratio during the scan: S3-FIFO %.4f LRU %.4f; after it: S3-FIFO %.4f LRU %.4f",
		s3.during.ratio(), lru.during.ratio(), s3.after.ratio(), lru.after.ratio())
	if s3.during.ratio() <= lru.during.ratio() {
		t.Errorf("during the scan, S3-FIFO's hit ratio %.4f <= LRU's %.4f", s3.during.ratio(), lru.during.ratio())
	}
	if s3.after.ratio() <= lru.after.ratio() {
		t.Errorf("after the scan, S3-FIFO's hit ratio %.4f <= LRU's %.4f", s3.after.ratio(), lru.after.ratio())
	}
}
