package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/reelay/reelay/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestFS(t *testing.T) {
	for name, opts := range map[string]FSOptions{"sync": {}, "nosync": {NoSync: true}, "plain": {Plain: true}} {
		t.Run(name, func(t *testing.T) {
			testStore(t, func(t *testing.T) Store {
				s, err := NewFSWith(t.TempDir(), opts)
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}

func TestS3(t *testing.T) {
	srv := testenv.MinIO(t)
	testStore(t, func(t *testing.T) Store { return newTestS3(t, srv, srv.Bucket(t), "") })
}

// newTestS3 returns an S3 store on srv with a small part size, so that large objects go up in parts.
func newTestS3(t *testing.T, srv testenv.MinIOServer, bucket, prefix string) *S3 {
	t.Helper()
	s, err := NewS3(context.Background(), S3Config{
		Endpoint: srv.Endpoint, Bucket: bucket, Prefix: prefix,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1",
		PartSize: 5 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testStore is the behaviour every Store must have. newStore returns an empty store.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("roundtrip", func(t *testing.T) {
		s := newStore(t)
		body := []byte("#EXTM3U\n#EXT-X-VERSION:7\n")
		opts := PutOptions{ContentType: "application/vnd.apple.mpegurl", CacheControl: "max-age=2"}
		pi := put(t, s, "videos/v1/master.m3u8", body, opts)
		if pi.Key != "videos/v1/master.m3u8" || pi.Size != int64(len(body)) || pi.ContentType != opts.ContentType ||
			pi.CacheControl != opts.CacheControl || !isQuoted(pi.ETag) {
			t.Errorf("Put info = %+v", pi)
		}
		got, gi := get(t, s, "videos/v1/master.m3u8")
		if !bytes.Equal(got, body) {
			t.Errorf("Get = %q, want %q", got, body)
		}
		if gi.Key != pi.Key || gi.Size != pi.Size || gi.ContentType != opts.ContentType ||
			gi.CacheControl != opts.CacheControl || gi.ETag != pi.ETag || gi.ModTime.IsZero() {
			t.Errorf("Get info = %+v, Put info = %+v", gi, pi)
		}

		put(t, s, "plain", []byte("x"), PutOptions{})
		if _, gi := get(t, s, "plain"); gi.ContentType != DefaultContentType || gi.CacheControl != "" {
			t.Errorf("default metadata: %+v", gi)
		}
		put(t, s, "empty", nil, PutOptions{})
		if got, gi := get(t, s, "empty"); len(got) != 0 || gi.Size != 0 {
			t.Errorf("empty object: %q, %+v", got, gi)
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "k", []byte("first version"), PutOptions{ContentType: "text/plain", CacheControl: "no-cache"})
		put(t, s, "k", []byte("second"), PutOptions{ContentType: "video/mp4"})
		got, gi := get(t, s, "k")
		if string(got) != "second" || gi.Size != 6 || gi.ContentType != "video/mp4" || gi.CacheControl != "" {
			t.Errorf("after overwrite: %q, %+v", got, gi)
		}
	})

	t.Run("stat", func(t *testing.T) {
		s := newStore(t)
		pi := put(t, s, "a/b.m4s", []byte("segment"), PutOptions{ContentType: "video/iso.segment", CacheControl: "immutable"})
		si, err := s.Stat(ctx, "a/b.m4s")
		if err != nil {
			t.Fatal(err)
		}
		if si.Key != "a/b.m4s" || si.Size != 7 || si.ContentType != "video/iso.segment" ||
			si.CacheControl != "immutable" || si.ETag != pi.ETag || si.ModTime.IsZero() {
			t.Errorf("Stat = %+v, Put = %+v", si, pi)
		}
	})

	t.Run("etag", func(t *testing.T) {
		s := newStore(t)
		e1 := put(t, s, "k", []byte("one"), PutOptions{}).ETag
		e2 := put(t, s, "k", []byte("two"), PutOptions{}).ETag
		e3 := put(t, s, "k", []byte("one"), PutOptions{}).ETag
		if e1 == e2 {
			t.Errorf("ETag %s did not change with the content", e1)
		}
		if e1 != e3 {
			t.Errorf("same content, ETags %s and %s", e1, e3)
		}
		if si, _ := s.Stat(ctx, "k"); si.ETag != e3 {
			t.Errorf("Stat ETag %s, Put ETag %s", si.ETag, e3)
		}
	})

	t.Run("range", func(t *testing.T) {
		s := newStore(t)
		pi := put(t, s, "k", []byte("0123456789"), PutOptions{ContentType: "text/plain"})
		put(t, s, "empty", nil, PutOptions{})
		for _, tc := range []struct {
			key            string
			offset, length int64
			want           string // "" for ErrInvalidRange
		}{
			{"k", 0, 3, "012"},
			{"k", 4, 3, "456"},
			{"k", 7, -1, "789"},
			{"k", 0, -1, "0123456789"},
			{"k", 9, 1, "9"},
			{"k", 9, -1, "9"},
			{"k", 8, 100, "89"},
			{"k", 10, 1, ""},
			{"k", 10, -1, ""},
			{"k", 11, 1, ""},
			{"k", -1, 1, ""},
			{"k", 0, 0, ""},
			{"k", 0, -2, ""},
			{"empty", 0, -1, ""},
			{"empty", 0, 1, ""},
		} {
			rc, info, err := s.GetRange(ctx, tc.key, tc.offset, tc.length)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidRange) {
					t.Errorf("GetRange(%s, %d, %d) error = %v, want ErrInvalidRange", tc.key, tc.offset, tc.length, err)
				}
				if rc != nil {
					rc.Close()
				}
				continue
			}
			if err != nil {
				t.Errorf("GetRange(%s, %d, %d): %v", tc.key, tc.offset, tc.length, err)
				continue
			}
			got := readAll(t, rc)
			if string(got) != tc.want || info.Size != 10 || info.ETag != pi.ETag || info.ContentType != "text/plain" {
				t.Errorf("GetRange(%s, %d, %d) = %q, %+v; want %q of the whole object", tc.key, tc.offset, tc.length, got, info, tc.want)
			}
		}
	})

	t.Run("missing", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "file", []byte("x"), PutOptions{})
		put(t, s, "dir/x", []byte("x"), PutOptions{})
		for _, key := range []string{"nope", "file/below", "dir", "di"} {
			if _, _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%q) error = %v, want ErrNotFound", key, err)
			}
			if _, _, err := s.GetRange(ctx, key, 0, 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetRange(%q) error = %v, want ErrNotFound", key, err)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("Stat(%q) error = %v, want ErrNotFound", key, err)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "a/b", []byte("x"), PutOptions{})
		put(t, s, "c/d", []byte("y"), PutOptions{})
		for range 2 { // the second time the key is missing: not an error
			if err := s.Delete(ctx, "a/b"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat after Delete: %v", err)
		}
		if err := s.Delete(ctx, "never/was"); err != nil {
			t.Errorf("Delete(never/was): %v", err)
		}
		if err := s.Delete(ctx, "c"); err != nil { // only "c/d" exists
			t.Errorf("Delete(c): %v", err)
		}
		if got, _ := get(t, s, "c/d"); string(got) != "y" {
			t.Errorf("c/d = %q after Delete(c)", got)
		}
		// "a/b" is gone, so "a" is free to be an object.
		put(t, s, "a", []byte("z"), PutOptions{})
		if got, _ := get(t, s, "a"); string(got) != "z" {
			t.Errorf("a = %q", got)
		}
	})

	t.Run("list", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"videos/a/2", "videos/a/1", "videos/ab/1", "videos/a.txt", "videos/a0", "videos/b", "other", "videos/a-b/x"}
		etags := map[string]string{}
		for i, k := range keys {
			etags[k] = put(t, s, k, bytes.Repeat([]byte("x"), i+1), PutOptions{ContentType: "text/plain"}).ETag
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"videos/a/", []string{"videos/a/1", "videos/a/2"}},
			{"videos/a", []string{"videos/a-b/x", "videos/a.txt", "videos/a/1", "videos/a/2", "videos/a0", "videos/ab/1"}},
			{"videos/a/1", []string{"videos/a/1"}},
			{"", []string{"other", "videos/a-b/x", "videos/a.txt", "videos/a/1", "videos/a/2", "videos/a0", "videos/ab/1", "videos/b"}},
			{"v", []string{"videos/a-b/x", "videos/a.txt", "videos/a/1", "videos/a/2", "videos/a0", "videos/ab/1", "videos/b"}},
			{"zzz", nil},
			{"videos/c/", nil},
		} {
			var got []string
			err := s.List(ctx, tc.prefix, func(i Info) error {
				got = append(got, i.Key)
				if i.Size != int64(slices.Index(keys, i.Key)+1) || i.ETag != etags[i.Key] || i.ModTime.IsZero() {
					t.Errorf("List(%q): %+v", tc.prefix, i)
				}
				return nil
			})
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %q, %v; want %q", tc.prefix, got, err, tc.want)
			}
		}
		stop := errors.New("stop")
		n := 0
		err := s.List(ctx, "videos/", func(Info) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("List stopping: %v after %d calls", err, n)
		}
	})

	t.Run("invalid keys", func(t *testing.T) {
		s := newStore(t)
		for _, key := range []string{"", "/abs", "a/../b", "..", ".", "a/./b", "a//b", "a\x00b", "a/", "a\\b", "a\x01b", "\xff", strings.Repeat("k", MaxKeyLen+1)} {
			_, err := s.Put(ctx, key, strings.NewReader("x"), 1, PutOptions{})
			check := func(op string, err error) {
				if !errors.Is(err, ErrInvalidKey) {
					t.Errorf("%s(%q) error = %v, want ErrInvalidKey", op, key, err)
				}
			}
			check("Put", err)
			_, _, err = s.Get(ctx, key)
			check("Get", err)
			_, _, err = s.GetRange(ctx, key, 0, 1)
			check("GetRange", err)
			_, err = s.Stat(ctx, key)
			check("Stat", err)
			check("Delete", s.Delete(ctx, key))
		}
		for _, prefix := range []string{"/abs", "a/../b", "../", "a//b", "a\x00b", "a\\b"} {
			err := s.List(ctx, prefix, func(Info) error { return nil })
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("List(%q) error = %v, want ErrInvalidKey", prefix, err)
			}
		}
	})

	t.Run("large", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(40 << 20)
		for _, size := range []int64{int64(len(data)), -1} {
			var r io.Reader = bytes.NewReader(data)
			if size < 0 {
				r = struct{ io.Reader }{r} // hide the length
			}
			if _, err := s.Put(ctx, "big", r, size, PutOptions{ContentType: "video/mp4"}); err != nil {
				t.Fatalf("Put size %d: %v", size, err)
			}
			got, info := get(t, s, "big")
			if sha256.Sum256(got) != sha256.Sum256(data) || info.Size != int64(len(data)) || info.ContentType != "video/mp4" {
				t.Errorf("Put size %d: read back %d bytes, %+v", size, len(got), info)
			}
			// A range across a part boundary.
			rc, _, err := s.GetRange(ctx, "big", 5<<20-10, 20)
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, rc); !bytes.Equal(got, data[5<<20-10:5<<20+10]) {
				t.Errorf("range across a part boundary differs")
			}
			if err := s.Delete(ctx, "big"); err != nil {
				t.Fatal(err)
			}
		}
		// Unknown size, smaller than a part.
		if _, err := s.Put(ctx, "small", struct{ io.Reader }{strings.NewReader("tiny")}, -1, PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, info := get(t, s, "small"); string(got) != "tiny" || info.Size != 4 {
			t.Errorf("small of unknown size: %q, %+v", got, info)
		}
	})

	t.Run("concurrent put and get", func(t *testing.T) {
		s := newStore(t)
		// Two versions that differ in every byte, size and content type; a reader must see one
		// of them whole, with its own metadata.
		type version struct {
			body []byte
			opts PutOptions
			etag string
		}
		versions := map[byte]*version{
			'a': {body: bytes.Repeat([]byte("a"), 300<<10), opts: PutOptions{ContentType: "text/a"}},
			'b': {body: bytes.Repeat([]byte("b"), 200<<10), opts: PutOptions{ContentType: "text/b"}},
		}
		for _, v := range versions {
			v.etag = put(t, s, "k", v.body, v.opts).ETag
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					rc, info, err := s.Get(ctx, "k")
					if err != nil {
						t.Error(err)
						return
					}
					got, err := io.ReadAll(rc)
					rc.Close()
					if err != nil {
						t.Error(err)
						return
					}
					v, ok := versions[got[0]]
					if !ok || !bytes.Equal(got, v.body) || info.ETag != v.etag || info.ContentType != v.opts.ContentType || info.Size != int64(len(got)) {
						t.Errorf("torn read: %d bytes starting %q, info %+v", len(got), got[:1], info)
						return
					}
					select {
					case <-done:
						return
					default:
					}
				}
			})
		}
		for i := range 40 {
			v := versions["ab"[i%2]]
			if _, err := s.Put(ctx, "k", bytes.NewReader(v.body), int64(len(v.body)), v.opts); err != nil {
				t.Error(err)
				break
			}
		}
		close(done)
		wg.Wait()
	})

	t.Run("body survives overwrite", func(t *testing.T) {
		s := newStore(t)
		// Small enough for MinIO to keep inline: it holds a read lock while it streams larger
		// objects, so there a Put waits for the reader (see S3).
		old := randomBytes(64 << 10)
		put(t, s, "k", old, PutOptions{})
		rc, _, err := s.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		head := make([]byte, 1024)
		if _, err := io.ReadFull(rc, head); err != nil {
			t.Fatal(err)
		}
		put(t, s, "k", []byte("new"), PutOptions{})
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		rest := readAll(t, rc)
		if !bytes.Equal(append(head, rest...), old) {
			t.Errorf("body changed under the reader: %d+%d bytes, want %d", len(head), len(rest), len(old))
		}
	})
}

func put(t *testing.T, s Store, key string, body []byte, opts PutOptions) Info {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(body), int64(len(body)), opts)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

func get(t *testing.T, s Store, key string) ([]byte, Info) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return readAll(t, rc), info
}

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

func isQuoted(etag string) bool {
	return len(etag) > 2 && strings.HasPrefix(etag, `"`) && strings.HasSuffix(etag, `"`)
}
