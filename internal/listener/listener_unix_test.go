//go:build unix

package listener

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestStalledClientIsCutInSyscallWrite: a writer that makes its own system calls through
// SyscallWrite is bound by WriteTimeout as Write is.
func TestStalledClientIsCutInSyscallWrite(t *testing.T) {
	l, _ := listen(t, Config{Limits: Limits{WriteTimeout: 200 * time.Millisecond}})
	defer l.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		errc <- c.(*Conn).SyscallWrite(func(fd uintptr) bool {
			for { // until the socket buffers are full; then wait, until the deadline passes
				if _, err := syscall.Write(int(fd), buf); err == syscall.EAGAIN {
					return false
				} else if err != nil {
					return true
				}
			}
		})
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // never read
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("SyscallWrite to a client that does not read: %v, want a deadline error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("SyscallWrite to a client that does not read never failed")
	}
}
