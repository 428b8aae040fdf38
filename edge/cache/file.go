package cache

import (
	"io"
	"os"
	"runtime"
	"sync/atomic"
)

// File is a body kept in a sealed memory file (memfd(2), Linux only) instead of a []byte, so
// that the edge can send it with sendfile(2): the kernel then hands the file's pages to the
// socket instead of copying the bytes into it. It is read-only once made.
//
// A File counts references. NewFile returns it holding one, its maker's; Acquire adds one,
// Release drops one, and the last Release closes the file. Memory.Set takes over the
// reference of the entry's File, and drops it when the entry leaves the cache (evicted,
// replaced, deleted, or not admitted): a File from Get may thus be closed already. Whoever
// reads or sends it calls Acquire first, and treats false as a miss; its Release comes when
// the last byte is sent, so an entry evicted while a response is being sent stays readable
// until that response ends.
type File struct {
	f    *os.File
	size int64
	refs atomic.Int64
}

// NewFile returns a File holding a copy of b, with one reference, or an error where memory
// files are not available (errors.ErrUnsupported on systems other than Linux).
func NewFile(b []byte) (*File, error) {
	f, err := newMemFile(b)
	if err != nil {
		return nil, err
	}
	m := &File{f: f, size: int64(len(b))}
	m.refs.Store(1)
	return m, nil
}

// Size is the body's length in bytes.
func (m *File) Size() int64 { return m.size }

// Acquire adds a reference and reports whether it did: false once the file has closed.
func (m *File) Acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a reference; the last one closes the file.
func (m *File) Release() {
	if m.refs.Add(-1) == 0 {
		m.f.Close()
	}
}

// Fd returns the file's descriptor, for sendfile(2). The caller holds a reference while it
// uses the descriptor.
func (m *File) Fd() uintptr {
	fd := m.f.Fd()
	runtime.KeepAlive(m)
	return fd
}

// ReadAt reads the body at off, as io.ReaderAt. The caller holds a reference.
func (m *File) ReadAt(p []byte, off int64) (int, error) {
	if off >= m.size {
		return 0, io.EOF
	}
	return m.f.ReadAt(p, off)
}
