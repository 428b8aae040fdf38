package cache

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// Memory is an in-memory cache sized in bytes that evicts with S3-FIFO (Yang et al., "FIFO queues
// are all you need for cache eviction", SOSP 2023). It is safe for concurrent use.
//
// Each shard keeps three FIFO queues:
//
//   - small (S), about 10% of the shard's bytes, where new keys enter;
//   - main (M), the other 90%, for keys that proved themselves;
//   - ghost (G), keys only (64-bit hashes), of entries recently evicted from S, holding about as
//     many keys as the shard holds entries.
//
// Every entry has a 2-bit access counter: Get adds one, up to 3, and does nothing else, so hits
// only take a read lock. Eviction is lazy promotion plus quick demotion:
//
//   - evicting from S, the oldest entry moves to M if it was read while in S (counter > 0; the
//     counter restarts at 0 in M), else it is dropped and its key goes to G. This is the paper's
//     rule as its text states it ("accessed at least once"; its Algorithm 1 writes freq > 1,
//     which on the Zipf trace of the tests differs by less than 0.1 point of hit ratio).
//     One-hit wonders, such as the segments of a video watched once, thus leave through S and
//     never take more than S's share of the cache.
//   - evicting from M, the oldest entry is put back at M's front with its counter decremented if
//     the counter is > 0, else dropped. Each reinsertion spends a count, so eviction is O(1)
//     amortised.
//   - Set of a key found in G (it was dropped from S too early) inserts it straight into M.
//
// S is evicted from while it holds more than its share, M otherwise.
//
// A Memory of 128 MiB or more is split into shards (up to 16) of at least 64 MiB each by a hash of
// the key, each with its own lock and queues. An entry larger than an eighth of a shard's capacity
// (MaxEntryBytes) is not admitted: it would push out many smaller entries for one object, and
// such objects are better served from the disk tier.
type Memory struct {
	seed     maphash.Seed
	shards   []memShard
	maxEntry int64
	capacity int64
}

// S3-FIFO's parameters, from the paper.
const (
	smallPercent = 10 // S's share of a shard's bytes
	maxFreq      = 3  // the access counter's cap: 2 bits
)

// Sharding: shards are powers of two, at least minShardBytes each, at most maxShards.
const (
	minShardBytes = 64 << 20
	maxShards     = 16
	// maxEntryDiv: an entry may take at most 1/maxEntryDiv of a shard (Memory, LRU) or disk.
	maxEntryDiv = 8
)

type memShard struct {
	mu    sync.RWMutex
	items map[string]*node[memItem]
	small list[memItem]
	main  list[memItem]
	ghost ghost

	capacity   int64 // bytes
	smallCap   int64 // S's share of capacity
	smallBytes int64
	mainBytes  int64
	evictions  int64

	// Updated under the read lock.
	hits, misses atomic.Int64

	_ [64]byte // keep neighbouring shards' locks off this cache line
}

type memItem struct {
	key    string
	hash   uint64
	size   int64
	entry  Entry
	freq   atomic.Uint32 // Get increments it under the read lock; eviction reads it under the lock
	inMain bool
}

// NewMemory returns an empty Memory that holds up to capacityBytes, charged as the keys' lengths
// plus Entry.Size. A capacity below 1 makes a cache that admits nothing.
func NewMemory(capacityBytes int64) *Memory {
	capacityBytes = max(capacityBytes, 0)
	n := 1
	for n < maxShards && capacityBytes/int64(2*n) >= minShardBytes {
		n *= 2
	}
	m := &Memory{
		seed:     maphash.MakeSeed(),
		shards:   make([]memShard, n),
		capacity: capacityBytes,
	}
	per := capacityBytes / int64(n)
	m.maxEntry = per / maxEntryDiv
	for i := range m.shards {
		s := &m.shards[i]
		s.items = make(map[string]*node[memItem])
		s.capacity = per
		s.smallCap = per * smallPercent / 100
	}
	return m
}

// MaxEntryBytes is the largest charge (key plus Entry.Size) that Set admits.
func (m *Memory) MaxEntryBytes() int64 { return m.maxEntry }

// Capacity is the cache's size in bytes, as given to NewMemory.
func (m *Memory) Capacity() int64 { return m.capacity }

func (m *Memory) shard(key string) (*memShard, uint64) {
	h := maphash.String(m.seed, key)
	// The low bits pick the shard; the ghost uses the whole hash.
	return &m.shards[h&uint64(len(m.shards)-1)], h
}

// Get returns the entry stored under key. The entry's Body is shared: do not modify it.
func (m *Memory) Get(key string) (Entry, bool) {
	s, _ := m.shard(key)
	s.mu.RLock()
	n := s.items[key]
	if n == nil {
		s.mu.RUnlock()
		s.misses.Add(1)
		return Entry{}, false
	}
	if f := n.v.freq.Load(); f < maxFreq {
		// A lost race between two readers loses one count, which does not matter.
		n.v.freq.CompareAndSwap(f, f+1)
	}
	e := n.v.entry
	s.mu.RUnlock()
	s.hits.Add(1)
	return e, true
}

// Set stores e under key, replacing any entry there, and evicts entries until everything fits.
// The cache keeps e.Body: do not modify it afterwards. An entry larger than MaxEntryBytes is not
// stored, and the key's old entry, now stale, is deleted.
func (m *Memory) Set(key string, e Entry) {
	s, h := m.shard(key)
	size := int64(len(key)) + e.Size()
	s.mu.Lock()
	defer s.mu.Unlock()

	var freq uint32
	inMain := false
	if old := s.items[key]; old != nil {
		// An update keeps the key's place in S or M and its counter.
		freq, inMain = old.v.freq.Load(), old.v.inMain
		s.unlink(old)
	} else if s.ghost.remove(h) {
		inMain = true
	}
	if size > m.maxEntry {
		return
	}
	for s.smallBytes+s.mainBytes+size > s.capacity {
		s.evict()
	}
	n := &node[memItem]{v: memItem{key: key, hash: h, size: size, entry: e, inMain: inMain}}
	n.v.freq.Store(freq)
	if inMain {
		s.main.pushFront(n)
		s.mainBytes += size
	} else {
		s.small.pushFront(n)
		s.smallBytes += size
	}
	s.items[key] = n
}

// Delete removes key's entry and reports whether there was one.
func (m *Memory) Delete(key string) bool {
	s, _ := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.items[key]
	if n == nil {
		return false
	}
	s.unlink(n)
	return true
}

// DeletePrefix removes every entry whose key starts with prefix, such as "/v/{video}/" to purge a
// video, and returns how many it removed. It looks at every key: it is meant for purges, not for
// the request path.
func (m *Memory) DeletePrefix(prefix string) int {
	removed := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for key, n := range s.items {
			if strings.HasPrefix(key, prefix) {
				s.unlink(n)
				removed++
			}
		}
		s.mu.Unlock()
	}
	return removed
}

// Len returns the number of entries held.
func (m *Memory) Len() int {
	total := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		total += len(s.items)
		s.mu.RUnlock()
	}
	return total
}

// Bytes returns the bytes held, as charged: keys plus Entry.Size.
func (m *Memory) Bytes() int64 {
	var total int64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		total += s.smallBytes + s.mainBytes
		s.mu.RUnlock()
	}
	return total
}

// Stats returns the cache's counters.
func (m *Memory) Stats() Stats {
	var st Stats
	for i := range m.shards {
		s := &m.shards[i]
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		s.mu.RLock()
		st.Evictions += s.evictions
		st.Bytes += s.smallBytes + s.mainBytes
		st.Entries += int64(len(s.items))
		s.mu.RUnlock()
	}
	return st
}

// unlink takes n out of its queue and the index. The caller holds s.mu.
func (s *memShard) unlink(n *node[memItem]) {
	if n.v.inMain {
		s.main.remove(n)
		s.mainBytes -= n.v.size
	} else {
		s.small.remove(n)
		s.smallBytes -= n.v.size
	}
	delete(s.items, n.v.key)
}

// evict drops one entry, moving entries from S to M on the way as needed. The caller holds s.mu
// and makes sure the shard is not empty.
func (s *memShard) evict() {
	if s.smallBytes > s.smallCap || s.main.len() == 0 {
		if s.evictSmall() {
			return
		}
		// Everything in S was promoted: M has entries now.
	}
	s.evictMain()
}

// evictSmall drops the oldest entry of S that was not read while in S, moving those that were
// to M. It reports whether it dropped one; it does not when S empties first.
func (s *memShard) evictSmall() bool {
	for n := s.small.back(); n != nil; n = s.small.back() {
		s.small.remove(n)
		s.smallBytes -= n.v.size
		if n.v.freq.Load() > 0 {
			n.v.freq.Store(0)
			n.v.inMain = true
			s.main.pushFront(n)
			s.mainBytes += n.v.size
			continue
		}
		delete(s.items, n.v.key)
		s.evictions++
		// G holds about as many keys as the shard holds entries (nearly all in M).
		s.ghost.add(n.v.hash, len(s.items))
		return true
	}
	return false
}

// evictMain drops the oldest entry of M whose counter is 0, giving the ones on the way another
// round at M's front for one count each.
func (s *memShard) evictMain() {
	for n := s.main.back(); n != nil; n = s.main.back() {
		if f := n.v.freq.Load(); f > 0 {
			n.v.freq.Store(f - 1)
			s.main.moveToFront(n)
			continue
		}
		s.main.remove(n)
		s.mainBytes -= n.v.size
		delete(s.items, n.v.key)
		s.evictions++
		return
	}
}

// ghost is a FIFO of key hashes with a set for lookups. Removing a hash from the set leaves a
// stale record in the FIFO, which is skipped when it reaches the head.
type ghost struct {
	fifo []ghostRecord // live records are fifo[head:]
	head int
	seq  uint64
	set  map[uint64]uint64 // hash -> seq of its newest record
}

type ghostRecord struct {
	hash, seq uint64
}

// add appends hash, then drops the oldest records until at most limit remain.
func (g *ghost) add(hash uint64, limit int) {
	if g.set == nil {
		g.set = make(map[uint64]uint64)
	}
	g.seq++
	g.set[hash] = g.seq
	g.fifo = append(g.fifo, ghostRecord{hash, g.seq})
	for len(g.fifo)-g.head > limit {
		r := g.fifo[g.head]
		g.head++
		if g.set[r.hash] == r.seq {
			delete(g.set, r.hash)
		}
	}
	if g.head > 1024 && g.head*2 > len(g.fifo) {
		g.fifo = g.fifo[:copy(g.fifo, g.fifo[g.head:])]
		g.head = 0
	}
}

// remove takes hash out of the set and reports whether it was there.
func (g *ghost) remove(hash uint64) bool {
	if _, ok := g.set[hash]; !ok {
		return false
	}
	delete(g.set, hash)
	return true
}
