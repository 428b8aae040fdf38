package edge

import (
	"io"
	"net"
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

// turnMin is the smallest body written in turns: smaller ones take a write too short to
// matter, and go out with the header from fasthttp's buffer.
const turnMin = 64 << 10

// rawWriter is a connection whose writer may make its own system calls: *listener.Conn,
// which the edge's connections (headConn) wrap.
type rawWriter interface {
	SyscallWrite(f func(fd uintptr) bool) error
}

// holder is a connection that can hold back what is written to it, so that the response
// header fasthttp flushes before the body goes out with the body, in one writev(2): one
// system call and one TCP segment fewer per segment served (headConn).
type holder interface {
	// hold makes the writes that follow keep their bytes instead of writing them.
	hold()
	// release ends hold and returns the bytes kept, which are the holder's until the next hold.
	release() []byte
}

// turnBody is a response body that fasthttp writes with WriteTo (see writeTurns). As a
// Reader it reads the body, for anyone else that reads a response's body stream.
type turnBody struct {
	b     []byte
	off   int
	conn  rawWriter
	turns chan struct{}
}

// turnBody returns the body b for the connection c, written in turns when c allows it, and
// false when it does not (a handler called without a connection, as in benchmarks).
func (e *Edge) turnBody(c net.Conn, b []byte) (*turnBody, bool) {
	rw, ok := c.(rawWriter)
	if !ok || !inTurns || len(b) < turnMin {
		return nil, false
	}
	return &turnBody{b: b, conn: rw, turns: e.turns}, true
}

func (t *turnBody) Read(p []byte) (int, error) {
	if t.off >= len(t.b) {
		return 0, io.EOF
	}
	n := copy(p, t.b[t.off:])
	t.off += n
	return n, nil
}

// WriteTo flushes w, where fasthttp has buffered the response's header, then writes the rest
// of the body to the connection in turns. When the connection is a holder, the header is
// held back by the flush and goes out with the body's first bytes.
func (t *turnBody) WriteTo(w io.Writer) (int64, error) {
	f, ok := w.(interface{ Flush() error })
	if !ok {
		n, err := w.Write(t.b[t.off:])
		t.off += n
		return int64(n), err
	}
	var head []byte
	if h, ok := t.conn.(holder); ok {
		h.hold()
		err := f.Flush()
		head = h.release()
		if err != nil {
			return 0, err
		}
	} else if err := f.Flush(); err != nil {
		return 0, err
	}
	start := t.off
	var werr error
	err := t.conn.SyscallWrite(func(fd uintptr) bool {
		for len(head) > 0 || t.off < len(t.b) {
			t.turns <- struct{}{}
			var n int
			var err error
			if len(head) > 0 {
				n, err = writevFD(fd, head, t.b[t.off:])
			} else {
				n, err = writeFD(fd, t.b[t.off:])
			}
			<-t.turns
			if h := min(n, len(head)); h > 0 {
				head, n = head[h:], n-h
			}
			if n > 0 {
				t.off += n
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
	return int64(t.off - start), err
}
