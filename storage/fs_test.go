package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func newTestFS(t *testing.T, root string) *FS {
	t.Helper()
	s, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFSTempFilesHidden(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := newTestFS(t, root)

	// A Put stalled in the middle of its body.
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "videos/k", pr, -1, PutOptions{})
		errc <- err
	}()
	if _, err := pw.Write(make([]byte, 1<<20)); err != nil { // returns once Put has read it
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(root, "tmp")); n != 1 {
		t.Errorf("%d temporary files during the Put, want 1", n)
	}
	if _, err := s.Stat(ctx, "videos/k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat during the Put: %v", err)
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Errorf("List during the Put = %q", keys)
	}

	// The body fails: nothing is left behind.
	boom := errors.New("client went away")
	pw.CloseWithError(boom)
	if err := <-errc; !errors.Is(err, boom) {
		t.Errorf("Put error = %v, want %v", err, boom)
	}
	if n := countFiles(t, filepath.Join(root, "tmp")); n != 0 {
		t.Errorf("%d temporary files after a failed Put", n)
	}
	if _, err := s.Stat(ctx, "videos/k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after a failed Put: %v", err)
	}

	// A crash leaves temporary files: List ignores them and NewFS removes them.
	for _, name := range []string{"data-123", "meta-456"} {
		if err := os.WriteFile(filepath.Join(root, "tmp", name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Errorf("List with leftovers = %q", keys)
	}
	newTestFS(t, root)
	if n := countFiles(t, filepath.Join(root, "tmp")); n != 0 {
		t.Errorf("%d leftovers after NewFS", n)
	}
}

func TestFSRestart(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	pi := put(t, newTestFS(t, root), "videos/v/master.m3u8", []byte("#EXTM3U\n"),
		PutOptions{ContentType: "application/vnd.apple.mpegurl", CacheControl: "max-age=2"})

	s := newTestFS(t, root)
	got, gi := get(t, s, "videos/v/master.m3u8")
	if string(got) != "#EXTM3U\n" || gi.ETag != pi.ETag || gi.ContentType != pi.ContentType ||
		gi.CacheControl != pi.CacheControl || !gi.ModTime.Equal(pi.ModTime) {
		t.Errorf("after restart: %q, %+v; put %+v", got, gi, pi)
	}
	if keys := listKeys(t, s, ""); len(keys) != 1 {
		t.Errorf("List after restart = %q", keys)
	}
	if err := s.Ping(ctx); err != nil {
		t.Error(err)
	}
}

func TestFSStaysInRoot(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	s := newTestFS(t, filepath.Join(parent, "store"))
	for _, key := range []string{"../x", "../../x", "a/../../x", "/tmp/x", "..", "a/..", "..\\x", "a\\..\\..\\x", "./x"} {
		if _, err := s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, PutOptions{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidKey", key, err)
		}
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "store" {
		t.Errorf("files outside the root: %v", entries)
	}
	if n := countFiles(t, filepath.Join(parent, "store")); n != 0 {
		t.Errorf("%d files written in the root", n)
	}
}

// A sidecar that does not describe the data file, as a crash between the two renames of a Put
// leaves it, must not lend its metadata to the data.
func TestFSStaleSidecar(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := newTestFS(t, root)
	put(t, s, "k", []byte("one"), PutOptions{ContentType: "text/plain", CacheControl: "no-store"})
	stale, err := os.ReadFile(filepath.Join(root, "meta", "k"))
	if err != nil {
		t.Fatal(err)
	}
	pi := put(t, s, "k", []byte("two"), PutOptions{ContentType: "video/mp4"})

	if err := os.WriteFile(filepath.Join(root, "meta", "k"), stale, 0o644); err != nil {
		t.Fatal(err)
	}
	si, err := s.Stat(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if si.ContentType != DefaultContentType || si.CacheControl != "" || si.ETag == pi.ETag || !isQuoted(si.ETag) {
		t.Errorf("stale sidecar: Stat = %+v", si)
	}

	if err := os.Remove(filepath.Join(root, "meta", "k")); err != nil {
		t.Fatal(err)
	}
	got, gi := get(t, s, "k")
	if string(got) != "two" || gi.ContentType != DefaultContentType || gi.ETag != si.ETag {
		t.Errorf("missing sidecar: %q, %+v", got, gi)
	}
}

// FS keys are paths, so "a" and "a/b" cannot both exist; the second Put fails cleanly.
func TestFSKeyConflict(t *testing.T) {
	ctx := context.Background()
	s := newTestFS(t, t.TempDir())
	put(t, s, "a", []byte("x"), PutOptions{})
	if _, err := s.Put(ctx, "a/b", bytes.NewReader([]byte("y")), 1, PutOptions{}); err == nil {
		t.Error(`Put("a/b") over object "a" succeeded`)
	}
	put(t, s, "c/d", []byte("x"), PutOptions{})
	if _, err := s.Put(ctx, "c", bytes.NewReader([]byte("y")), 1, PutOptions{}); err == nil {
		t.Error(`Put("c") over object "c/d" succeeded`)
	}
	if got, _ := get(t, s, "a"); string(got) != "x" {
		t.Errorf("a = %q", got)
	}
	if got, _ := get(t, s, "c/d"); string(got) != "x" {
		t.Errorf("c/d = %q", got)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func listKeys(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), prefix, func(i Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestFSPlain checks the layout of a Plain store: objects are plain files at their keys, which
// a web server can serve, and the store's own files stay out of the way of keys and listings.
func TestFSPlain(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := NewFSWith(root, FSOptions{Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "720p/index.m3u8", bytes.NewReader([]byte("#EXTM3U\n")), -1, PutOptions{ContentType: "application/vnd.apple.mpegurl"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "720p", "index.m3u8")); err != nil || string(b) != "#EXTM3U\n" {
		t.Fatalf("the object as a plain file: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "720p", "index.m3u8")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the object's file mode: %v, %v; want -rw-r--r-- for a web server", fi.Mode(), err)
	}
	if si, err := s.Stat(ctx, "720p/index.m3u8"); err != nil || si.ContentType != "application/vnd.apple.mpegurl" {
		t.Errorf("Stat = %+v, %v: the metadata is kept", si, err)
	}
	if keys := listKeys(t, s, ""); len(keys) != 1 || keys[0] != "720p/index.m3u8" {
		t.Errorf("List = %q, want only the object", keys)
	}
	for _, key := range []string{plainDir + "/meta/720p/index.m3u8", plainDir + "/x"} {
		if _, err := s.Put(ctx, key, bytes.NewReader(nil), 0, PutOptions{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if _, err := s.Stat(ctx, ".reelayx"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a key that only starts like the store's directory: %v, want ErrNotFound", err)
	}
}

func TestFSMoveFile(t *testing.T) {
	ctx := context.Background()
	for _, plain := range []bool{false, true} {
		root := t.TempDir()
		s, err := NewFSWith(root, FSOptions{Plain: plain})
		if err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(t.TempDir(), "staged")
		body := bytes.Repeat([]byte("source bytes "), 1000)
		if err := os.WriteFile(src, body, 0o600); err != nil {
			t.Fatal(err)
		}
		before, _ := os.Stat(src)
		info, err := s.MoveFile(ctx, "sources/v1", src, PutOptions{ContentType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the moved file is still at its old path: %v", err)
		}
		p, err := s.LocalPath(ctx, "sources/v1")
		if err != nil {
			t.Fatal(err)
		}
		after, _ := os.Stat(p)
		if !os.SameFile(before, after) {
			t.Error("LocalPath is not the moved file itself: its bytes were copied")
		}
		body2, gi := get(t, s, "sources/v1")
		if !bytes.Equal(body2, body) || gi.Size != int64(len(body)) || gi.ContentType != "video/mp4" || gi.ETag != info.ETag || !isQuoted(gi.ETag) {
			t.Errorf("Get after MoveFile: %d bytes, %+v; MoveFile said %+v", len(body2), gi, info)
		}
		if _, err := s.MoveFile(ctx, "sources/v2", src, PutOptions{}); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("moving a missing file: %v", err)
		}
		if _, err := s.LocalPath(ctx, "sources/v2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LocalPath of a missing key: %v", err)
		}
		if _, err := s.LocalPath(ctx, "sources"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LocalPath of a directory of keys: %v", err)
		}
		if n := countFiles(t, s.tmpDir()); n != 0 {
			t.Errorf("%d temporary files left", n)
		}
	}
}

// TestFSMoveFileCrossDevice moves a file from another file system (/dev/shm, a tmpfs): the move
// is refused with ErrCrossDevice and the file stays where it was, for the caller to copy.
func TestFSMoveFileCrossDevice(t *testing.T) {
	other, err := os.MkdirTemp("/dev/shm", "reelay-test-")
	if err != nil {
		t.Skipf("no /dev/shm to hold a file on another file system: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	root := t.TempDir()
	if sameDevice(t, other, root) {
		t.Skip("/dev/shm is on the same file system as the test's temporary directory")
	}
	s := newTestFS(t, root)
	src := filepath.Join(other, "staged")
	if err := os.WriteFile(src, []byte("bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveFile(context.Background(), "sources/v1", src, PutOptions{}); !errors.Is(err, ErrCrossDevice) {
		t.Fatalf("MoveFile across file systems: %v, want ErrCrossDevice", err)
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != "bytes" {
		t.Errorf("the file after a refused move: %q, %v", b, err)
	}
	if n := countFiles(t, s.tmpDir()); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}
