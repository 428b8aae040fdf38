package storage

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FS is a Store in a local directory:
//
//	root/objects/<key>   the object's bytes, a plain file
//	root/meta/<key>      a JSON sidecar: content type, cache control, ETag
//	root/tmp/            files being written, renamed into place when complete
//
// A Put writes the bytes to root/tmp, fsyncs them, renames the sidecar into place and then the
// data, and fsyncs both directories. The data file is the truth: an object exists when its data
// file does. The sidecar records the size and modification time of the data file it belongs to;
// a sidecar that does not match (or is missing, after a crash or a copy that did not keep mtimes)
// is ignored and the object gets default metadata. Leftovers in root/tmp are removed by NewFS.
//
// With FSOptions.Plain the objects are plain files at root/<key> instead, and the sidecars and
// temporary files live under root/.reelay/, so that root is a tree that any web server or
// player can read as it is (`reelay transcode --out DIR`); keys under ".reelay/" are refused.
//
// Because keys are paths, FS cannot hold both "a" and "a/b" (S3 can): the second Put fails.
// One FS value must own a root at a time; several processes sharing a root are not supported.
//
// Beyond Store, FS can take a local file as an object without copying it (MoveFile), and tell
// where an object's bytes are on disk (LocalPath).
type FS struct {
	root   string
	noSync bool
	plain  bool
	locks  [64]sync.Mutex // by key hash; serialise the commit of a Put with other writers and Delete
}

var _ Store = (*FS)(nil)

// NewFS returns a store rooted at the directory root, creating it if needed and removing the
// temporary files that an interrupted Put left behind.
func NewFS(root string) (*FS, error) { return NewFSWith(root, FSOptions{}) }

// FSOptions tunes NewFSWith.
type FSOptions struct {
	// NoSync skips every fsync. Writes stay atomic for readers (temporary file, then rename), but
	// a machine crash may lose recent ones: for scratch trees that are published by other means,
	// such as the output of `reelay transcode`. Default false.
	NoSync bool
	// Plain keeps each object as a plain file at root/<key>, and the store's own files under
	// root/.reelay/ (see FS). Default false: root/objects/<key>.
	Plain bool
}

// plainDir holds a Plain store's sidecars and temporary files.
const plainDir = ".reelay"

// objectMode is the mode of the files that hold objects: readable by a web server that runs
// as another user, as a Plain store's tree is meant to be served.
const objectMode = 0o644

// NewFSWith is NewFS with options.
func NewFSWith(root string, opts FSOptions) (*FS, error) {
	if root == "" {
		return nil, errors.New("storage: empty directory for the fs store")
	}
	s := &FS{root: filepath.Clean(root), noSync: opts.NoSync, plain: opts.Plain}
	if err := os.RemoveAll(s.tmpDir()); err != nil {
		return nil, fmt.Errorf("storage: cleaning %s: %w", s.tmpDir(), err)
	}
	for _, d := range []string{s.tmpDir(), s.dir("objects"), s.dir("meta")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	return s, nil
}

// sidecar is the JSON stored under root/meta. Size and MTime identify the data file it describes.
type sidecar struct {
	ContentType  string `json:"content_type,omitempty"`
	CacheControl string `json:"cache_control,omitempty"`
	ETag         string `json:"etag"`
	Size         int64  `json:"size"`
	MTime        int64  `json:"mtime_ns"`
}

// dir is the directory of tree: "objects", "meta" or "tmp".
func (s *FS) dir(tree string) string {
	switch {
	case !s.plain:
		return filepath.Join(s.root, tree)
	case tree == "objects":
		return s.root
	}
	return filepath.Join(s.root, plainDir, tree)
}

func (s *FS) tmpDir() string { return s.dir("tmp") }

// path is where key lives in tree ("objects" or "meta"); checkKey keeps it inside.
func (s *FS) path(tree, key string) string {
	return filepath.Join(s.dir(tree), filepath.FromSlash(key))
}

// checkKey is ValidateKey, and for a Plain store the refusal of the keys of its own files.
func (s *FS) checkKey(key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if first, _, _ := strings.Cut(key, "/"); s.plain && first == plainDir {
		return fmt.Errorf("%w %q: %s/ holds the store's own files", ErrInvalidKey, key, plainDir)
	}
	return nil
}

func (s *FS) lock(key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
}

// missing reports whether err means that a path does not exist ("a/b" when "a" is a file included).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func notFound(key string) error { return fmt.Errorf("%w: %q", ErrNotFound, key) }

// Put implements Store.
func (s *FS) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (_ Info, err error) {
	if err := s.checkKey(key); err != nil {
		return Info{}, err
	}
	fail := func(err error) (Info, error) { return Info{}, fmt.Errorf("storage: put %q: %w", key, err) }

	data, err := os.CreateTemp(s.tmpDir(), "data-*")
	if err != nil {
		return fail(err)
	}
	defer func() {
		data.Close()
		if err != nil {
			os.Remove(data.Name())
		}
	}()
	if size >= 0 {
		r = io.LimitReader(r, size)
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(data, h), ctxReader{ctx, r})
	if err != nil {
		return fail(err)
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("got %d bytes, want %d: %w", n, size, io.ErrUnexpectedEOF))
	}
	md5ETag := `"` + hex.EncodeToString(h.Sum(nil)) + `"`
	info, err := s.commit(key, data, opts, func(fs.FileInfo) string { return md5ETag })
	if err != nil {
		return fail(err)
	}
	return info, nil
}

// commit makes the temporary file f, whole and still open, the object key: it stamps the file
// with a fine-grained time (so that its sidecar can tell it from the one it replaces even when
// both have the same size), makes it readable, syncs it, writes its sidecar with the ETag that
// etag gives, and renames both into place. It closes f. On failure f's file is left where it
// was, for the caller to remove or give back.
func (s *FS) commit(key string, f *os.File, opts PutOptions, etag func(fs.FileInfo) string) (_ Info, err error) {
	defer f.Close()
	now := time.Now()
	if err := os.Chtimes(f.Name(), now, now); err != nil {
		return Info{}, err
	}
	if err := f.Chmod(objectMode); err != nil {
		return Info{}, err
	}
	if err := s.sync(f); err != nil {
		return Info{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return Info{}, errors.New("not a regular file")
	}
	if err := f.Close(); err != nil {
		return Info{}, err
	}
	info := Info{Key: key, Size: fi.Size(), ContentType: cmp.Or(opts.ContentType, DefaultContentType),
		CacheControl: opts.CacheControl, ETag: etag(fi), ModTime: fi.ModTime()}
	meta, err := s.writeTemp(sidecar{info.ContentType, info.CacheControl, info.ETag, info.Size, fi.ModTime().UnixNano()})
	if err != nil {
		return Info{}, err
	}
	defer func() {
		if err != nil {
			os.Remove(meta)
		}
	}()

	mu := s.lock(key)
	mu.Lock()
	err = s.renameInto(meta, s.path("meta", key))
	if err == nil {
		err = s.renameInto(f.Name(), s.path("objects", key))
	}
	mu.Unlock()
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) {
		return Info{}, fmt.Errorf(`another key is in the way (an fs store cannot hold both "a" and "a/b"): %w`, err)
	}
	if err != nil {
		return Info{}, err
	}
	// From here on the object is in place: a failure is reported, and nothing is undone.
	if err := s.syncDir(filepath.Dir(s.path("meta", key))); err != nil {
		return info, err
	}
	if err := s.syncDir(filepath.Dir(s.path("objects", key))); err != nil {
		return info, err
	}
	return info, nil
}

// writeTemp writes m to a synced temporary file and returns its name.
func (s *FS) writeTemp(m sidecar) (name string, err error) {
	f, err := os.CreateTemp(s.tmpDir(), "meta-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	err = json.NewEncoder(f).Encode(m)
	if err == nil {
		err = s.sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

// renameInto moves the file from to the path to, creating to's directory. A concurrent Delete may
// remove that directory once it is empty, between the mkdir and the rename; then it tries again.
func (s *FS) renameInto(from, to string) error {
	var err error
	for range 5 {
		if err = os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err = os.Rename(from, to); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// sync makes f's content durable, unless the store was opened with NoSync.
func (s *FS) sync(f *os.File) error {
	if s.noSync {
		return nil
	}
	return f.Sync()
}

// syncDir makes a rename or removal in dir durable, unless the store was opened with NoSync.
// A directory that a Delete removed meanwhile has nothing left to sync.
func (s *FS) syncDir(dir string) error {
	if s.noSync {
		return nil
	}
	d, err := os.Open(dir)
	if missing(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// open opens the data file of key and returns it with the object's Info.
func (s *FS) open(key string) (*os.File, Info, error) {
	if err := s.checkKey(key); err != nil {
		return nil, Info{}, err
	}
	f, info, ok, err := s.tryOpen(key)
	if err != nil || ok {
		return f, info, err
	}
	// The sidecar does not describe this data file: a Put of the key may be between its two
	// renames. Look again while no Put can commit.
	f.Close()
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	f, info, ok, err = s.tryOpen(key)
	if err == nil && !ok {
		// No usable sidecar (a crash, or a copy that lost mtimes): default metadata, and an
		// ETag from the file's identity.
		info.ETag = fileETag(info.Size, info.ModTime)
	}
	return f, info, err
}

// tryOpen opens the data file of key; ok reports whether its sidecar matched.
func (s *FS) tryOpen(key string) (f *os.File, info Info, ok bool, err error) {
	f, err = os.Open(s.path("objects", key))
	if missing(err) {
		return nil, Info{}, false, notFound(key)
	}
	if err != nil {
		return nil, Info{}, false, fmt.Errorf("storage: open %q: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, false, fmt.Errorf("storage: open %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, false, notFound(key) // a directory: "key/..." objects exist, not key
	}
	info = Info{Key: key, Size: fi.Size(), ContentType: DefaultContentType, ModTime: fi.ModTime()}
	m, err := s.readSidecar(key)
	if err != nil || m.Size != fi.Size() || m.MTime != fi.ModTime().UnixNano() {
		return f, info, false, nil
	}
	info.ContentType = cmp.Or(m.ContentType, DefaultContentType)
	info.CacheControl, info.ETag = m.CacheControl, m.ETag
	return f, info, true, nil
}

func (s *FS) readSidecar(key string) (sidecar, error) {
	var m sidecar
	b, err := os.ReadFile(s.path("meta", key))
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	return m, err
}

// Get implements Store.
func (s *FS) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	f, info, err := s.open(key)
	if err != nil {
		return nil, Info{}, err
	}
	return f, info, nil
}

// GetRange implements Store.
func (s *FS) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error) {
	f, info, err := s.open(key)
	if err != nil {
		return nil, Info{}, err
	}
	n, err := checkRange(key, info.Size, offset, length)
	if err == nil {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, Info{}, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, n), f}, info, nil
}

// Stat implements Store.
func (s *FS) Stat(ctx context.Context, key string) (Info, error) {
	f, info, err := s.open(key)
	if err != nil {
		return Info{}, err
	}
	f.Close()
	return info, nil
}

// Delete implements Store. It also removes the directories that the deletion leaves empty.
func (s *FS) Delete(ctx context.Context, key string) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	data := s.path("objects", key)
	if fi, err := os.Lstat(data); err != nil || !fi.Mode().IsRegular() {
		if err == nil || missing(err) {
			return nil // missing, or a directory of other keys
		}
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	for _, tree := range []string{"objects", "meta"} {
		p := s.path(tree, key)
		if err := os.Remove(p); err != nil && !missing(err) {
			return fmt.Errorf("storage: delete %q: %w", key, err)
		}
		// Remove now-empty parents; os.Remove refuses non-empty directories, which ends the walk.
		for d, top := filepath.Dir(p), s.dir(tree); d != top && os.Remove(d) == nil; d = filepath.Dir(d) {
		}
		if err := s.syncDir(filepath.Dir(p)); err != nil {
			return fmt.Errorf("storage: delete %q: %w", key, err)
		}
	}
	return nil
}

// List implements Store.
func (s *FS) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	dir, name := path.Split(prefix) // "videos/a" lists the entries of "videos/" that start with "a"
	return s.walk(ctx, dir, name, fn)
}

// walk visits, in key order, the objects under the directory dir (a key prefix ending in "/",
// or "") whose next path element starts with name.
func (s *FS) walk(ctx context.Context, dir, name string, fn func(Info) error) error {
	entries, err := os.ReadDir(s.path("objects", dir))
	if missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: list %q: %w", dir, err)
	}
	// Directory "a" holds keys "a/...": sort it as "a/" so that keys come out in byte order
	// ("a.txt" < "a/b" < "a0").
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), name) || s.plain && dir == "" && e.Name() == plainDir {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		key := dir + e.Name()
		switch {
		case e.IsDir():
			err = s.walk(ctx, key+"/", "", fn)
		case e.Type().IsRegular():
			var info Info
			info, err = s.Stat(ctx, key)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidKey) {
				continue // deleted since ReadDir, or a stray file that is no object
			}
			if err == nil {
				err = fn(info)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Ping implements Store: the root's directories must exist.
func (s *FS) Ping(ctx context.Context) error {
	for _, d := range []string{s.tmpDir(), s.dir("objects"), s.dir("meta")} {
		if _, err := os.Stat(d); err != nil {
			return fmt.Errorf("storage: fs store: %w", err)
		}
	}
	return nil
}

// ErrCrossDevice is returned by MoveFile for a file on another file system than the store's:
// it cannot be renamed into the store, and must be copied (Put) instead.
var ErrCrossDevice = errors.New("storage: the file is on another file system")

// MoveFile stores the local file at path as key by renaming it into the store, without reading
// or copying its bytes, and returns the object's Info. The file is the store's from then on:
// path no longer exists. Its ETag is made of its size and time rather than its content. A file
// on another file system is refused with ErrCrossDevice, and left where it is.
func (s *FS) MoveFile(ctx context.Context, key, path string, opts PutOptions) (_ Info, err error) {
	if err := s.checkKey(key); err != nil {
		return Info{}, err
	}
	fail := func(err error) (Info, error) { return Info{}, fmt.Errorf("storage: move %s to %q: %w", path, key, err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	// Into the store's temporary directory first: the one rename that may cross file systems,
	// before anything of the store has changed.
	tmp, err := os.CreateTemp(s.tmpDir(), "move-*")
	if err != nil {
		return fail(err)
	}
	tmp.Close()
	if err := os.Rename(path, tmp.Name()); err != nil {
		os.Remove(tmp.Name())
		if errors.Is(err, syscall.EXDEV) {
			return fail(ErrCrossDevice)
		}
		return fail(err)
	}
	defer func() {
		if err != nil { // give the file back
			if rerr := os.Rename(tmp.Name(), path); rerr != nil {
				os.Remove(tmp.Name())
			}
		}
	}()
	f, err := os.Open(tmp.Name())
	if err != nil {
		return fail(err)
	}
	info, err := s.commit(key, f, opts, identityETag)
	if err != nil {
		return fail(err)
	}
	return info, nil
}

// identityETag is the ETag of a file whose content was not hashed: its size and time.
func identityETag(fi fs.FileInfo) string { return fileETag(fi.Size(), fi.ModTime()) }

func fileETag(size int64, mod time.Time) string { return fmt.Sprintf(`"%x-%x"`, size, mod.UnixNano()) }

// LocalPath returns the path of the file that holds key's bytes, for a reader on this machine
// to open in place rather than copy. The file may be replaced by a later Put (a reader that
// opened it keeps the bytes it opened) or removed by Delete.
func (s *FS) LocalPath(ctx context.Context, key string) (string, error) {
	if err := s.checkKey(key); err != nil {
		return "", err
	}
	p := s.path("objects", key)
	fi, err := os.Stat(p)
	if missing(err) || (err == nil && !fi.Mode().IsRegular()) {
		return "", notFound(key)
	}
	if err != nil {
		return "", fmt.Errorf("storage: %q: %w", key, err)
	}
	return p, nil
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
