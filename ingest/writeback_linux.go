package ingest

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing bytes [off, off+n) of f to the disk, without
// waiting, so that the fsync that ends a chunk finds little left to write: the disk writes
// while the network delivers the rest of the chunk, instead of after it.
func startWriteback(f *os.File, off, n int64) {
	// Advice only: a file system that does not support it loses nothing but the overlap.
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
