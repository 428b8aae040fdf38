package edge

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendFD sends up to n bytes of the file src from off to the non-blocking socket fd once with
// sendfile(2), retrying an interrupted call, and returns how many it sent; errAgain when the
// socket takes no more for now.
func sendFD(fd, src uintptr, off int64, n int) (int, error) {
	for {
		m, err := unix.Sendfile(int(fd), int(src), &off, n)
		switch {
		case err == syscall.EINTR && m <= 0:
			continue
		case err == syscall.EAGAIN && m <= 0:
			return 0, errAgain
		case m > 0:
			return m, nil
		case err != nil:
			return 0, os.NewSyscallError("sendfile", err)
		}
		return m, nil
	}
}

// memFileLimit is half the process's limit of open files (see Edge.memFiles).
func memFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return int(min(r.Cur/2, 1<<20))
}
