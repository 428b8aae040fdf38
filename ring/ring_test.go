package ring

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func testNodes(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{Name: fmt.Sprintf("edge-%d", i)}
	}
	return nodes
}

func segmentKey(video, segment int) string {
	return fmt.Sprintf("/v/%08d/720p/seg_%05d.m4s", video, segment)
}

func testKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = segmentKey(i/20, i%20)
	}
	return keys
}

// zipfKeys returns requests for segments whose popularity follows a Zipf law: the most popular
// segment is asked for about a tenth of the time.
func zipfKeys(n int, seed uint64) []string {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed+1)), 1.1, 1, 99999)
	keys := make([]string, n)
	for i := range keys {
		k := int(z.Uint64())
		keys[i] = segmentKey(k/20, k%20)
	}
	return keys
}

func TestHashIsFNV1aThenSplitmix(t *testing.T) {
	for _, s := range []string{"", "a", "edge-1", "/v/00000001/720p/seg_00001.m4s"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := hashString(s), mix64(h.Sum64()); got != want {
			t.Errorf("hashString(%q) = %#x, want %#x", s, got, want)
		}
	}
	// Every node of a cluster, of every version, must place keys identically: pin the values.
	pinned := map[string]uint64{
		"":                               0xf52a15e9a9b5e89b,
		"edge-1":                         0x92d834aa41837f2e,
		"/v/00000001/720p/seg_00001.m4s": 0x3efa87d4b898dbb1,
	}
	// The first output of splitmix64 seeded with 0, from its reference implementation.
	if got := mix64(splitmixGamma); got != 0xe220a8397b1dcdaf {
		t.Errorf("mix64(gamma) = %#x, want 0xe220a8397b1dcdaf", got)
	}
	for s, want := range pinned {
		if got := hashString(s); got != want {
			t.Errorf("hashString(%q) = %#x, want %#x: changing the hash changes every owner", s, got, want)
		}
	}
}

// TestRingBoundedLoads replays Zipf-popular requests, each holding a load while it is among the
// last `window` ones (fills in flight), and checks that no node ever holds more than
// max(MinLoad, ceil((1+ε)·L·w/W)).
func TestRingBoundedLoads(t *testing.T) {
	t.Parallel()
	const (
		requests = 100000
		window   = 1000
	)
	keys := zipfKeys(requests, 7)
	for _, tc := range []struct {
		name    string
		weights []float64
		epsilon float64
		minLoad int // 0: DefaultMinLoad
	}{
		{"3 nodes", []float64{1, 1, 1}, 0.25, 0},
		{"3 nodes without a floor", []float64{1, 1, 1}, 0.25, -1},
		{"5 nodes", []float64{1, 1, 1, 1, 1}, 0.25, 0},
		{"10 nodes", []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0.25, 0},
		{"10 nodes without a floor", []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0.25, -1},
		{"10 nodes eps 0.1", []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0.1, 0},
		{"weighted 1 2 3 4", []float64{1, 2, 3, 4}, 0.25, 0},
		{"weighted 1 2 3 4 floor 100", []float64{1, 2, 3, 4}, 0.25, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := testNodes(len(tc.weights))
			var sum float64
			for i, w := range tc.weights {
				nodes[i].Weight = w
				sum += w
			}
			r := New(Config{Epsilon: tc.epsilon, MinLoad: tc.minLoad}, nodes...)
			share := make([]float64, r.Len()) // by ring index
			for i, n := range r.nodes {
				share[i] = n.weight / sum
			}
			floor := float64(DefaultMinLoad)
			if tc.minLoad != 0 {
				floor = float64(max(tc.minLoad, 0))
			}
			bound := func(node int, total float64) float64 {
				return max(floor, math.Ceil((1+tc.epsilon)*total*share[node]))
			}

			// Without the bound, the hot segments pile up on their owners: the test has teeth.
			plain := make([]int, r.Len())
			var worstPlain float64
			for i, k := range keys {
				plain[r.owner(k)]++
				if i >= window {
					plain[r.owner(keys[i-window])]--
					for j, l := range plain {
						worstPlain = max(worstPlain, float64(l)/(window*share[j]))
					}
				}
			}
			if worstPlain <= 1+tc.epsilon {
				t.Fatalf("plain consistent hashing peaks at %.2f× a node's share: the workload is not skewed enough to test the bound", worstPlain)
			}

			releases := make([]func(), 0, requests)
			var worst float64
			for i, k := range keys {
				node, release := r.acquire(k)
				releases = append(releases, release)
				total := float64(min(i+1, window))
				if load, bound := r.nodes[node].load.Load(), bound(node, total); float64(load) > bound {
					t.Fatalf("request %d: %s holds %d of %v, bound %v", i, r.nodes[node].name, load, total, bound)
				}
				if i+1 >= window {
					for j, n := range r.nodes {
						load := n.load.Load()
						worst = max(worst, float64(load)/(window*share[j]))
						if bound := bound(j, window); float64(load) > bound {
							t.Fatalf("request %d: %s holds %d of %d, bound %v", i, n.name, load, window, bound)
						}
					}
					releases[i+1-window]()
				}
			}
			t.Logf("max load / share: %.3f bounded (ε=%v), %.2f plain", worst, tc.epsilon, worstPlain)
			for _, release := range releases {
				release()
			}
			for name, load := range r.Loads() {
				if load != 0 {
					t.Errorf("%s: load %d after every release", name, load)
				}
			}
		})
	}
}

// TestRingMovement checks the consistent-hashing property without load: when a node joins, the
// only keys that move are the ones it takes, about 1/(N+1) of them; when one leaves, the only
// keys that move are its own, about 1/N.
func TestRingMovement(t *testing.T) {
	t.Parallel()
	keys := testKeys(100000)
	for n := 3; n <= 10; n++ {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			nodes := testNodes(n + 1)
			before := New(Config{}, nodes[:n]...)
			joined := before.Rebuild(nodes...)
			left := before.Rebuild(slices.Delete(slices.Clone(nodes[:n]), 1, 2)...)
			gone := nodes[1].Name
			newcomer := nodes[n].Name

			var movedJoin, movedLeave, ownedByGone int
			for _, k := range keys {
				was := before.Owner(k)
				if now := joined.Owner(k); now != was {
					movedJoin++
					if now != newcomer {
						t.Fatalf("join: %s moved from %s to %s, not to the new node", k, was, now)
					}
				}
				if was == gone {
					ownedByGone++
				}
				if now := left.Owner(k); now != was {
					movedLeave++
					if was != gone {
						t.Fatalf("leave: %s moved from %s to %s, though %s stayed", k, was, now, was)
					}
				} else if now == gone {
					t.Fatalf("leave: %s still owned by %s", k, gone)
				}
			}
			join := float64(movedJoin) / float64(len(keys))
			leave := float64(movedLeave) / float64(len(keys))
			t.Logf("moved: join %.4f (1/(N+1) = %.4f), leave %.4f (1/N = %.4f)", join, 1/float64(n+1), leave, 1/float64(n))
			if join > 1.5/float64(n+1) || join < 0.5/float64(n+1) {
				t.Errorf("join moved %.4f of the keys, want about 1/%d", join, n+1)
			}
			if leave > 1.5/float64(n) || leave < 0.5/float64(n) {
				t.Errorf("leave moved %.4f of the keys, want about 1/%d", leave, n)
			}
			if movedLeave != ownedByGone {
				t.Errorf("leave moved %d keys, the node owned %d", movedLeave, ownedByGone)
			}
		})
	}
}

func TestRingWeightedShares(t *testing.T) {
	t.Parallel()
	keys := testKeys(100000)
	nodes := []Node{{"small", 1}, {"medium", 2}, {"large", 4}}
	r := New(Config{}, nodes...)
	count := make(map[string]int)
	for _, k := range keys {
		count[r.Owner(k)]++
	}
	for _, n := range nodes {
		share := float64(count[n.Name]) / float64(len(keys))
		want := n.Weight / 7
		t.Logf("%s: %.3f of the keys, weight share %.3f", n.Name, share, want)
		if math.Abs(share-want) > 0.25*want {
			t.Errorf("%s owns %.3f of the keys, want %.3f ± 25%%", n.Name, share, want)
		}
	}
}

func TestRingDeterministic(t *testing.T) {
	t.Parallel()
	nodes := []Node{{"edge-a", 1}, {"edge-b", 2}, {"edge-c", 1}, {"edge-d", 0}, {"edge-e", 3}}
	shuffled := slices.Clone(nodes)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	reversed := slices.Clone(nodes)
	slices.Reverse(reversed)
	a := New(Config{}, nodes...)
	b := New(Config{}, shuffled...)
	c := New(Config{}, append(reversed, Node{"edge-a", 5})...) // a duplicate is dropped
	if !slices.Equal(a.hashes, c.hashes) {
		t.Fatal("a later duplicate changed the ring")
	}
	for _, k := range testKeys(20000) {
		if a.Owner(k) != b.Owner(k) || a.Owner(k) != c.Owner(k) {
			t.Fatalf("%s: owners %s, %s, %s", k, a.Owner(k), b.Owner(k), c.Owner(k))
		}
		if x, y := a.Owners(k, 3), b.Owners(k, 3); !slices.Equal(x, y) {
			t.Fatalf("%s: owners %v and %v", k, x, y)
		}
	}
	// Pinned owners: a change here reassigns keys between versions of reelay.
	r := New(Config{}, testNodes(3)...)
	for key, want := range map[string]string{
		"/v/00000001/master.m3u8":        "edge-1",
		"/v/00000001/720p/seg_00001.m4s": "edge-2",
		"/v/00000002/360p/init.mp4":      "edge-2",
	} {
		if got := r.Owner(key); got != want {
			t.Errorf("Owner(%q) = %s, want %s", key, got, want)
		}
	}
}

func TestRingOwners(t *testing.T) {
	t.Parallel()
	r := New(Config{}, testNodes(5)...)
	for _, k := range testKeys(2000) {
		for n := 1; n <= 6; n++ {
			owners := r.Owners(k, n)
			if len(owners) != min(n, 5) {
				t.Fatalf("Owners(%s, %d) = %v", k, n, owners)
			}
			if owners[0] != r.Owner(k) {
				t.Fatalf("Owners(%s, %d)[0] = %s, Owner = %s", k, n, owners[0], r.Owner(k))
			}
			if len(slices.Compact(slices.Sorted(slices.Values(owners)))) != len(owners) {
				t.Fatalf("Owners(%s, %d) = %v: not distinct", k, n, owners)
			}
			if prefix := r.Owners(k, n-1); !slices.Equal(prefix, owners[:len(prefix)]) {
				t.Fatalf("Owners(%s, %d) = %v does not extend %v", k, n, owners, prefix)
			}
		}
	}
	if got := r.Owners("k", 0); got != nil {
		t.Errorf("Owners(k, 0) = %v", got)
	}
	// The fallbacks are the next owners clockwise: when the first node goes, the second
	// becomes the owner.
	for _, k := range testKeys(2000) {
		owners := r.Owners(k, 2)
		var rest []Node
		for _, n := range testNodes(5) {
			if n.Name != owners[0] {
				rest = append(rest, n)
			}
		}
		if got := r.Rebuild(rest...).Owner(k); got != owners[1] {
			t.Fatalf("%s: without %s the owner is %s, Owners said %s", k, owners[0], got, owners[1])
		}
	}
}

func TestRingAcquireRelease(t *testing.T) {
	r := New(Config{}, testNodes(3)...)
	key := segmentKey(1, 1)
	owner := r.Owner(key)
	node, release := r.Acquire(key)
	if node != owner {
		t.Fatalf("Acquire = %s, Owner = %s", node, owner)
	}
	if got := r.Load(node); got != 1 {
		t.Fatalf("load %d after Acquire", got)
	}
	// A ring rebuilt over a new membership keeps the counters of the nodes that stay.
	r2 := r.Rebuild(append(testNodes(3), Node{Name: "edge-9"})...)
	if got := r2.Load(node); got != 1 {
		t.Fatalf("rebuilt ring: load %d", got)
	}
	release()
	release()
	if r.Load(node) != 0 || r2.Load(node) != 0 {
		t.Fatalf("loads %d and %d after release, want 0", r.Load(node), r2.Load(node))
	}

	// With one node: the bound is never below 1+ε of everything, so it takes every key.
	one := New(Config{}, Node{Name: "only"})
	for i := range 100 {
		if n, _ := one.Acquire(segmentKey(i, 0)); n != "only" {
			t.Fatalf("Acquire on one node = %q", n)
		}
	}

	// A hot key spreads over the nodes once its owner is at its bound.
	hot := New(Config{}, testNodes(4)...)
	seen := make(map[string]int)
	for range 100 {
		n, _ := hot.Acquire(key)
		seen[n]++
	}
	if len(seen) != 4 {
		t.Errorf("100 loads of one key went to %v", seen)
	}
	for n, c := range seen {
		if c > 32 { // ceil(1.25·100/4)
			t.Errorf("%s holds %d of 100", n, c)
		}
	}
	// Owner follows the loads without changing them.
	if o := hot.Owner(key); hot.Load(o) >= 32 {
		t.Errorf("Owner = %s at load %d: at its bound", o, hot.Load(o))
	}
}

// keysOf returns n keys whose owner on an unloaded r is node.
func keysOf(r *Ring, node string, n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if k := segmentKey(i, 0); r.Owner(k) == node {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestRingMinLoad checks the floor under the bound: below MinLoad a node takes every key of
// its own, past it the bound applies; without a floor, a second key already moves.
func TestRingMinLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		stay int // keys of one node that stay on it, all in flight, before one moves
	}{
		{"default floor", Config{}, DefaultMinLoad},
		{"floor 4", Config{MinLoad: 4}, 4},
		// ceil(1.25·(1+1)/3) = 1: the second key moves.
		{"no floor", Config{MinLoad: -1}, 1},
		{"no bound", Config{Epsilon: math.Inf(1), MinLoad: -1}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.cfg, testNodes(3)...)
			for i, k := range keysOf(r, "edge-1", min(tc.stay+1, 100)) {
				node, _ := r.Acquire(k)
				if i < tc.stay && node != "edge-1" {
					t.Fatalf("key %d of edge-1 went to %s at loads %v", i, node, r.Loads())
				}
				if i == tc.stay && node == "edge-1" {
					t.Fatalf("key %d of edge-1 stayed on it at loads %v", i, r.Loads())
				}
			}
		})
	}
}

func TestRingAcquireNode(t *testing.T) {
	r := New(Config{MinLoad: -1}, testNodes(3)...)
	// Far past its bound: AcquireNode counts it anyway.
	var releases []func()
	for range 10 {
		releases = append(releases, r.AcquireNode("edge-1"))
	}
	if got := r.Load("edge-1"); got != 10 {
		t.Fatalf("load %d after 10 AcquireNode", got)
	}
	// Acquire sends edge-1's keys elsewhere while it is that far over.
	for _, k := range keysOf(New(Config{}, testNodes(3)...), "edge-1", 5) {
		if node, release := r.Acquire(k); node == "edge-1" {
			t.Errorf("Acquire(%s) = edge-1 at loads %v", k, r.Loads())
		} else {
			release()
		}
	}
	releases[0]()
	releases[0]()
	if got := r.Load("edge-1"); got != 9 {
		t.Errorf("load %d after one release twice, want 9", got)
	}
	for _, release := range releases {
		release()
	}
	if got := r.Loads(); got["edge-1"] != 0 || got["edge-0"] != 0 || got["edge-2"] != 0 {
		t.Errorf("loads %v after every release", got)
	}
	r.AcquireNode("nobody")() // a node the ring does not hold: nothing to count
	if got := r.Loads(); len(got) != 3 {
		t.Errorf("loads %v", got)
	}
}

func TestRingEmpty(t *testing.T) {
	r := New(Config{})
	if got := r.Owner("k"); got != "" {
		t.Errorf("Owner = %q", got)
	}
	if got := r.Owners("k", 3); got != nil {
		t.Errorf("Owners = %v", got)
	}
	node, release := r.Acquire("k")
	release()
	if node != "" {
		t.Errorf("Acquire = %q", node)
	}
}

func TestRingConcurrentAcquire(t *testing.T) {
	r := New(Config{}, testNodes(5)...)
	keys := zipfKeys(4000, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			held := make([]func(), 0, 64)
			for i, k := range keys[g*500 : (g+1)*500] {
				_, release := r.Acquire(k)
				held = append(held, release)
				if i%64 == 63 {
					for _, release := range held {
						release()
					}
					held = held[:0]
				}
				_ = r.Owner(k)
			}
			for _, release := range held {
				release()
			}
		})
	}
	wg.Wait()
	for name, load := range r.Loads() {
		if load != 0 {
			t.Errorf("%s: load %d after every release", name, load)
		}
	}
}

func BenchmarkOwner(b *testing.B) {
	keys := testKeys(1 << 14)
	for _, n := range []int{3, 10, 50} {
		r := New(Config{}, testNodes(n)...)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				_ = r.Owner(keys[i&(len(keys)-1)])
				i++
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/loaded", n), func(b *testing.B) {
			for _, k := range zipfKeys(100*n, 1) {
				r.Acquire(k)
			}
			i := 0
			for b.Loop() {
				_ = r.Owner(keys[i&(len(keys)-1)])
				i++
			}
		})
	}
}

func BenchmarkAcquire(b *testing.B) {
	keys := testKeys(1 << 14)
	r := New(Config{}, testNodes(10)...)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, release := r.Acquire(keys[i&(len(keys)-1)])
			release()
			i++
		}
	})
}

func BenchmarkRebuild(b *testing.B) {
	r := New(Config{}, testNodes(10)...)
	nodes := testNodes(11)
	for b.Loop() {
		_ = r.Rebuild(nodes...)
	}
}
