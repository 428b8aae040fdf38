package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

func openDisk(t *testing.T, dir string, capacity int64) *Disk {
	t.Helper()
	d, err := OpenDisk(dir, capacity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// segment returns an entry with a body of n pseudo-random bytes and full metadata.
func segment(r *rand.Rand, n int) Entry {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return Entry{
		Body:         b,
		ContentType:  "video/iso.segment",
		CacheControl: "public, max-age=31536000, immutable",
		ETag:         fmt.Sprintf(`"%x"`, r.Uint64()),
		LastModified: "Tue, 03 Jun 2025 10:00:00 GMT",
		StoredAt:     time.Date(2025, 6, 3, 10, 0, 1, 123456789, time.UTC),
		Private:      r.IntN(2) == 0,
	}
}

func sameEntry(t *testing.T, key string, got, want Entry) {
	t.Helper()
	if !bytes.Equal(got.Body, want.Body) {
		t.Errorf("%s: body of %d bytes differs from the %d stored", key, len(got.Body), len(want.Body))
	}
	sameMeta(t, key, got.Meta(), want.Meta())
}

func sameMeta(t *testing.T, key string, got, want Meta) {
	t.Helper()
	if !got.StoredAt.Equal(want.StoredAt) {
		t.Errorf("%s: StoredAt %v, want %v", key, got.StoredAt, want.StoredAt)
	}
	got.StoredAt, want.StoredAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("%s: metadata %+v, want %+v", key, got, want)
	}
}

// diskFiles returns the sizes of the files in dir's fan-out directories, by path.
func diskFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	files := make(map[string]int64)
	err := filepath.WalkDir(dir, func(p string, ent fs.DirEntry, err error) error {
		if err != nil || ent.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if m, _ := filepath.Match("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*", filepath.ToSlash(rel)); !m {
			return nil // not a cache file
		}
		info, err := ent.Info()
		if err != nil {
			return err
		}
		files[p] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkDisk verifies that the index, the byte count and the files agree.
func checkDisk(t *testing.T, d *Disk) {
	t.Helper()
	files := diskFiles(t, d.dir)
	d.mu.Lock()
	defer d.mu.Unlock()
	var sum int64
	n := 0
	for q := d.queue.back(); q != nil; q = d.queue.newer(q) {
		n++
		sum += q.v.size
		if d.items[q.v.key] != q {
			t.Errorf("%s queued but not indexed", q.v.key)
		}
		if size, ok := files[d.path(q.v.key)]; !ok || size != q.v.size {
			t.Errorf("%s: indexed with %d bytes, file has %d (exists %v)", q.v.key, q.v.size, size, ok)
		}
	}
	if n != len(d.items) || n != len(files) {
		t.Errorf("%d queued, %d indexed, %d files", n, len(d.items), len(files))
	}
	if sum != d.bytes {
		t.Errorf("files add up to %d bytes, counter says %d", sum, d.bytes)
	}
	if d.bytes > d.capacity {
		t.Errorf("%d bytes over capacity %d", d.bytes, d.capacity)
	}
}

func TestDiskRoundTrip(t *testing.T) {
	d := openDisk(t, t.TempDir(), 10<<20)
	r := rand.New(rand.NewPCG(1, 1))
	entries := map[string]Entry{
		"/v/a/master.m3u8":        {Body: []byte("#EXTM3U\n"), ContentType: "application/vnd.apple.mpegurl", CacheControl: "max-age=2"},
		"/v/a/720p/seg_00001.m4s": segment(r, 300_000),
		"/v/a/empty":              {},
		"/v/a/no-time":            {Body: []byte("x"), ETag: `"1"`},
	}
	for k, e := range entries {
		if err := d.Set(k, e); err != nil {
			t.Fatal(err)
		}
	}
	for k, want := range entries {
		got, ok := d.Get(k)
		if !ok {
			t.Fatalf("Get(%s) missed", k)
		}
		sameEntry(t, k, got, want)

		rc, meta, ok := d.Open(k)
		if !ok {
			t.Fatalf("Open(%s) missed", k)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("Open(%s): %v", k, err)
		}
		if !bytes.Equal(body, want.Body) {
			t.Errorf("Open(%s): body of %d bytes differs from the %d stored", k, len(body), len(want.Body))
		}
		sameMeta(t, k, meta, want.Meta())
	}
	if _, ok := d.Get("/v/missing"); ok {
		t.Error("Get of a missing key hit")
	}
	if st := d.Stats(); st.Hits != 8 || st.Misses != 1 || st.Entries != 4 {
		t.Errorf("stats %+v, want 8 hits, 1 miss, 4 entries", st)
	}
	// Overwrite with a different size.
	e := segment(r, 1000)
	if err := d.Set("/v/a/720p/seg_00001.m4s", e); err != nil {
		t.Fatal(err)
	}
	got, _ := d.Get("/v/a/720p/seg_00001.m4s")
	sameEntry(t, "overwritten", got, e)
	checkDisk(t, d)
}

func TestDiskRestart(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, 50<<20)
	r := rand.New(rand.NewPCG(2, 2))
	entries := make(map[string]Entry)
	for i := range 200 {
		k := fmt.Sprintf("/v/%d/seg_%d.m4s", i%20, i)
		entries[k] = segment(r, r.IntN(100_000))
		if err := d.Set(k, entries[k]); err != nil {
			t.Fatal(err)
		}
	}
	len1, bytes1 := d.Len(), d.Bytes()
	d.Close()
	if err := d.Set("after-close", Entry{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close: %v, want ErrClosed", err)
	}
	if _, ok := d.Get("/v/0/seg_0.m4s"); ok {
		t.Error("Get after Close hit")
	}

	// Leftovers a crash could leave, and files that are not ours.
	junk := map[string]bool{ // path -> should survive
		filepath.Join(dir, "tmp", "set-123"):       false,
		filepath.Join(dir, "ab", "cd", "garbage"):  false,
		filepath.Join(dir, "ab", "cd", "empty"):    false,
		filepath.Join(dir, "notes.txt"):            true,
		filepath.Join(dir, "other", "ab", "thing"): true,
	}
	for p := range junk {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		content := []byte("not a cache file")
		if filepath.Base(p) == "empty" {
			content = nil
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A valid file under the wrong name is not trusted either.
	misplaced := filepath.Join(dir, "ab", "cd", "abcd"+fileName("x")[4:])
	data, err := os.ReadFile(d.path("/v/0/seg_0.m4s"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(misplaced, data, 0o644); err != nil {
		t.Fatal(err)
	}
	junk[misplaced] = false

	d2 := openDisk(t, dir, 50<<20)
	if d2.Len() != len1 || d2.Bytes() != bytes1 {
		t.Errorf("after restart: Len %d Bytes %d, before: %d %d", d2.Len(), d2.Bytes(), len1, bytes1)
	}
	for p, keep := range junk {
		if _, err := os.Stat(p); (err == nil) != keep {
			t.Errorf("%s: exists %v after restart, want %v", p, err == nil, keep)
		}
	}
	for k, want := range entries {
		got, ok := d2.Get(k)
		if !ok {
			t.Fatalf("%s missing after restart", k)
		}
		sameEntry(t, k, got, want)
	}
	checkDisk(t, d2)

	// Reopening with less capacity evicts down to it.
	d2.Close()
	d3 := openDisk(t, dir, bytes1/2)
	if d3.Bytes() > bytes1/2 || d3.Len() == 0 {
		t.Errorf("reopened at half capacity: Len %d Bytes %d", d3.Len(), d3.Bytes())
	}
	checkDisk(t, d3)
}

func TestDiskCorruption(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, c := range []struct {
		name    string
		corrupt func(t *testing.T, d *Disk, p string)
	}{
		{"flipped body byte", func(t *testing.T, d *Disk, p string) { flip(t, p, -1000) }},
		{"flipped last byte", func(t *testing.T, d *Disk, p string) { flip(t, p, -1) }},
		{"flipped header byte", func(t *testing.T, d *Disk, p string) { flip(t, p, 20) }},
		{"flipped magic", func(t *testing.T, d *Disk, p string) { flip(t, p, 0) }},
		{"truncated body", func(t *testing.T, d *Disk, p string) { truncate(t, p, -1) }},
		{"truncated header", func(t *testing.T, d *Disk, p string) { truncate(t, p, 30) }},
		{"emptied", func(t *testing.T, d *Disk, p string) { truncate(t, p, 0) }},
		{"extended", func(t *testing.T, d *Disk, p string) {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("x"))
			f.Close()
		}},
		{"another key's file", func(t *testing.T, d *Disk, p string) {
			if err := os.Rename(d.path("other"), p); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted", func(t *testing.T, d *Disk, p string) { os.Remove(p) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, read := range []string{"Get", "Open"} {
				t.Run(read, func(t *testing.T) {
					d := openDisk(t, t.TempDir(), 10<<20)
					const k = "/v/a/720p/seg_00001.m4s"
					for _, k := range []string{k, "other"} {
						if err := d.Set(k, segment(r, 50_000)); err != nil {
							t.Fatal(err)
						}
					}
					p := d.path(k)
					c.corrupt(t, d, p)
					if read == "Get" {
						if _, ok := d.Get(k); ok {
							t.Fatal("Get of a corrupt file hit")
						}
					} else if rc, _, ok := d.Open(k); ok {
						_, err := io.ReadAll(rc)
						rc.Close()
						if !errors.Is(err, ErrCorrupt) {
							t.Fatalf("reading a corrupt body from Open: %v, want ErrCorrupt", err)
						}
					}
					if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("the corrupt file is still there: %v", err)
					}
					if _, ok := d.Get(k); ok {
						t.Error("second Get hit")
					}
					if st := d.Stats(); st.Hits > 1 || st.Misses < 1 {
						t.Errorf("stats %+v", st)
					}
					if c.name != "another key's file" {
						checkDisk(t, d)
					}
				})
			}
		})
	}
}

// flip inverts the byte at offset off of the file at p; a negative offset counts from the end.
func flip(t *testing.T, p string, off int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// truncate cuts the file at p to n bytes; a negative n cuts -n bytes off the end.
func truncate(t *testing.T, p string, n int64) {
	t.Helper()
	if n < 0 {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

func TestDiskCorruptHeaderDroppedAtOpen(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, 10<<20)
	r := rand.New(rand.NewPCG(4, 4))
	for _, k := range []string{"a", "b", "c"} {
		if err := d.Set(k, segment(r, 10_000)); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	flip(t, d.path("a"), 10)     // header
	truncate(t, d.path("b"), -1) // size no longer matches the header
	d2 := openDisk(t, dir, 10<<20)
	if d2.Len() != 1 {
		t.Errorf("%d entries after restart, want 1", d2.Len())
	}
	for _, k := range []string{"a", "b"} {
		if _, err := os.Stat(d.path(k)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: bad file not deleted at open: %v", k, err)
		}
	}
	checkDisk(t, d2)
}

func TestDiskCapacity(t *testing.T) {
	d := openDisk(t, t.TempDir(), 200_000)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 300 {
		if err := d.Set(strconv.Itoa(i), segment(r, r.IntN(20_000))); err != nil {
			t.Fatal(err)
		}
		if d.Bytes() > 200_000 {
			t.Fatalf("after %d Sets: %d bytes", i, d.Bytes())
		}
	}
	checkDisk(t, d)
	if st := d.Stats(); st.Evictions == 0 || st.Evictions+st.Entries != 300 {
		t.Errorf("stats %+v: want evictions + entries = 300", st)
	}
	if got := d.MaxEntryBytes(); got != 25_000 {
		t.Errorf("MaxEntryBytes() = %d, want 25000", got)
	}
	d.Set("big", Entry{Body: []byte("old")})
	if err := d.Set("big", Entry{Body: make([]byte, 25_000)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Set of an oversized entry: %v, want ErrTooLarge", err)
	}
	if _, ok := d.Get("big"); ok {
		t.Error("an oversized Set left the stale entry")
	}
	checkDisk(t, d)
}

func TestDiskSIEVEKeepsReadKeys(t *testing.T) {
	d := openDisk(t, t.TempDir(), 100*1100)
	r := rand.New(rand.NewPCG(6, 6))
	for i := range 10 {
		d.Set(fmt.Sprintf("hot%d", i), segment(r, 1000))
	}
	for i := range 1000 { // a scan of ten times the capacity
		d.Set(fmt.Sprintf("scan%d", i), segment(r, 1000))
		if i%50 == 0 {
			for j := range 10 {
				if _, ok := d.Get(fmt.Sprintf("hot%d", j)); !ok {
					t.Fatalf("hot%d evicted by the scan at %d", j, i)
				}
			}
		}
	}
	checkDisk(t, d)
}

func TestDiskDeletePrefix(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, 10<<20)
	keys := []string{"/v/a/master.m3u8", "/v/a/720p/init.mp4", "/v/a/720p/seg_00001.m4s", "/v/ab/master.m3u8", "/v/b/master.m3u8"}
	for _, k := range keys {
		if err := d.Set(k, Entry{Body: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.DeletePrefix("/v/a/"); n != 3 {
		t.Errorf("DeletePrefix removed %d, want 3", n)
	}
	for i, k := range keys {
		if _, ok := d.Get(k); ok != (i >= 3) {
			t.Errorf("after purging /v/a/: Get(%s) found %v", k, ok)
		}
		if _, err := os.Stat(d.path(k)); (err == nil) != (i >= 3) {
			t.Errorf("after purging /v/a/: %s's file exists %v", k, err == nil)
		}
	}
	if !d.Delete("/v/b/master.m3u8") || d.Delete("/v/b/master.m3u8") {
		t.Error("Delete did not report presence")
	}
	checkDisk(t, d)
	d.Close()
	d2 := openDisk(t, dir, 10<<20)
	if d2.Len() != 1 {
		t.Errorf("purged keys came back after restart: %d entries", d2.Len())
	}
}

// TestDiskConcurrentSameKey overwrites a few keys while others read them: every body read must be
// one of the bodies written, whole.
func TestDiskConcurrentSameKey(t *testing.T) {
	d := openDisk(t, t.TempDir(), 64<<20)
	keys := []string{"/v/x/seg_1.m4s", "/v/x/seg_2.m4s"}
	// Body v is v+1 repeats of byte v, so a torn or mixed body cannot pass for a whole one.
	bodyOf := func(v int) []byte { return bytes.Repeat([]byte{byte(v)}, (v+1)*10_000) }
	check := func(k string, b []byte, etag string) {
		v, err := strconv.Atoi(etag)
		if err != nil || !bytes.Equal(b, bodyOf(v)) {
			t.Errorf("%s: read %d bytes starting %v with ETag %q: not a body that was written", k, len(b), b[:min(len(b), 4)], etag)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Go(func() {
			for i := range 200 {
				v := (w*7 + i) % 50
				if err := d.Set(keys[i%len(keys)], Entry{Body: bodyOf(v), ETag: strconv.Itoa(v)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	reads := make([]int, 3)
	for w := range reads {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[i%len(keys)]
				if w == 0 {
					rc, meta, ok := d.Open(k)
					if !ok {
						continue
					}
					b, err := io.ReadAll(rc)
					rc.Close()
					if err != nil {
						t.Errorf("%s: %v", k, err)
						continue
					}
					check(k, b, meta.ETag)
				} else {
					e, ok := d.Get(k)
					if !ok {
						continue
					}
					check(k, e.Body, e.ETag)
				}
				reads[w]++
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if reads[0] == 0 || reads[1]+reads[2] == 0 {
		t.Errorf("reads %v: the readers did not overlap the writers", reads)
	}
	if st := d.Stats(); st.Entries != 2 {
		t.Errorf("stats %+v, want 2 entries", st)
	}
	checkDisk(t, d)
}

func TestDiskConcurrent(t *testing.T) {
	d := openDisk(t, t.TempDir(), 2<<20)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for range 500 {
				k := fmt.Sprintf("/v/%d/seg", r.IntN(100))
				switch r.IntN(10) {
				case 0:
					d.Delete(k)
				case 1:
					d.DeletePrefix(k[:4])
				case 2, 3, 4:
					n := r.IntN(200_000)
					if err := d.Set(k, Entry{Body: make([]byte, n), ETag: strconv.Itoa(n)}); err != nil {
						t.Error(err)
					}
				default:
					if e, ok := d.Get(k); ok && strconv.Itoa(len(e.Body)) != e.ETag {
						t.Errorf("%s: %d bytes, ETag %s", k, len(e.Body), e.ETag)
					}
				}
			}
		})
	}
	wg.Wait()
	checkDisk(t, d)
	if st := d.Stats(); st.Hits+st.Misses == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestOpenDiskErrors(t *testing.T) {
	if _, err := OpenDisk(t.TempDir(), 0); err == nil {
		t.Error("OpenDisk with capacity 0 succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := OpenDisk(file, 1<<20); err == nil {
		t.Error("OpenDisk on a regular file succeeded")
	}
}

func TestDiskSync(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDiskWith(dir, 1<<20, DiskOptions{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Set("k", Entry{Body: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if e, ok := d.Get("k"); !ok || string(e.Body) != "v" {
		t.Errorf("Get = %q, %v", e.Body, ok)
	}
}

func FuzzParseHeader(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, e := range []Entry{{}, segment(r, 10), {Body: []byte("#EXTM3U"), ContentType: "application/vnd.apple.mpegurl"}} {
		hdr := appendHeader(nil, "/v/a/seg_1.m4s", e.Meta(), 0)
		f.Add(hdr)
		f.Add(hdr[:len(hdr)-1])
	}
	f.Add([]byte("RLYC\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// A header that parses re-encodes to the same bytes, plus the flags byte that older
		// headers lack.
		again := appendHeader(nil, h.key, h.meta, h.bodyCRC)
		if !bytes.Equal(again, b) && !bytes.Equal(stripFlags(again), b) {
			t.Errorf("re-encoded header differs:\n%x\n%x", again, b)
		}
		h2, err := readHeader(bytes.NewReader(b))
		if err != nil || h2.key != h.key || h2.len != int64(len(b)) {
			t.Errorf("readHeader disagrees with parseHeader: %+v, %v", h2, err)
		}
	})
}

// stripFlags turns a header into the form written before the flags byte existed.
func stripFlags(hdr []byte) []byte {
	end := len(hdr) - 4 // the header's CRC
	b := append([]byte(nil), hdr[:end-1]...)
	binary.LittleEndian.PutUint32(b[5:], uint32(len(b)-filePrefixLen))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func TestDiskHeaderWithoutFlags(t *testing.T) {
	e := Entry{Body: []byte("x"), ContentType: "video/mp4", Private: true}
	old := stripFlags(appendHeader(nil, "/v/a/init.mp4", e.Meta(), 7))
	h, err := parseHeader(old)
	if err != nil {
		t.Fatal(err)
	}
	if h.key != "/v/a/init.mp4" || h.meta.ContentType != "video/mp4" || h.meta.Private || h.bodyCRC != 7 {
		t.Errorf("parsed %+v", h)
	}
	bad := appendHeader(nil, "/v/a/init.mp4", e.Meta(), 7)
	bad[len(bad)-5] = 0x80 // an unknown flag
	binary.LittleEndian.PutUint32(bad[len(bad)-4:], crc32.Checksum(bad[:len(bad)-4], castagnoli))
	if _, err := parseHeader(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown flag: %v", err)
	}
}
