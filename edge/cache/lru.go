package cache

import (
	"strings"
	"sync"
)

// LRU is a plain least-recently-used cache sized in bytes, with Memory's API. It is the baseline
// that the tests and bench/ measure Memory's S3-FIFO against; the edge does not use it. It is safe
// for concurrent use, behind one mutex that every Get takes to move the entry to the front.
//
// Like Memory, it charges each entry its key's length plus Entry.Size and does not admit an
// entry larger than an eighth of its capacity.
type LRU struct {
	mu        sync.Mutex
	items     map[string]*node[lruItem]
	queue     list[lruItem] // front: most recently used
	capacity  int64
	maxEntry  int64
	bytes     int64
	hits      int64
	misses    int64
	evictions int64
}

type lruItem struct {
	key   string
	size  int64
	entry Entry
}

// NewLRU returns an empty LRU that holds up to capacityBytes.
func NewLRU(capacityBytes int64) *LRU {
	capacityBytes = max(capacityBytes, 0)
	return &LRU{
		items:    make(map[string]*node[lruItem]),
		capacity: capacityBytes,
		maxEntry: capacityBytes / maxEntryDiv,
	}
}

// Get returns the entry stored under key and marks it most recently used.
func (c *LRU) Get(key string) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.items[key]
	if n == nil {
		c.misses++
		return Entry{}, false
	}
	c.hits++
	c.queue.moveToFront(n)
	return n.v.entry, true
}

// Set stores e under key as the most recently used entry, evicting the least recently used ones
// until it fits. An entry larger than an eighth of the capacity is not stored, and the key's old
// entry is deleted.
func (c *LRU) Set(key string, e Entry) {
	size := int64(len(key)) + e.Size()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.items[key]; old != nil {
		c.unlink(old)
	}
	if size > c.maxEntry {
		return
	}
	for c.bytes+size > c.capacity {
		c.unlink(c.queue.back())
		c.evictions++
	}
	n := &node[lruItem]{v: lruItem{key: key, size: size, entry: e}}
	c.queue.pushFront(n)
	c.items[key] = n
	c.bytes += size
}

// Delete removes key's entry and reports whether there was one.
func (c *LRU) Delete(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.items[key]
	if n == nil {
		return false
	}
	c.unlink(n)
	return true
}

// DeletePrefix removes every entry whose key starts with prefix and returns how many.
func (c *LRU) DeletePrefix(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	removed := 0
	for key, n := range c.items {
		if strings.HasPrefix(key, prefix) {
			c.unlink(n)
			removed++
		}
	}
	return removed
}

// Len returns the number of entries held.
func (c *LRU) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Bytes returns the bytes held, as charged: keys plus Entry.Size.
func (c *LRU) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Stats returns the cache's counters.
func (c *LRU) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Hits: c.hits, Misses: c.misses, Evictions: c.evictions, Bytes: c.bytes, Entries: int64(len(c.items))}
}

func (c *LRU) unlink(n *node[lruItem]) {
	c.queue.remove(n)
	c.bytes -= n.v.size
	delete(c.items, n.v.key)
}
