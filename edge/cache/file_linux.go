package cache

import (
	"os"

	"golang.org/x/sys/unix"
)

// newMemFile returns a memory file holding b, sealed: its size and bytes can change no more,
// so that pages the kernel has handed to a socket are never written over.
func newMemFile(b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("reelay-body", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "reelay-body")
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl F_ADD_SEALS", err)
	}
	return f, nil
}
