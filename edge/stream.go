package edge

import (
	"io"
	"sync"

	"github.com/reelay/reelay/edge/cache"
)

// streamMin is the smallest body streamed to clients while it is still arriving. Smaller
// bodies, and playlists, are read whole before anyone is answered: streaming saves them no
// time worth a goroutine.
const streamMin = 64 << 10

// A filling is an object whose body is arriving from upstream. Every request for it meanwhile
// (the one that caused the fetch, those that collapsed into it, those that come later) streams
// what has arrived and waits for the rest, so the first byte reaches players without waiting
// for the last. Once the body is whole, the object is stored and the filling is forgotten.
//
// buf is allocated at the announced length before anyone sees the filling, and only the
// receiving goroutine writes to it, below the bytes it has published in n; readers read below n.
type filling struct {
	key  string
	meta cache.Entry // the headers, without Body
	how  how         // howOrigin or howPeer
	buf  []byte

	mu   sync.Mutex
	cond sync.Cond
	n    int   // bytes of buf that have arrived
	done bool  // no more will
	err  error // why the body ended short; nil when whole
}

func newFilling(key string, meta cache.Entry, how how, size int) *filling {
	fl := &filling{key: key, meta: meta, how: how, buf: make([]byte, size)}
	fl.cond.L = &fl.mu
	return fl
}

// receive reads the body from r into buf, publishing each part as it arrives, and returns nil
// once all of it has, or why it has not.
func (fl *filling) receive(r io.Reader) error {
	n := 0
	var err error
	for n < len(fl.buf) && err == nil {
		var m int
		m, err = r.Read(fl.buf[n:])
		if m > 0 {
			n += m
			fl.mu.Lock()
			fl.n = n
			fl.mu.Unlock()
			fl.cond.Broadcast()
		}
	}
	if n == len(fl.buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// finish marks the fill ended, with the error receive returned.
func (fl *filling) finish(err error) {
	fl.mu.Lock()
	fl.done, fl.err = true, err
	fl.mu.Unlock()
	fl.cond.Broadcast()
}

// wait blocks until more than off bytes have arrived or the fill has ended, and returns how
// many have arrived and, if the fill ended short, why.
func (fl *filling) wait(off int) (int, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for fl.n <= off && !fl.done {
		fl.cond.Wait()
	}
	return fl.n, fl.err
}

// whole waits for the entire body and returns the entry.
func (fl *filling) whole() (cache.Entry, error) {
	if n, err := fl.wait(len(fl.buf)); n < len(fl.buf) {
		return cache.Entry{}, err
	}
	ent := fl.meta
	ent.Body = fl.buf
	return ent, nil
}

// reader returns a reader of bytes [off, end) of the body, which waits for them to arrive and
// fails with the fill's error if they never do.
func (fl *filling) reader(off, end int) io.Reader {
	return &fillReader{fl: fl, off: off, end: end}
}

type fillReader struct {
	fl       *filling
	off, end int
}

func (r *fillReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	n, err := r.fl.wait(r.off)
	if n <= r.off {
		return 0, err
	}
	m := copy(p, r.fl.buf[r.off:min(n, r.end)])
	r.off += m
	return m, nil
}

// startFilling makes fl the answer to requests for its key until endFilling.
func (e *Edge) startFilling(fl *filling) {
	e.fillMu.Lock()
	e.fills[fl.key] = fl
	e.fillMu.Unlock()
}

// endFilling forgets fl, unless another fill of its key has replaced it.
func (e *Edge) endFilling(fl *filling) {
	e.fillMu.Lock()
	if e.fills[fl.key] == fl {
		delete(e.fills, fl.key)
	}
	e.fillMu.Unlock()
}

// filling returns the fill of key in progress, or nil.
func (e *Edge) filling(key string) *filling {
	e.fillMu.Lock()
	defer e.fillMu.Unlock()
	return e.fills[key]
}
