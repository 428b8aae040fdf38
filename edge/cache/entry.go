// Package cache holds the edge's object caches: a memory tier (Memory, evicting with S3-FIFO) and
// a disk tier (Disk, files under a directory, evicting with SIEVE). Both are sized in bytes, keyed
// by request path ("/v/{video}/720p/seg_00003.m4s"), safe for concurrent use, and store an Entry:
// the body with the response headers the edge replays.
//
// LRU is a plain least-recently-used memory cache with the same API. It is the baseline the tests
// and bench/ compare S3-FIFO against, not something to serve from.
//
// The caches do not expire anything: freshness (Cache-Control, revalidation) is the edge's
// business. They only decide what to keep when full, and forget keys on Delete and DeletePrefix.
package cache

import (
	"errors"
	"time"
)

// Entry is a cached response: the body and the headers the edge serves with it.
//
// A cache keeps the Entry it is given, Body included, and Get returns that same Body slice:
// neither the caller of Set nor the caller of Get may modify the bytes afterwards.
type Entry struct {
	Body         []byte
	ContentType  string    // Content-Type
	CacheControl string    // Cache-Control
	ETag         string    // ETag, in HTTP form with its quotes
	LastModified string    // Last-Modified, in HTTP date form
	StoredAt     time.Time // when the edge stored it, for Age and freshness
	// Private marks an object of a private video, which the edge serves only on a signed URL.
	Private bool
}

// Size is what an entry is charged in a cache, besides its key: the body plus its header strings.
// The bookkeeping around each entry (a couple of hundred bytes in Memory) is not counted.
func (e Entry) Size() int64 {
	return int64(len(e.Body) + len(e.ContentType) + len(e.CacheControl) + len(e.ETag) + len(e.LastModified))
}

// Meta returns the entry's metadata, without the body.
func (e Entry) Meta() Meta {
	return Meta{
		ContentType:  e.ContentType,
		CacheControl: e.CacheControl,
		ETag:         e.ETag,
		LastModified: e.LastModified,
		StoredAt:     e.StoredAt,
		Private:      e.Private,
		Size:         int64(len(e.Body)),
	}
}

// Meta is an Entry without its body, as Disk.Open returns it for streaming.
type Meta struct {
	ContentType  string
	CacheControl string
	ETag         string
	LastModified string
	StoredAt     time.Time
	Private      bool
	Size         int64 // the body's length in bytes
}

// Stats are a cache's counters since it was created (Disk: since it was opened).
type Stats struct {
	Hits      int64 // Get (and Disk.Open) calls that found the key
	Misses    int64 // Get (and Disk.Open) calls that did not, corrupt files included
	Evictions int64 // entries dropped to make room; Delete and DeletePrefix do not count
	Bytes     int64 // bytes held now, as charged (see Entry.Size, Disk)
	Entries   int64 // entries held now
}

// HitRatio is Hits / (Hits + Misses), or 0 before the first lookup.
func (s Stats) HitRatio() float64 {
	if n := s.Hits + s.Misses; n > 0 {
		return float64(s.Hits) / float64(n)
	}
	return 0
}

var (
	// ErrTooLarge is returned by Disk.Set for an entry bigger than the disk's largest admitted
	// entry (an eighth of its capacity). Memory and LRU drop such entries silently.
	ErrTooLarge = errors.New("cache: entry too large")
	// ErrCorrupt is returned by the reader of Disk.Open when the body does not match its
	// checksum or is cut short; the file has been deleted by then.
	ErrCorrupt = errors.New("cache: corrupt cache file")
	// ErrClosed is returned by Disk.Set after Close.
	ErrClosed = errors.New("cache: disk closed")
)
