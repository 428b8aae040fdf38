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

func TestPublishedCache(t *testing.T) {
	clk := newClock()
	c := newPublishedCache(10*time.Second, 3, clk.now)
	if c.has("a") {
		t.Fatal("empty cache has a")
	}
	c.add("a")
	clk.advance(9 * time.Second)
	if !c.has("a") {
		t.Fatal("a forgotten before its TTL")
	}
	clk.advance(time.Second)
	if c.has("a") {
		t.Fatal("a still known after its TTL")
	}
	if c.len() != 0 {
		t.Fatalf("expired entry kept: len %d", c.len())
	}

	// Bounded: expired entries go first, then arbitrary ones; the new entry is always kept.
	c.add("old")
	clk.advance(10 * time.Second)
	c.add("b")
	c.add("c")
	c.add("d") // full: "old" has expired and makes room
	for _, v := range []string{"b", "c", "d"} {
		if !c.has(v) {
			t.Errorf("%s evicted while an expired entry was there", v)
		}
	}
	for i := range 10 {
		v := fmt.Sprint("x", i)
		c.add(v)
		if !c.has(v) {
			t.Fatalf("%s not kept", v)
		}
		if c.len() > 3 {
			t.Fatalf("len %d over the bound", c.len())
		}
	}
}

func TestPublishedCacheDisabled(t *testing.T) {
	c := newPublishedCache(-1, 10, time.Now)
	c.add("a")
	if c.has("a") || c.len() != 0 {
		t.Fatal("a cache with a negative TTL kept an entry")
	}
}
