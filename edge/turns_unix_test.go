//go:build unix

package edge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// smallSendBuffers hands out connections whose kernel send buffer is small, so that a
// segment does not fit in it and a client that does not read stalls the write.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// TestSegmentHitsInTurns: segment hits are written in turns (turns.go), one write at a time
// here, and a client that does not read gives its turn up while it waits: another client's
// hit is answered meanwhile, whole, and the stalled client gets every byte once it reads.
func TestSegmentHitsInTurns(t *testing.T) {
	o := newTestOrigin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Origin: o.URL, Listener: smallSendBuffers{ln}})
	if err != nil {
		t.Fatal(err)
	}
	e.turns = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		testClient.CloseIdleConnections()
		cancel()
		<-done
	})
	_, prefix := newVideo()
	key := prefix + "big/seg_00001.m4s"
	want := objectBody(key)
	if _, body := do(t, "GET", e.URL()+key, "Connection", "close"); body != string(want) { // the fill
		t.Fatalf("fill: %d bytes, want %d", len(body), len(want))
	}

	// A client that asks for the segment, reads the start of the answer, and stops.
	// Its receive buffer is set small before it connects, so that its window is small from the
	// start (shrunk later, the window would reopen only on the sender's probes).
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		if err == nil {
			err = serr
		}
		return err
	}}
	c, err := d.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", key)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReaderSize(c, 1<<10)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stalled client: %v %v", resp, err)
	}
	start := make([]byte, 1<<10)
	if _, err := io.ReadFull(resp.Body, start); err != nil {
		t.Fatal(err)
	}

	// Its write waits for it to read: another client is answered meanwhile, whole.
	for range 3 {
		resp, body := do(t, "GET", e.URL()+key)
		if resp.StatusCode != http.StatusOK || body != string(want) {
			t.Fatalf("while a client stalls: %d, %d bytes, want 200 and %d", resp.StatusCode, len(body), len(want))
		}
	}

	// The stalled client reads on, and gets every byte.
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(start, rest...); !bytes.Equal(got, want) {
		t.Fatalf("stalled client got %d bytes, want the %d of the segment", len(got), len(want))
	}
}

// heldConn is one end of a socket pair as turnBody sees an edge connection: raw writes go to
// the socket, and Write, outside hold, records what it was asked to write on its own.
type heldConn struct {
	raw     syscall.RawConn
	holding bool
	held    []byte
	alone   [][]byte // what Write got outside hold
}

func (c *heldConn) SyscallWrite(f func(fd uintptr) bool) error { return c.raw.Write(f) }
func (c *heldConn) hold()                                      { c.holding, c.held = true, c.held[:0] }
func (c *heldConn) release() []byte                            { c.holding = false; return c.held }
func (c *heldConn) Write(p []byte) (int, error) {
	if c.holding {
		c.held = append(c.held, p...)
	} else {
		c.alone = append(c.alone, bytes.Clone(p))
	}
	return len(p), nil
}

// TestTurnBodyHeaderWithBody: the response header that fasthttp buffers goes out with the
// body, in the same writes, and never alone; also when the socket takes the bytes a few
// kilobytes at a time, so that the body goes out in many writes.
func TestTurnBodyHeaderWithBody(t *testing.T) {
	for _, sndbuf := range []int{0, 4 << 10} {
		t.Run(fmt.Sprint("sndbuf=", sndbuf), func(t *testing.T) {
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			if sndbuf > 0 {
				err = syscall.SetsockoptInt(fds[0], syscall.SOL_SOCKET, syscall.SO_SNDBUF, sndbuf)
			}
			if err == nil {
				err = syscall.SetNonblock(fds[0], true)
			}
			if err != nil {
				t.Fatal(err)
			}
			w, r := os.NewFile(uintptr(fds[0]), "w"), os.NewFile(uintptr(fds[1]), "r")
			defer w.Close()
			defer r.Close()
			raw, err := w.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			c := &heldConn{raw: raw}
			head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n")
			body := make([]byte, 300000)
			for i := range body {
				body[i] = byte(i * 7 / 5)
			}
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(r)
				got <- b
			}()
			bw := bufio.NewWriterSize(c, 4<<10)
			bw.Write(head)
			tb := &turnBody{b: body, conn: c, turns: make(chan struct{}, 1)}
			n, err := tb.WriteTo(bw)
			if err != nil || n != int64(len(body)) {
				t.Fatalf("WriteTo = %d, %v; want %d", n, err, len(body))
			}
			w.Close()
			if b := <-got; !bytes.Equal(b, append(head, body...)) {
				t.Fatalf("the peer read %d bytes, want the %d of the header and body in order", len(b), len(head)+len(body))
			}
			if len(c.alone) > 0 {
				t.Errorf("written alone, outside the body's writes: %q", c.alone)
			}
		})
	}
}
