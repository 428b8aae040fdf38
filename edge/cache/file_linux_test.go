package cache

import (
	"bytes"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// memFiles counts this process's open memory files of bodies.
func memFiles(t testing.TB) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, de := range des {
		if l, err := os.Readlink("/proc/self/fd/" + de.Name()); err == nil && strings.HasPrefix(l, "/memfd:reelay-body") {
			n++
		}
	}
	return n
}

func readFile(t *testing.T, f *File) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, f.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFileInMemory: an entry's File reads back its bytes, is sealed, and closes when the entry
// has left the cache and the last reference taken with Acquire is released, not before; a
// cache filled and emptied many times over leaves no file open.
func TestFileInMemory(t *testing.T) {
	// Only references close files here, not the garbage collector (os.File's cleanup).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := memFiles(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	f, err := NewFile(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, f); !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes back, not the %d written", len(got), len(body))
	}
	if _, err := f.f.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("the file is writable: it is not sealed")
	}

	m := NewMemory(4 << 20)
	m.Set("/v/a/720p/seg_00001.m4s", Entry{File: f})
	ent, ok := m.Get("/v/a/720p/seg_00001.m4s")
	if !ok || ent.File != f || ent.Len() != int64(len(body)) || ent.Size() != int64(len(body)) {
		t.Fatalf("Get: %v %v, len %d", ent, ok, ent.Len())
	}
	if !ent.File.Acquire() { // a response starts
		t.Fatal("Acquire failed while the entry is cached")
	}
	m.Delete("/v/a/720p/seg_00001.m4s") // a purge while it is sent
	if got := readFile(t, ent.File); !bytes.Equal(got, body) {
		t.Fatal("the file changed after the entry left the cache while a reference was held")
	}
	if memFiles(t) != before+1 {
		t.Fatalf("%d memory files open, want %d", memFiles(t), before+1)
	}
	ent.File.Release() // the response ends
	if memFiles(t) != before {
		t.Fatalf("%d memory files open after the last release, want %d", memFiles(t), before)
	}
	if ent.File.Acquire() {
		t.Fatal("Acquire succeeded on a closed file")
	}

	// Fill and evict: 64 entries of 256 KiB through 4 MiB, one replaced, one too large.
	for i := range 64 {
		f, err := NewFile(body)
		if err != nil {
			t.Fatal(err)
		}
		m.Set("/v/b/720p/seg_"+string(rune('A'+i))+".m4s", Entry{File: f})
	}
	f2, _ := NewFile(body)
	m.Set("/v/b/720p/seg_A.m4s", Entry{File: f2})
	big, _ := NewFile(make([]byte, 1<<20)) // more than an eighth of 4 MiB: not admitted
	m.Set("/v/b/720p/big.m4s", Entry{File: big})
	if got, want := memFiles(t), before+m.Len(); got != want {
		t.Fatalf("%d memory files open with %d entries cached, want %d", got, m.Len(), want)
	}
	m.DeletePrefix("/v/")
	if got := memFiles(t); got != before {
		t.Fatalf("%d memory files open after the cache emptied, want %d", got, before)
	}
}
