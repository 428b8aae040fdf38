package origin

import (
	"fmt"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

// known reports whether c has video, whatever its access.
func known(c *publishedCache, video string) bool {
	_, ok := c.has(video)
	return ok
}

func TestPublishedCache(t *testing.T) {
	clk := newClock()
	c := newPublishedCache(10*time.Second, 3, clk.now)
	if known(c, "a") {
		t.Fatal("empty cache has a")
	}
	c.add("a", true)
	clk.advance(9 * time.Second)
	if private, ok := c.has("a"); !ok || !private {
		t.Fatalf("a before its TTL: private %v, known %v", private, ok)
	}
	clk.advance(time.Second)
	if known(c, "a") {
		t.Fatal("a still known after its TTL")
	}
	if c.len() != 0 {
		t.Fatalf("expired entry kept: len %d", c.len())
	}

	// Bounded: expired entries go first, then arbitrary ones; the new entry is always kept.
	c.add("old", false)
	clk.advance(10 * time.Second)
	c.add("b", false)
	c.add("c", false)
	c.add("d", false) // full: "old" has expired and makes room
	for _, v := range []string{"b", "c", "d"} {
		if !known(c, v) {
			t.Errorf("%s evicted while an expired entry was there", v)
		}
	}
	for i := range 10 {
		v := fmt.Sprint("x", i)
		c.add(v, false)
		if !known(c, v) {
			t.Fatalf("%s not kept", v)
		}
		if c.len() > 3 {
			t.Fatalf("len %d over the bound", c.len())
		}
	}
}

func TestPublishedCacheDisabled(t *testing.T) {
	c := newPublishedCache(-1, 10, time.Now)
	c.add("a", false)
	if known(c, "a") || c.len() != 0 {
		t.Fatal("a cache with a negative TTL kept an entry")
	}
}
