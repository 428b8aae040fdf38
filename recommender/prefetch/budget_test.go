package prefetch

import (
	"testing"
	"time"
)

// clock is a test's clock, moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestByteCap(t *testing.T) {
	clk := &clock{time.Unix(1000, 0)}
	c := newByteCap(1000, 1000, 400, clk.now) // 1000 B/s, a full second's worth at start
	steps := []struct {
		what    string
		advance time.Duration
		videos  int
		ok      bool
		settle  int64 // bytes reported for the taken estimate, -1: not sent
	}{
		{"two videos fit", 0, 2, true, 800},                 // 1000-800 = 200 left; reported as estimated
		{"one does not", 0, 1, false, 0},                    // 200 < 400
		{"refilled", 500 * time.Millisecond, 1, true, 1400}, // 700-400 = 300, then 300+400-1400 = -700
		{"in debt", time.Second, 1, false, 0},               // -700+1000 = 300 < the estimate, now 500
		{"refilled again", time.Second, 1, true, -1},        // 1000 (the burst) - 500, refunded: 1000
		{"the refund is whole", 0, 2, true, 0},
	}
	for _, st := range steps {
		clk.t = clk.t.Add(st.advance)
		taken, ok := c.take(st.videos)
		if ok != st.ok {
			t.Fatalf("%s: take(%d) = %v with %.0f tokens, estimate %.0f", st.what, st.videos, ok, c.tokens, c.estimate)
		}
		if ok {
			c.settle(taken, st.videos, max(st.settle, 0), st.settle >= 0)
		}
	}
	if c.estimate <= 400 {
		t.Errorf("estimate %.0f: the 1400 bytes reported for one video did not raise it", c.estimate)
	}
}

func TestRecent(t *testing.T) {
	clk := &clock{time.Unix(1000, 0)}
	r := newRecent(time.Minute, clk.now)
	if !r.add("a") || r.add("a") || !r.add("b") {
		t.Fatal("a key is new once within the ttl")
	}
	r.forget("b")
	if !r.add("b") {
		t.Fatal("a forgotten key is new again")
	}
	clk.t = clk.t.Add(time.Minute + time.Second)
	if !r.add("a") {
		t.Fatal("a key is new again after the ttl")
	}
	if len(r.at) != 1 {
		t.Errorf("%d keys remembered after the ttl, want 1 (the sweep forgets the old ones)", len(r.at))
	}
}
