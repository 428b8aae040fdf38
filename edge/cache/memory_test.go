package cache

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// body returns an entry with an n-byte body and no headers, so that it is charged n plus its key.
func body(n int) Entry { return Entry{Body: make([]byte, n)} }

// key returns a 5-byte key, so that charges are easy to count.
func key(prefix byte, i int) string { return fmt.Sprintf("%c%04d", prefix, i) }

// checkMemory verifies the shards' bookkeeping against their queues and indexes.
func checkMemory(t *testing.T, m *Memory) {
	t.Helper()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		var small, main int64
		count := 0
		for _, q := range []struct {
			l      *list[memItem]
			bytes  *int64
			inMain bool
		}{{&s.small, &small, false}, {&s.main, &main, true}} {
			for n := q.l.back(); n != nil; n = q.l.newer(n) {
				count++
				if n.v.inMain != q.inMain {
					t.Errorf("shard %d: %q in the wrong queue (inMain %v)", i, n.v.key, n.v.inMain)
				}
				if s.items[n.v.key] != n {
					t.Errorf("shard %d: %q queued but not indexed", i, n.v.key)
				}
				if want := int64(len(n.v.key)) + n.v.entry.Size(); n.v.size != want {
					t.Errorf("shard %d: %q charged %d, want %d", i, n.v.key, n.v.size, want)
				}
				if f := n.v.freq.Load(); f > maxFreq {
					t.Errorf("shard %d: %q counter %d > %d", i, n.v.key, f, maxFreq)
				}
				*q.bytes += n.v.size
			}
		}
		if count != len(s.items) {
			t.Errorf("shard %d: %d queued, %d indexed", i, count, len(s.items))
		}
		if small != s.smallBytes || main != s.mainBytes {
			t.Errorf("shard %d: queues hold %d+%d bytes, counters say %d+%d", i, small, main, s.smallBytes, s.mainBytes)
		}
		if small+main > s.capacity {
			t.Errorf("shard %d: %d bytes over capacity %d", i, small+main, s.capacity)
		}
		s.mu.Unlock()
	}
}

// inMain reports whether key is held in M (for single-shard caches).
func inMain(m *Memory, key string) bool {
	s, _ := m.shard(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.items[key]
	return n != nil && n.v.inMain
}

func TestMemoryOneHitWondersStayOutOfMain(t *testing.T) {
	const size = 1000
	m := NewMemory(100 * (size + 5)) // 100 entries, S is 10 of them
	for i := range 50 {
		m.Set(key('h', i), body(size))
	}
	for i := range 50 {
		if _, ok := m.Get(key('h', i)); !ok {
			t.Fatalf("h%d missing before the scan", i)
		}
	}
	for i := range 1000 {
		k := key('w', i)
		if _, ok := m.Get(k); ok {
			t.Fatalf("%s hit before it was set", k)
		}
		m.Set(k, body(size))
	}
	checkMemory(t, m)
	for i := range 50 {
		k := key('h', i)
		if !inMain(m, k) {
			t.Errorf("%s, read while in S, is not in M after 1000 one-hit wonders", k)
		}
	}
	s := &m.shards[0]
	for n := s.main.back(); n != nil; n = s.main.newer(n) {
		if strings.HasPrefix(n.v.key, "w") {
			t.Errorf("one-hit wonder %s reached M", n.v.key)
		}
	}
	if st := m.Stats(); st.Evictions != 1000-50 || st.Entries != 100 {
		t.Errorf("stats %+v, want 950 evictions and 100 entries", st)
	}

	// The same trace empties an LRU of the hot keys.
	l := NewLRU(100 * (size + 5))
	for i := range 50 {
		l.Set(key('h', i), body(size))
		l.Get(key('h', i))
	}
	for i := range 1000 {
		l.Set(key('w', i), body(size))
	}
	if l.Len() != 100 {
		t.Errorf("LRU holds %d entries, want 100", l.Len())
	}
	for i := range 50 {
		if _, ok := l.Get(key('h', i)); ok {
			t.Errorf("LRU kept h%d through the scan: the comparison above means nothing", i)
		}
	}
}

func TestMemoryReaccessedSurvivesScan(t *testing.T) {
	const size = 1000
	m := NewMemory(100 * (size + 5))
	hot := key('h', 0)
	m.Set(hot, body(size))
	m.Get(hot)
	for round := range 3 {
		for i := range 1000 { // ten times the capacity, each key once
			k := key('s', round*1000+i)
			if _, ok := m.Get(k); !ok {
				m.Set(k, body(size))
			}
		}
		if _, ok := m.Get(hot); !ok {
			t.Fatalf("round %d: %s, read once before the scan, was evicted by it", round, hot)
		}
	}
	checkMemory(t, m)
	// A key never re-read does not survive the same scan.
	m.Set("cold0", body(size))
	for i := range 200 {
		m.Set(key('t', i), body(size))
	}
	if _, ok := m.Get("cold0"); ok {
		t.Error("cold0, never read, survived a scan of twice the capacity")
	}
}

func TestMemoryMainEvictionSpendsCounts(t *testing.T) {
	const size = 1000
	m := NewMemory(20 * (size + 5)) // S holds 2 entries
	// Fill M through the ghost: the b's are set, dropped from S unread, then set again.
	for i := range 15 {
		m.Set(key('b', i), body(size))
	}
	for i := range 20 {
		m.Set(key('c', i), body(size)) // pushes the b's through S into G
	}
	for i := range 15 {
		m.Set(key('b', i), body(size))
		if !inMain(m, key('b', i)) {
			t.Fatalf("b%d went back to S, not M, on a ghost hit", i)
		}
	}
	// M is nearly full of b's with counters 0. Read b0 three times: it should outlive the others
	// as M rotates.
	for range 3 {
		m.Get(key('b', 0))
	}
	for i := range 40 {
		m.Set(key('d', i), body(size))
		m.Get(key('d', i)) // so each d moves from S to M and makes M evict
	}
	checkMemory(t, m)
	if _, ok := m.Get(key('b', 0)); !ok {
		t.Error("b0, read 3 times, was evicted from M")
	}
	for i := 1; i < 15; i++ {
		if _, ok := m.Get(key('b', i)); ok {
			t.Errorf("b%d, never read in M, outlived 40 promotions", i)
		}
	}
}

func TestMemoryGhostHitGoesToMain(t *testing.T) {
	const size = 1000
	m := NewMemory(20 * (size + 5))
	m.Set("a0000", body(size))
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("a0000 never left S")
		}
		m.Set(key('x', i), body(size))
		if _, ok := m.Get("a0000"); !ok { // counts as a miss, does not touch the queues
			break
		}
		// The Get above was a hit and bumped a's counter: take it back so a leaves unread.
		s, _ := m.shard("a0000")
		s.items["a0000"].v.freq.Store(0)
	}
	s, h := m.shard("a0000")
	if _, ok := s.ghost.set[h]; !ok {
		t.Fatal("a0000 was evicted from S but is not in the ghost")
	}
	m.Set("a0000", body(size))
	if !inMain(m, "a0000") {
		t.Error("a0000 set again after a ghost hit is not in M")
	}
	if _, ok := s.ghost.set[h]; ok {
		t.Error("a0000 is still in the ghost after being readmitted")
	}
	// A new key goes to S.
	m.Set("n0000", body(size))
	if inMain(m, "n0000") {
		t.Error("a new key went to M")
	}
	checkMemory(t, m)
}

func TestMemoryGhostBounded(t *testing.T) {
	m := NewMemory(50 * 105)
	for i := range 100_000 {
		m.Set(fmt.Sprintf("k%07d", i), body(100))
	}
	s := &m.shards[0]
	if n := len(s.ghost.set); n > len(s.items) {
		t.Errorf("ghost holds %d keys for %d entries", n, len(s.items))
	}
	if n := len(s.ghost.fifo); n > 2*1024+2*len(s.items) {
		t.Errorf("ghost FIFO grew to %d records", n)
	}
}

func TestMemoryByteAccounting(t *testing.T) {
	m := NewMemory(1 << 20)
	r := rand.New(rand.NewPCG(1, 2))
	meta := Entry{ContentType: "video/mp4", CacheControl: "max-age=31536000, immutable", ETag: `"abc"`, LastModified: "Mon, 02 Jan 2006 15:04:05 GMT"}
	keys := make([]string, 500)
	for i := range keys {
		keys[i] = fmt.Sprintf("/v/%d/seg_%d.m4s", i%37, i)
	}
	for i := range 20_000 {
		k := keys[r.IntN(len(keys))]
		switch op := r.IntN(10); {
		case op < 5:
			e := meta
			e.Body = make([]byte, r.IntN(40_000))
			m.Set(k, e)
		case op < 9:
			m.Get(k)
		default:
			m.Delete(k)
		}
		if i%1000 == 0 {
			checkMemory(t, m)
		}
	}
	checkMemory(t, m)
	var want int64
	n := 0
	for _, k := range keys {
		if e, ok := m.Get(k); ok {
			want += int64(len(k)) + e.Size()
			n++
		}
	}
	if got := m.Bytes(); got != want || m.Len() != n {
		t.Errorf("Bytes() = %d with Len() %d, entries found add up to %d in %d", got, m.Len(), want, n)
	}
	if st := m.Stats(); st.Bytes != want || st.Entries != int64(n) {
		t.Errorf("Stats() = %+v, want Bytes %d Entries %d", st, want, n)
	}
	// Overwriting with a different size adjusts the count exactly.
	m.Set("x", Entry{Body: make([]byte, 10)})
	before := m.Bytes()
	m.Set("x", Entry{Body: make([]byte, 30), ETag: "e"})
	if got := m.Bytes() - before; got != 21 {
		t.Errorf("overwrite changed Bytes by %d, want 21", got)
	}
}

func TestMemoryTooLarge(t *testing.T) {
	m := NewMemory(8000)
	if got := m.MaxEntryBytes(); got != 1000 {
		t.Fatalf("MaxEntryBytes() = %d, want 1000", got)
	}
	m.Set("k", body(999)) // charged 1000
	if _, ok := m.Get("k"); !ok {
		t.Fatal("an entry of exactly MaxEntryBytes was not admitted")
	}
	m.Set("k", body(1000))
	if _, ok := m.Get("k"); ok {
		t.Error("an oversized update left the stale entry in place")
	}
	if m.Bytes() != 0 || m.Len() != 0 {
		t.Errorf("Bytes %d Len %d after an oversized Set, want 0 0", m.Bytes(), m.Len())
	}
}

func TestMemoryDeletePrefix(t *testing.T) {
	for name, c := range map[string]interface {
		Set(string, Entry)
		Get(string) (Entry, bool)
		DeletePrefix(string) int
		Delete(string) bool
		Bytes() int64
		Len() int
	}{"S3-FIFO": NewMemory(1 << 20), "S3-FIFO sharded": NewMemory(1 << 30), "LRU": NewLRU(1 << 20)} {
		t.Run(name, func(t *testing.T) {
			keys := []string{"/v/a/master.m3u8", "/v/a/720p/init.mp4", "/v/a/720p/seg_00001.m4s", "/v/ab/master.m3u8", "/v/b/master.m3u8"}
			for _, k := range keys {
				c.Set(k, body(100))
			}
			if n := c.DeletePrefix("/v/a/"); n != 3 {
				t.Errorf("DeletePrefix removed %d, want 3", n)
			}
			for i, k := range keys {
				if _, ok := c.Get(k); ok != (i >= 3) {
					t.Errorf("after purging /v/a/: Get(%s) found %v", k, ok)
				}
			}
			if want := int64(len("/v/ab/master.m3u8") + len("/v/b/master.m3u8") + 200); c.Bytes() != want || c.Len() != 2 {
				t.Errorf("Bytes %d Len %d, want %d 2", c.Bytes(), c.Len(), want)
			}
			if n := c.DeletePrefix("/v/a/"); n != 0 {
				t.Errorf("second purge removed %d", n)
			}
			if !c.Delete("/v/b/master.m3u8") || c.Delete("/v/b/master.m3u8") {
				t.Error("Delete did not report presence")
			}
		})
	}
}

func TestMemorySharding(t *testing.T) {
	for _, c := range []struct {
		capacity int64
		shards   int
	}{{0, 1}, {100 << 20, 1}, {128 << 20, 2}, {1 << 30, 16}, {64 << 30, 16}} {
		m := NewMemory(c.capacity)
		if len(m.shards) != c.shards {
			t.Errorf("NewMemory(%d): %d shards, want %d", c.capacity, len(m.shards), c.shards)
		}
	}
	m := NewMemory(1 << 30)
	if got := m.MaxEntryBytes(); got != 8<<20 {
		t.Errorf("1 GiB cache admits entries up to %d, want 8 MiB", got)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory(200 << 20)
	big := make([]byte, 4<<20)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 0))
			for range 5000 {
				k := fmt.Sprintf("/v/%d/seg", r.IntN(500))
				switch r.IntN(20) {
				case 0:
					m.Delete(k)
				case 1:
					m.DeletePrefix(k[:4])
				default:
					if e, ok := m.Get(k); ok {
						if len(e.Body) == 0 || e.ETag != fmt.Sprint(len(e.Body)) {
							t.Errorf("%s: body of %d bytes with ETag %q", k, len(e.Body), e.ETag)
						}
					} else {
						n := 1 + r.IntN(4<<20)
						m.Set(k, Entry{Body: big[:n], ETag: fmt.Sprint(n)})
					}
				}
			}
		})
	}
	wg.Wait()
	checkMemory(t, m)
}

// benchKeys returns n keys shaped like edge request paths.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("/v/%08x/720p/seg_%05d.m4s", i/16, i%16)
	}
	return keys
}

// benchGet measures parallel Gets of a Zipf(0.9) mix of 100,000 keys that all fit in the cache.
func benchGet(b *testing.B, c simCache) {
	keys := benchKeys(100_000)
	for _, k := range keys {
		c.Set(k, Entry{Body: sharedBody[:1000]})
	}
	z := newZipf(rand.New(rand.NewPCG(1, 1)), 0.9, len(keys))
	order := make([]int32, 1<<16)
	for i := range order {
		order[i] = int32(z.next())
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(order))
		for pb.Next() {
			if _, ok := c.Get(keys[order[i&(len(order)-1)]]); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}

// benchSet measures parallel Sets of 1 KB entries over 1,000,000 keys into a cache that holds
// a tenth of them, so that most Sets evict.
func benchSet(b *testing.B, c simCache) {
	keys := benchKeys(1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			c.Set(keys[i%len(keys)], Entry{Body: sharedBody[:1000]})
			i += 7919
		}
	})
}

func BenchmarkMemoryGet(b *testing.B) { benchGet(b, NewMemory(1<<30)) }
func BenchmarkLRUGet(b *testing.B)    { benchGet(b, NewLRU(1<<30)) }
func BenchmarkMemorySet(b *testing.B) { benchSet(b, NewMemory(100_000*1040)) }
func BenchmarkLRUSet(b *testing.B)    { benchSet(b, NewLRU(100_000*1040)) }
