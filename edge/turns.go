package edge

import (
	"io"
	"net"

	"github.com/reelay/reelay/edge/cache"
	"github.com/reelay/reelay/internal/layout"
)

// Large bodies (segments) are written in turns. Each is written to its client with as few
// write(2) calls as its socket takes, straight from the cache, and at most Edge.turns of
// those calls run at once: one per processor the runtime has (GOMAXPROCS).
//
// A write of a 1 MB segment spends a few hundred microseconds in the kernel, copying it into
// the socket. Left to fasthttp (one blocking Write per response), each such write holds an
// OS thread; the runtime hands the processor to another thread meanwhile, which starts the
// next client's write, and so on: with 50 clients, dozens of threads copy at once on one core,
// the kernel slices them as it likes, and which client's bytes go out next is luck. That was
// the edge's tail on segment hits (issue 16): p99 2.4 times Varnish's. In turns, the copies go
// out one after the other, in the order their clients became writable; a client too slow to
// take its bytes gives up its turn while it waits (the turn is held only in the system call,
// never across a wait), so it delays no one.

// On Linux a large immutable body is kept in the memory cache as a sealed memory file
// (cache.File, see memSet) and sent with sendfile(2) from it, in turns as well: the kernel
// hands the file's pages to the socket instead of copying the bytes, which is most of what a
// write(2) of a segment costs. Elsewhere, and for bodies that came from the disk tier or
// upstream, the body is written from its []byte.

// turnMin is the smallest body written in turns: smaller ones take a write too short to
// matter, and go out with the header from fasthttp's buffer. It is also the smallest body
// kept in a memory file.
const turnMin = 64 << 10

// rawWriter is a connection whose writer may make its own system calls: *listener.Conn,
// which the edge's connections (headConn) wrap.
type rawWriter interface {
	SyscallWrite(f func(fd uintptr) bool) error
}

// memSet stores ent under key in the memory cache, its body in a memory file when it is an
// immutable object's of turnMin bytes or more and the system has them. Each such file is an
// open file: while the cache holds Edge.memFiles entries or more, bodies stay []byte, so that
// the cache never takes the file descriptors that connections need.
func (e *Edge) memSet(key string, ent cache.Entry) {
	if obj, ok := layout.Parse(key); ok && !obj.Kind.Mutable() && len(ent.Body) >= turnMin && ent.File == nil && e.mem.Len() < e.memFiles {
		if f, err := cache.NewFile(ent.Body); err == nil {
			ent.Body, ent.File = nil, f
		}
	}
	e.mem.Set(key, ent)
}

// turnBody is a response body that fasthttp writes with WriteTo (see writeTurns): bytes
// [off, end) of b, or of file when it is set. As a Reader it reads the body, for anyone else
// that reads a response's body stream. Close releases file, which the turnBody holds a
// reference to.
type turnBody struct {
	b        []byte
	file     *cache.File
	off, end int64
	conn     rawWriter // nil: not written in turns
	turns    chan struct{}
	closed   bool
}

// turnBody returns bytes [start, end) of ent's body for the connection c, written in turns
// when c allows it (and a []byte body is large enough), and read otherwise. It returns false
// for a []byte body not to be written in turns, which fasthttp writes better itself. With
// ent.File, the caller has acquired a reference to it, which the turnBody's Close releases.
func (e *Edge) turnBody(c net.Conn, ent cache.Entry, start, end int64) (*turnBody, bool) {
	t := &turnBody{b: ent.Body, file: ent.File, off: start, end: end, turns: e.turns}
	if rw, ok := c.(rawWriter); ok && inTurns && (ent.File != nil || end-start >= turnMin) {
		t.conn = rw
	}
	return t, t.conn != nil || t.file != nil
}

func (t *turnBody) Read(p []byte) (int, error) {
	if t.off >= t.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), t.end-t.off)]
	var n int
	var err error
	if t.file != nil {
		n, err = t.file.ReadAt(p, t.off)
		if err == io.EOF && n > 0 {
			err = nil
		}
	} else {
		n = copy(p, t.b[t.off:])
	}
	t.off += int64(n)
	return n, err
}

// Close releases the body's file.
func (t *turnBody) Close() error {
	if t.file != nil && !t.closed {
		t.closed = true
		t.file.Release()
	}
	return nil
}

// WriteTo flushes w, where fasthttp has buffered the response's header, then writes the rest
// of the body to the connection in turns.
func (t *turnBody) WriteTo(w io.Writer) (int64, error) {
	f, ok := w.(interface{ Flush() error })
	if !ok || t.conn == nil {
		start := t.off
		_, err := io.Copy(w, onlyReader{t})
		return t.off - start, err
	}
	if err := f.Flush(); err != nil {
		return 0, err
	}
	start := t.off
	var werr error
	err := t.conn.SyscallWrite(func(fd uintptr) bool {
		for t.off < t.end {
			var n int
			var err error
			t.turns <- struct{}{}
			if t.file != nil {
				n, err = sendFD(fd, t.file.Fd(), t.off, int(t.end-t.off))
			} else {
				n, err = writeFD(fd, t.b[t.off:t.end])
			}
			<-t.turns
			if n > 0 {
				t.off += int64(n)
			}
			switch {
			case err == errAgain:
				return false // wait until the client takes more, out of turn
			case err != nil:
				werr = err
				return true
			case n <= 0:
				werr = io.ErrShortWrite
				return true
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return t.off - start, err
}

// onlyReader hides a reader's WriteTo from io.Copy.
type onlyReader struct{ io.Reader }
