//go:build unix

package edge

import (
	"os"
	"syscall"
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
