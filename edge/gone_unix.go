//go:build linux || darwin || freebsd

package edge

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// clientGone reports whether the client of c has closed its end of the connection, or reset
// it: a peek at the socket, without reading what the client may have sent since, reads the
// end of the stream. A client that sent more (a pipelined request) is not gone.
func clientGone(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0
		case err == unix.EAGAIN || err == unix.EWOULDBLOCK || err == unix.EINTR:
		default:
			gone = true // reset, or worse
		}
		return true // done, whether or not the socket was readable
	})
	return err == nil && gone
}
