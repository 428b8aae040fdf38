package cache

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Disk is a cache of entries in files under a directory, sized in bytes, evicting with SIEVE
// (Zhang et al., "SIEVE is simpler than LRU", NSDI 2024). It is safe for concurrent use; one Disk
// must own its directory at a time (several processes sharing one are not supported).
//
// Each entry is one file, dir/ab/cd/<sha256 of the key in hex> (ab and cd being the hash's first
// two bytes), whose header holds the key, the Entry's metadata and a CRC-32C of the body (see
// disk_file.go). Every read checks the body against the CRC: a corrupt or truncated file is a
// miss and is deleted. Set writes a file under dir/tmp and renames it into place, so readers see
// the old file or the new one, never a part of either; a reader keeps reading the file it opened
// when the key is overwritten or deleted meanwhile.
//
// Set does not fsync unless DiskOptions.Sync is set. A crash may then lose recent Sets or leave
// files whose bodies never reached the disk; these fail their checksum on first read and become
// misses, which for a cache of data that the origin still holds is cheaper than an fsync per
// segment.
//
// The index (key, file size, a visited bit) is in memory. OpenDisk rebuilds it synchronously by
// reading every file's header, not its body: 2.2 s for 100,000 files measured with the
// directories in the page cache, more from a cold disk (a background scan can come later if
// caches grow much beyond that). Files that are not valid cache files (bad header, wrong name or
// size) and leftovers in dir/tmp are deleted; bodies are checked on first read, not here. The
// rebuilt queue is ordered by the files' modification times, all unvisited.
//
// Eviction is SIEVE: one FIFO queue of keys, a visited bit set by reads, and a hand that walks
// from the oldest key towards the newest, clearing visited bits and evicting the first key whose
// bit is clear. Keys enter at the new end unvisited, so a scan of one-time keys is evicted on the
// hand's next pass while keys read since their last pass stay. Each eviction costs O(1) amortised.
//
// An entry whose file (header plus body) is larger than an eighth of the capacity is refused with
// ErrTooLarge. Capacity counts file sizes, not the file system's blocks and directories.
type Disk struct {
	dir      string
	tmpDir   string
	capacity int64
	maxEntry int64
	sync     bool

	mu        sync.Mutex
	items     map[string]*node[diskItem]
	queue     list[diskItem]  // front: newest
	hand      *node[diskItem] // SIEVE's hand: the next eviction candidate; nil means the oldest
	bytes     int64
	evictions int64
	closed    bool

	hits, misses atomic.Int64
}

type diskItem struct {
	key     string
	size    int64 // the file's size
	visited bool
}

// DiskOptions tune a Disk. The zero value is the default.
type DiskOptions struct {
	// Sync makes Set fsync each file before renaming it into place, and its directory after.
	// Default false: see Disk.
	Sync bool
}

// OpenDisk opens the disk cache in dir, creating dir if needed, with the default options.
func OpenDisk(dir string, capacityBytes int64) (*Disk, error) {
	return OpenDiskWith(dir, capacityBytes, DiskOptions{})
}

// OpenDiskWith opens the disk cache in dir, creating dir if needed. It indexes the files already
// there and, if they hold more than capacityBytes, evicts the oldest.
func OpenDiskWith(dir string, capacityBytes int64, opts DiskOptions) (*Disk, error) {
	if capacityBytes <= 0 {
		return nil, fmt.Errorf("cache: disk capacity %d, want > 0", capacityBytes)
	}
	d := &Disk{
		dir:      dir,
		tmpDir:   filepath.Join(dir, "tmp"),
		capacity: capacityBytes,
		maxEntry: capacityBytes / maxEntryDiv,
		sync:     opts.Sync,
		items:    make(map[string]*node[diskItem]),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := os.RemoveAll(d.tmpDir); err != nil {
		return nil, fmt.Errorf("cache: removing leftovers: %w", err)
	}
	if err := os.Mkdir(d.tmpDir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	for d.bytes > d.capacity {
		d.evict()
	}
	return d, nil
}

// load indexes the files under d.dir.
func (d *Disk) load() error {
	type found struct {
		key   string
		size  int64
		mtime time.Time
	}
	var files []found
	err := forEachHexDir(d.dir, func(top string) error {
		return forEachHexDir(filepath.Join(d.dir, top), func(sub string) error {
			dir := filepath.Join(d.dir, top, sub)
			ents, err := os.ReadDir(dir)
			if err != nil {
				return err
			}
			for _, ent := range ents {
				p := filepath.Join(dir, ent.Name())
				h, info, err := checkFile(p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err == nil && (!strings.HasPrefix(ent.Name(), top+sub) || ent.Name() != fileName(h.key)) {
					err = fmt.Errorf("%w: %s holds key %q", ErrCorrupt, p, h.key)
				}
				if err != nil {
					if errors.Is(err, ErrCorrupt) {
						err = os.RemoveAll(p)
					}
					if err != nil {
						return err
					}
					continue
				}
				files = append(files, found{h.key, info.Size(), info.ModTime()})
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("cache: indexing %s: %w", d.dir, err)
	}
	slices.SortFunc(files, func(a, b found) int {
		return cmp.Or(a.mtime.Compare(b.mtime), strings.Compare(a.key, b.key))
	})
	for _, f := range files {
		n := &node[diskItem]{v: diskItem{key: f.key, size: f.size}}
		d.queue.pushFront(n)
		d.items[f.key] = n
		d.bytes += f.size
	}
	return nil
}

// forEachHexDir calls fn with the name of every subdirectory of dir named by two lowercase hex
// digits, as the fan-out directories are.
func forEachHexDir(dir string, fn func(name string) error) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		name := ent.Name()
		if !ent.IsDir() || len(name) != 2 || strings.Trim(name, "0123456789abcdef") != "" {
			continue
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	return nil
}

// checkFile reads the header of the cache file at p and checks it against the file's size. A
// file that is not a valid cache file gives an error wrapping ErrCorrupt.
func checkFile(p string) (fileHeader, fs.FileInfo, error) {
	info, err := os.Lstat(p)
	if err != nil {
		return fileHeader{}, nil, err
	}
	if !info.Mode().IsRegular() {
		return fileHeader{}, nil, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, p)
	}
	f, err := os.Open(p)
	if err != nil {
		return fileHeader{}, nil, err
	}
	defer f.Close()
	h, err := readHeader(f)
	if err == nil && info.Size() != h.len+h.meta.Size {
		err = fmt.Errorf("%w: %d bytes, header says %d", ErrCorrupt, info.Size(), h.len+h.meta.Size)
	}
	return h, info, err
}

// fileName is the name of key's file: the hex SHA-256 of the key.
func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// path is where key's file lives.
func (d *Disk) path(key string) string {
	name := fileName(key)
	return filepath.Join(d.dir, name[:2], name[2:4], name)
}

// Capacity is the cache's size in bytes, as given to OpenDisk.
func (d *Disk) Capacity() int64 { return d.capacity }

// MaxEntryBytes is the largest file (header plus body) that Set admits.
func (d *Disk) MaxEntryBytes() int64 { return d.maxEntry }

// Get returns the entry stored under key, reading and checking the whole body.
func (d *Disk) Get(key string) (Entry, bool) {
	f, h, ok := d.open(key)
	if !ok {
		d.count(false)
		return Entry{}, false
	}
	defer f.Close()
	body := make([]byte, h.meta.Size)
	if _, err := io.ReadFull(f, body); err != nil || crc32.Checksum(body, castagnoli) != h.bodyCRC {
		d.discard(key, f)
		d.count(false)
		return Entry{}, false
	}
	d.count(true)
	m := h.meta
	return Entry{
		Body:         body,
		ContentType:  m.ContentType,
		CacheControl: m.CacheControl,
		ETag:         m.ETag,
		LastModified: m.LastModified,
		StoredAt:     m.StoredAt,
		Private:      m.Private,
	}, true
}

// Open returns a reader of the body stored under key, for streaming it, and its metadata. The
// caller must close the reader. The header and the file's size are checked before Open returns;
// the body's checksum can only be checked at its end, so the reader's last Read returns
// ErrCorrupt, instead of io.EOF, if the body was bad (after delivering it): a server streaming
// the body must then abort the response. Open counts as a hit even then.
func (d *Disk) Open(key string) (io.ReadCloser, Meta, bool) {
	f, h, ok := d.open(key)
	d.count(ok)
	if !ok {
		return nil, Meta{}, false
	}
	return &bodyReader{d: d, key: key, f: f, left: h.meta.Size, want: h.bodyCRC}, h.meta, true
}

// open opens key's file and reads its header, which it checks against the key and the file's
// size. On failure it discards the file, and reports false.
func (d *Disk) open(key string) (*os.File, fileHeader, bool) {
	d.mu.Lock()
	n := d.items[key]
	if n == nil || d.closed {
		d.mu.Unlock()
		return nil, fileHeader{}, false
	}
	n.v.visited = true
	d.mu.Unlock()

	f, err := os.Open(d.path(key))
	if err != nil {
		d.discard(key, nil)
		return nil, fileHeader{}, false
	}
	h, err := readHeader(f)
	if err == nil && h.key != key {
		err = fmt.Errorf("%w: file holds key %q", ErrCorrupt, h.key)
	}
	if err == nil {
		var info fs.FileInfo
		if info, err = f.Stat(); err == nil && info.Size() != h.len+h.meta.Size {
			err = fmt.Errorf("%w: %d bytes, header says %d", ErrCorrupt, info.Size(), h.len+h.meta.Size)
		}
	}
	if err != nil {
		d.discard(key, f)
		f.Close()
		return nil, fileHeader{}, false
	}
	return f, h, true
}

// discard forgets key after its file, f, turned out bad (or, with f nil, could not be opened):
// it deletes the file, unless the key was set again meanwhile and the path holds a newer file.
func (d *Disk) discard(key string, f *os.File) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.path(key)
	cur, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Gone: forget it.
	case err != nil || f == nil:
		return // it can be opened after all, or we cannot tell: leave it to the next reader
	default:
		mine, err := f.Stat()
		if err != nil || !os.SameFile(mine, cur) {
			return
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
	if n := d.items[key]; n != nil {
		d.unlink(n)
	}
}

func (d *Disk) count(hit bool) {
	if hit {
		d.hits.Add(1)
	} else {
		d.misses.Add(1)
	}
}

// bodyReader streams a body, checking its CRC at the end.
type bodyReader struct {
	d    *Disk
	key  string
	f    *os.File
	left int64 // body bytes not yet read
	crc  uint32
	want uint32
	err  error // sticky: io.EOF, ErrCorrupt or a read error
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		return 0, r.finish()
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.f.Read(p)
	r.crc = crc32.Update(r.crc, castagnoli, p[:n])
	r.left -= int64(n)
	switch {
	case r.left == 0:
		return n, r.finish()
	case err == io.EOF: // the file shrank after open checked its size
		r.err = fmt.Errorf("%w: %s: body cut short", ErrCorrupt, r.key)
		r.d.discard(r.key, r.f)
		return n, r.err
	case err != nil:
		r.err = err
		return n, err
	}
	return n, nil
}

// finish checks the CRC of the whole body.
func (r *bodyReader) finish() error {
	r.err = io.EOF
	if r.crc != r.want {
		r.err = fmt.Errorf("%w: %s: body checksum %08x, want %08x", ErrCorrupt, r.key, r.crc, r.want)
		r.d.discard(r.key, r.f)
	}
	return r.err
}

func (r *bodyReader) Close() error { return r.f.Close() }

// Set stores e under key, replacing any entry there, and evicts entries until everything fits.
// An entry whose file would be larger than MaxEntryBytes is refused with ErrTooLarge, and the
// key's old entry, now stale, is deleted.
func (d *Disk) Set(key string, e Entry) error {
	m := e.Meta()
	hdr := appendHeader(nil, key, m, crc32.Checksum(e.Body, castagnoli))
	size := int64(len(hdr)) + m.Size
	if size > d.maxEntry {
		d.Delete(key)
		return fmt.Errorf("%w: %d bytes for %q, at most %d", ErrTooLarge, size, key, d.maxEntry)
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return ErrClosed
	}

	p := d.path(key)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil { // fan-out directories are never removed
		return fmt.Errorf("cache: %w", err)
	}
	tmp, err := d.writeTemp(hdr, e.Body)
	if err != nil {
		return err
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		os.Remove(tmp)
		return ErrClosed
	}
	if err := os.Rename(tmp, p); err != nil {
		d.mu.Unlock()
		os.Remove(tmp)
		return fmt.Errorf("cache: %w", err)
	}
	visited := false
	if old := d.items[key]; old != nil {
		// The old file is gone with the rename; the key re-enters at the new end.
		visited = old.v.visited
		d.unlink(old)
	}
	for d.bytes+size > d.capacity {
		d.evict()
	}
	n := &node[diskItem]{v: diskItem{key: key, size: size, visited: visited}}
	d.queue.pushFront(n)
	d.items[key] = n
	d.bytes += size
	d.mu.Unlock()

	if d.sync {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
	}
	return nil
}

// writeTemp writes a file under d.tmpDir and returns its path.
func (d *Disk) writeTemp(hdr, body []byte) (string, error) {
	f, err := os.CreateTemp(d.tmpDir, "set-*")
	if err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	_, err = f.Write(hdr)
	if err == nil {
		_, err = f.Write(body)
	}
	if err == nil && d.sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("cache: %w", err)
	}
	return f.Name(), nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Delete removes key's entry and reports whether there was one. If its file cannot be removed
// (an I/O error), the key is forgotten anyway and comes back at the next OpenDisk.
func (d *Disk) Delete(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.items[key]
	if n == nil {
		return false
	}
	d.remove(n)
	return true
}

// DeletePrefix removes every entry whose key starts with prefix, such as "/v/{video}/" to purge a
// video, and returns how many it removed. It looks at every key in the index. A Set of a matching
// key that is under way (its file being written) when DeletePrefix runs lands after it.
func (d *Disk) DeletePrefix(prefix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	removed := 0
	for key, n := range d.items {
		if strings.HasPrefix(key, prefix) {
			d.remove(n)
			removed++
		}
	}
	return removed
}

// Len returns the number of entries held.
func (d *Disk) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.items)
}

// Bytes returns the bytes held: the sizes of the entries' files.
func (d *Disk) Bytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bytes
}

// Stats returns the cache's counters since OpenDisk.
func (d *Disk) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{Hits: d.hits.Load(), Misses: d.misses.Load(), Evictions: d.evictions, Bytes: d.bytes, Entries: int64(len(d.items))}
}

// Close stops the cache: Get and Open miss and Set returns ErrClosed from then on. Readers from
// Open stay usable until closed. The files stay for the next OpenDisk.
func (d *Disk) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

// evict removes the entry SIEVE picks. The caller holds d.mu and makes sure the queue is not
// empty.
func (d *Disk) evict() {
	n := d.hand
	if n == nil {
		n = d.queue.back()
	}
	for n.v.visited {
		n.v.visited = false
		if n = d.queue.newer(n); n == nil {
			n = d.queue.back()
		}
	}
	d.hand = d.queue.newer(n)
	d.remove(n)
	d.evictions++
}

// remove deletes n's file and forgets it. The caller holds d.mu.
func (d *Disk) remove(n *node[diskItem]) {
	os.Remove(d.path(n.v.key)) // on failure the file is orphaned until the next OpenDisk
	d.unlink(n)
}

// unlink forgets n, keeping the hand on the queue. The caller holds d.mu.
func (d *Disk) unlink(n *node[diskItem]) {
	if d.hand == n {
		d.hand = d.queue.newer(n)
	}
	d.queue.remove(n)
	delete(d.items, n.v.key)
	d.bytes -= n.v.size
}
