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
