// Package ring assigns keys to nodes by consistent hashing with bounded loads. It knows nothing
// of how the nodes find each other: package cluster builds a Ring over the live members of a
// gossip cluster, and anything else that has a list of named nodes can build one too.
//
//	r := ring.New(ring.Config{}, ring.Node{Name: "edge-a"}, ring.Node{Name: "edge-b", Weight: 2})
//	node, release := r.Acquire("/v/0123/720p/seg_00001.m4s")
//	defer release() // the load counts against node until then
package ring

import (
	"cmp"
	"math"
	"slices"
	"sync/atomic"
)

// Defaults of Config.
const (
	DefaultVirtualNodes = 160
	DefaultEpsilon      = 0.25
	DefaultMinLoad      = 16
)

// maxWeightFactor caps how many times the average number of virtual nodes one node gets on the
// ring, however large its weight: a misconfigured capacity must not blow the ring up. Its load
// bound still follows its true weight.
const maxWeightFactor = 16

// Config configures a Ring. The zero value is usable.
type Config struct {
	// VirtualNodes is the number of points a node of average weight gets on the ring; a node of
	// weight w gets about VirtualNodes·w/mean(w), at least 1 and at most 16·VirtualNodes. More
	// points spread the keys more evenly (the spread of a node's share shrinks as
	// 1/sqrt(VirtualNodes)) at the cost of memory and rebuild time. Zero or negative means
	// DefaultVirtualNodes (160).
	VirtualNodes int
	// Epsilon is the slack ε of the load bound: a node takes a key only while its load is below
	// ceil((1+ε)·(L+1)·w/W), where L is the load of the whole ring, w the node's weight and W the
	// sum of the weights. Small values balance tightly but move more keys away from their first
	// choice under load. Zero, negative or NaN means DefaultEpsilon (0.25); +Inf turns the bound
	// off (plain consistent hashing whatever the loads).
	Epsilon float64
	// MinLoad is a floor under every bound: a node whose load is below MinLoad takes its keys
	// whatever the loads of the others. Without it, small loads spill all the time: with three
	// equal nodes and one key in flight, the bound of the next key is ceil(1.25·2/3) = 1, so a
	// node that holds one load already passes a second key on. When the load is fills in
	// flight, a key passed on is fetched from the origin by a node that the other nodes do not
	// send it to, an extra origin fetch per moved key, to even out loads that cost nothing at
	// that size. The default, DefaultMinLoad (16), is far below what one node sustains (a fill
	// is one upstream connection and one object buffer) and above what a node has in flight in
	// ordinary traffic, so the bound takes over only in a burst, where it matters. Zero means
	// DefaultMinLoad; negative means no floor (the bound alone, as in the paper).
	MinLoad int
}

// Node is one node put on a Ring.
type Node struct {
	// Name identifies the node; the names of a ring's nodes are unique (later duplicates are
	// dropped). The points of a node on the ring depend only on its name and its weight.
	Name string
	// Weight is the node's relative capacity: its share of the keys and of the load bound is
	// proportional to it. Zero, negative, NaN or infinite means 1.
	Weight float64
}

// Ring assigns keys to nodes by consistent hashing with bounded loads (Mirrokni, Thorup and
// Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2017).
//
// Each node is hashed to many points (virtual nodes) on a 64-bit circle, and a key to one point.
// Walking clockwise from the key's point, the key belongs to the first node whose current load is
// below its bound max(MinLoad, ceil((1+ε)·(L+1)·w/W)) (see Config). With no load anywhere that is
// the node of the first point: plain consistent hashing, where adding or removing one node of N
// moves only the keys that it gains or loses, about 1/N of them. Under load, a node at its bound
// passes its keys on to the next nodes clockwise, so that no node holds more than (1+ε) times
// its share of the load (or MinLoad, whichever is more), however skewed the popularity of the
// keys.
//
// # Hashing
//
// Keys and node names are hashed with FNV-1a (64 bits) followed by the splitmix64 finalizer.
// FNV-1a is fast and fixed, but its high bits barely change between keys that differ only in
// their last bytes (seg_00001.m4s, seg_00002.m4s), and the high bits are what a sorted ring
// looks at; the finalizer spreads every input bit over all 64 output bits. A node's points are
// the splitmix64 sequence seeded with the hash of its name. Nothing is seeded per process (as
// hash/maphash is), so every process that builds a ring from the same nodes gets the same ring,
// whatever order the nodes came in: the nodes of a cluster agree on ownership without talking.
//
// # Loads
//
// A ring keeps one load counter per node. Acquire increments the counter of the node it picks
// and returns the function that decrements it: the load is whatever the caller counts with
// it, such as the fills in flight or the objects cached. AcquireNode counts a load that the
// caller did not choose where to put, such as work that another process sent to a node.
// Owner and Owners only read the loads.
// A ring with no load at all (nobody calls Acquire) is plain consistent hashing, and Owner is
// then the same on every process. Loads are local to the process: two processes with different
// loads may pick different owners for a key under pressure.
//
// A Ring's nodes never change; Rebuild makes a ring over other nodes that keeps the load
// counters of the nodes the two share. All methods are safe for concurrent use, and Owner does
// not allocate.
type Ring struct {
	cfg    Config
	floor  int64    // MinLoad, 0 for none
	nodes  []node   // sorted by name
	hashes []uint64 // the points, sorted
	owners []int32  // owners[i] is the index in nodes of the node at hashes[i]
}

type node struct {
	name   string
	weight float64
	share  float64 // (1+ε)·weight/Σweight
	load   *atomic.Int64
}

// below reports whether a node at load is below its bound max(floor, ceil(share·(total+1)))
// when the ring holds total. For a whole load, load < ceil(x) if and only if load < x, so no
// ceil is needed; x is lowered by a relative 1e-9 so that float error cannot raise a bound that
// is a whole number in exact arithmetic (1.1·300·0.1 = 33.000000000000004) by one. With ε = +Inf,
// x is +Inf and every node is below.
func (r *Ring) below(n *node, load, total int64) bool {
	x := n.share * float64(total+1) * (1 - 1e-9)
	return load < r.floor || float64(load) < x
}

// New returns a ring over nodes.
func New(cfg Config, nodes ...Node) *Ring {
	if cfg.VirtualNodes <= 0 {
		cfg.VirtualNodes = DefaultVirtualNodes
	}
	if !(cfg.Epsilon > 0) {
		cfg.Epsilon = DefaultEpsilon
	}
	if cfg.MinLoad == 0 {
		cfg.MinLoad = DefaultMinLoad
	}
	return build(cfg, nodes, nil)
}

// Rebuild returns a ring with r's configuration over nodes. A node that r holds too keeps its
// load counter: the releases of what was acquired from r count in the new ring.
func (r *Ring) Rebuild(nodes ...Node) *Ring {
	return build(r.cfg, nodes, r)
}

func build(cfg Config, in []Node, prev *Ring) *Ring {
	r := &Ring{cfg: cfg, floor: int64(max(cfg.MinLoad, 0))}
	seen := make(map[string]bool, len(in))
	for _, n := range in {
		if seen[n.Name] {
			continue
		}
		seen[n.Name] = true
		w := n.Weight
		if !(w > 0) || math.IsInf(w, 1) {
			w = 1
		}
		r.nodes = append(r.nodes, node{name: n.Name, weight: w})
	}
	if len(r.nodes) == 0 {
		return r
	}
	slices.SortFunc(r.nodes, func(a, b node) int { return cmp.Compare(a.name, b.name) })

	var sum float64
	for _, n := range r.nodes {
		sum += n.weight
	}
	mean := sum / float64(len(r.nodes))
	type point struct {
		hash  uint64
		owner int32
	}
	var points []point
	for i := range r.nodes {
		n := &r.nodes[i]
		n.share = (1 + cfg.Epsilon) * n.weight / sum
		n.load = new(atomic.Int64)
		if prev != nil {
			if j, ok := prev.index(n.name); ok {
				n.load = prev.nodes[j].load
			}
		}
		count := int(math.Round(float64(cfg.VirtualNodes) * (n.weight / mean)))
		count = min(max(count, 1), maxWeightFactor*cfg.VirtualNodes)
		state := hashString(n.name)
		for range count {
			state += splitmixGamma
			points = append(points, point{mix64(state), int32(i)})
		}
	}
	// Ties between points (as good as impossible with 64-bit hashes) go to the node whose
	// name sorts first, the same on every process.
	slices.SortFunc(points, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.owner, b.owner))
	})
	r.hashes = make([]uint64, len(points))
	r.owners = make([]int32, len(points))
	for i, p := range points {
		r.hashes[i], r.owners[i] = p.hash, p.owner
	}
	return r
}

// index returns the index in r.nodes of the node called name.
func (r *Ring) index(name string) (int, bool) {
	return slices.BinarySearchFunc(r.nodes, name, func(n node, name string) int {
		return cmp.Compare(n.name, name)
	})
}

// Len returns the number of nodes of the ring.
func (r *Ring) Len() int { return len(r.nodes) }

// Nodes returns the names of the ring's nodes, sorted.
func (r *Ring) Nodes() []string {
	names := make([]string, len(r.nodes))
	for i, n := range r.nodes {
		names[i] = n.name
	}
	return names
}

// Load returns the current load of the node called name, 0 for a node the ring does not hold.
func (r *Ring) Load(name string) int64 {
	if i, ok := r.index(name); ok {
		return r.nodes[i].load.Load()
	}
	return 0
}

// Loads returns the current load of every node of the ring.
func (r *Ring) Loads() map[string]int64 {
	loads := make(map[string]int64, len(r.nodes))
	for _, n := range r.nodes {
		loads[n.name] = n.load.Load()
	}
	return loads
}

// Owner returns the node that key belongs to given the current loads: the first node clockwise
// from the key whose load is below its bound. It does not change any load; with no load on the
// ring it is the node of the first point clockwise. It returns "" for a ring without nodes.
func (r *Ring) Owner(key string) string {
	i := r.owner(key)
	if i < 0 {
		return ""
	}
	return r.nodes[i].name
}

// Owners returns up to n distinct nodes for key, best first: Owner(key), then the other nodes in
// the order met walking clockwise from the key, whatever their loads. The ones after the first
// are where to go when the owner does not answer, or where to keep replicas. It returns all the
// nodes when n is at least Len.
func (r *Ring) Owners(key string, n int) []string {
	first := r.owner(key)
	if first < 0 || n <= 0 {
		return nil
	}
	n = min(n, len(r.nodes))
	picked := make([]int32, 1, n)
	picked[0] = int32(first)
	for p, i := r.start(key), 0; len(picked) < n && i < len(r.hashes); i++ {
		if o := r.owners[p]; !slices.Contains(picked, o) {
			picked = append(picked, o)
		}
		if p++; p == len(r.hashes) {
			p = 0
		}
	}
	names := make([]string, len(picked))
	for i, o := range picked {
		names[i] = r.nodes[o].name
	}
	return names
}

// Acquire picks the owner of key as Owner does and adds one to its load. The check against the
// bound and the increment are one compare-and-swap, so concurrent Acquires cannot push a node
// past its bound together. (A release lowers every bound a little, so a node may end up above
// the new one: it then takes nothing until it is below again.) The returned release takes the
// one back; calling it again does nothing. Hold the load for as long as it is meant to count,
// for example while a fill is in flight. It returns "" and a no-op for a ring without nodes.
func (r *Ring) Acquire(key string) (name string, release func()) {
	i, release := r.acquire(key)
	if i < 0 {
		return "", release
	}
	return r.nodes[i].name, release
}

func (r *Ring) acquire(key string) (int, func()) {
	if len(r.nodes) == 0 {
		return -1, func() {}
	}
	total := r.totalLoad()
	p := r.start(key)
	for tried := 0; tried < len(r.hashes); {
		n := &r.nodes[r.owners[p]]
		load := n.load.Load()
		if r.below(n, load, total) {
			if n.load.CompareAndSwap(load, load+1) {
				return int(r.owners[p]), (&lease{load: n.load}).release
			}
			total = r.totalLoad() // lost a race: look again with fresh loads
			continue
		}
		tried++
		if p++; p == len(r.hashes) {
			p = 0
		}
	}
	// Unreachable: the bounds add up to at least (1+ε)·(L+1) > L, so some node is below its
	// own. Should rounding ever say otherwise, the first choice takes the key.
	i := int(r.owners[r.start(key)])
	r.nodes[i].load.Add(1)
	return i, (&lease{load: r.nodes[i].load}).release
}

// AcquireNode adds one to the load of the node called name, whatever its bound, and returns
// the release that takes it back, as Acquire does. It is for load that comes to a node without
// this ring choosing it, such as work other processes sent to it: it counts in the bounds of
// what Acquire places next. It returns a no-op for a node the ring does not hold.
func (r *Ring) AcquireNode(name string) (release func()) {
	i, ok := r.index(name)
	if !ok {
		return func() {}
	}
	r.nodes[i].load.Add(1)
	return (&lease{load: r.nodes[i].load}).release
}

type lease struct {
	load *atomic.Int64
	done atomic.Bool
}

func (l *lease) release() {
	if l.done.CompareAndSwap(false, true) {
		l.load.Add(-1)
	}
}

// owner returns the index in r.nodes of the owner of key, -1 for an empty ring.
func (r *Ring) owner(key string) int {
	if len(r.nodes) == 0 {
		return -1
	}
	p := r.start(key)
	total := r.totalLoad()
	if total == 0 {
		return int(r.owners[p])
	}
	for range len(r.hashes) {
		n := &r.nodes[r.owners[p]]
		if r.below(n, n.load.Load(), total) {
			return int(r.owners[p])
		}
		if p++; p == len(r.hashes) {
			p = 0
		}
	}
	return int(r.owners[r.start(key)])
}

// start returns the index of the first point clockwise from key's hash.
func (r *Ring) start(key string) int {
	p, _ := slices.BinarySearch(r.hashes, hashString(key))
	if p == len(r.hashes) {
		p = 0
	}
	return p
}

// totalLoad returns the load of the whole ring, L. It reads one counter per node: summing them
// keeps the counters independent of the ring they were acquired from, and a cluster has few
// nodes.
func (r *Ring) totalLoad() int64 {
	var total int64
	for i := range r.nodes {
		total += r.nodes[i].load.Load()
	}
	return total
}

// FNV-1a 64 and splitmix64 constants.
const (
	fnvOffset64   = 14695981039346656037
	fnvPrime64    = 1099511628211
	splitmixGamma = 0x9e3779b97f4a7c15
)

// hashString returns the ring position of s: FNV-1a 64 then the splitmix64 finalizer.
func hashString(s string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return mix64(h)
}

// mix64 is the splitmix64 finalizer (Steele, Lea and Flood, "Fast Splittable Pseudorandom
// Number Generators", 2014): a bijection of uint64 in which every input bit flips each output
// bit with probability about 1/2.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
