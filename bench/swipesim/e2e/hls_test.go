package e2e

import (
	"strings"
	"testing"
	"time"
)

var cacheHitTests = []struct {
	status string
	hit    bool
}{
	{"edge-1; hit", true},
	{"edge-1; hit; detail=stale", true},
	{"edge-1; hit; detail=negative", false},
	{"edge-1; fwd=uri-miss; fwd-status=200; stored", false},
	{"edge-1; fwd=uri-miss; fwd-status=200; stored; detail=peer", false},
	{"edge-1; fwd=stale; fwd-status=200", false},
	{"edge-1;hit", true},
	{"", false},
	{"hit", false},
	{"edge-1; fwd=uri-miss; hit", false},
}

func TestCacheHit(t *testing.T) {
	for _, tt := range cacheHitTests {
		if got := cacheHit(tt.status); got != tt.hit {
			t.Errorf("cacheHit(%q) = %v, want %v", tt.status, got, tt.hit)
		}
	}
}

// FuzzCacheHit: any Cache-Status is read without a panic, and none is a hit that does not
// say so, or that is a negative one.
func FuzzCacheHit(f *testing.F) {
	for _, tt := range cacheHitTests {
		f.Add(tt.status)
	}
	f.Fuzz(func(t *testing.T, status string) {
		if cacheHit(status) && (!strings.Contains(status, "hit") || strings.Contains(status, "detail=negative")) {
			t.Fatalf("cacheHit(%q) is true", status)
		}
	})
}

func TestAdjacencies(t *testing.T) {
	for _, tt := range []struct {
		last     string
		creators []string
		want     int
	}{
		{"", nil, 0},
		{"", []string{"a", "b", "a"}, 0},
		{"a", []string{"a", "b", "b", "b"}, 3},
		{"", []string{"", ""}, 0},
	} {
		if got := adjacencies(tt.last, tt.creators); got != tt.want {
			t.Errorf("adjacencies(%q, %q) = %d, want %d", tt.last, tt.creators, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	ds := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	for _, tt := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ds(5), 95, 5 * time.Millisecond},
		{ds(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Millisecond},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0, time.Millisecond},
	} {
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}
