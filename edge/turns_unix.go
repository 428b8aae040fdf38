//go:build unix

package edge

import (
	"os"
	"syscall"
	"unsafe"
)

// inTurns: this system can write bodies in turns.
const inTurns = true

// errAgain is the error of a write to a socket that takes no more for now.
var errAgain error = syscall.EAGAIN

// writeFD writes b to the non-blocking file descriptor fd once, retrying an interrupted call.
func writeFD(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errAgain
		case err != nil:
			return 0, os.NewSyscallError("write", err)
		}
		return n, nil
	}
}

// writevFD writes head and then b to the non-blocking file descriptor fd in one writev(2), as
// writeFD does; head must not be empty.
func writevFD(fd uintptr, head, b []byte) (int, error) {
	if len(b) == 0 {
		return writeFD(fd, head)
	}
	iov := [2]syscall.Iovec{{Base: &head[0]}, {Base: &b[0]}}
	iov[0].SetLen(len(head))
	iov[1].SetLen(len(b))
	for {
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return 0, errAgain
		case errno != 0:
			return 0, os.NewSyscallError("writev", errno)
		}
		return int(n), nil
	}
}
