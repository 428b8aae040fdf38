package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The workers of one process keep the sources they fetch in a directory of their own under
// Config.ScratchDir, scratchPrefix followed by a random suffix, locked (flock) for as long as
// the process runs. A process killed mid-job leaves its directory, with a whole source in it,
// behind: the next pipeline to start in the same scratch directory removes every such
// directory that no live process holds. The lock, rather than a name or a pid, tells them apart,
// so that processes sharing a scratch directory (os.TempDir() by default) never remove each
// other's files.
const (
	scratchPrefix = "reelay-scratch-"
	scratchLock   = ".lock"
	// scratchGrace spares a directory without a lock file for this long: its process may have
	// just made it and not yet taken the lock.
	scratchGrace = time.Minute
)

// scratch is this process's locked scratch directory.
type scratch struct {
	dir  string
	lock *os.File
}

// openScratch removes the directories that dead processes left under parent, then makes and
// locks this process's own.
func openScratch(parent string, log *slog.Logger) (*scratch, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("pipeline: scratch directory: %w", err)
	}
	sweepScratch(parent, log)
	dir, err := os.MkdirTemp(parent, scratchPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("pipeline: scratch directory: %w", err)
	}
	f, err := lockScratch(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pipeline: scratch directory: %w", err)
	}
	return &scratch{dir: dir, lock: f}, nil
}

// lockScratch creates dir's lock file and takes its lock, without waiting.
func lockScratch(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, scratchLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// close removes the directory and releases its lock.
func (s *scratch) close() error {
	err := os.RemoveAll(s.dir)
	s.lock.Close() // releases the lock
	return err
}

// sweepScratch removes the scratch directories under parent that no live process holds.
func sweepScratch(parent string, log *slog.Logger) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		log.Warn("looking for stale scratch directories", "dir", parent, "err", err)
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if _, err := os.Stat(filepath.Join(dir, scratchLock)); errors.Is(err, os.ErrNotExist) {
			if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < scratchGrace {
				continue
			}
		}
		f, err := lockScratch(dir)
		if err != nil {
			continue // held by a live process (EWOULDBLOCK), or not ours to open
		}
		var size int64
		filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
			if info, ierr := d.Info(); err == nil && ierr == nil && !d.IsDir() {
				size += info.Size()
			}
			return nil
		})
		err = os.RemoveAll(dir)
		f.Close()
		if err != nil {
			log.Warn("removing a stale scratch directory", "dir", dir, "err", err)
			continue
		}
		log.Info("removed a stale scratch directory, left by a process that died", "dir", dir, "bytes", size)
	}
}
