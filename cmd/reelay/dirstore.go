package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/reelay/reelay/storage"
)

// dirStore is the Store of `reelay transcode --progressive`: plain files under a directory, so
// that DIR is an HLS tree that players and web servers read while it is written. A Put is
// atomic (a temporary file renamed into place); content types and cache policies are not kept.
type dirStore struct{ root string }

var _ storage.Store = dirStore{}

func (d dirStore) path(key string) (string, error) {
	if err := storage.ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

func (d dirStore) Put(ctx context.Context, key string, r io.Reader, size int64, _ storage.PutOptions) (storage.Info, error) {
	p, err := d.path(key)
	if err != nil {
		return storage.Info{}, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return storage.Info{}, err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return storage.Info{}, err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing left to remove
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && size >= 0 && n != size {
		err = errors.New("dirstore: short body")
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		return storage.Info{}, err
	}
	return d.Stat(ctx, key)
}

func (d dirStore) Stat(_ context.Context, key string) (storage.Info, error) {
	p, err := d.path(key)
	if err != nil {
		return storage.Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return storage.Info{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Info{}, err
	}
	return storage.Info{Key: key, Size: fi.Size(), ContentType: storage.DefaultContentType, ModTime: fi.ModTime()}, nil
}

func (d dirStore) Get(ctx context.Context, key string) (io.ReadCloser, storage.Info, error) {
	return d.GetRange(ctx, key, 0, -1)
}

func (d dirStore) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Info, error) {
	info, err := d.Stat(ctx, key)
	if err != nil {
		return nil, info, err
	}
	if offset < 0 || length == 0 || length < -1 || (offset >= info.Size && !(offset == 0 && length == -1)) {
		return nil, info, storage.ErrInvalidRange
	}
	p, _ := d.path(key)
	f, err := os.Open(p)
	if err != nil {
		return nil, info, err
	}
	if length == -1 || offset+length > info.Size {
		length = info.Size - offset
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, offset, length), f}, info, nil
}

func (d dirStore) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d dirStore) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	return filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || strings.HasPrefix(e.Name(), ".put-") {
			return err
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Stat(ctx, key)
		if err != nil {
			return err
		}
		return fn(info)
	})
}

func (d dirStore) Ping(context.Context) error {
	_, err := os.Stat(d.root)
	return err
}
