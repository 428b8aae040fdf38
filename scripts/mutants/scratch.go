package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// A scratch is a copy of the repository's files in which one mutant at a time is applied
// and its tests run, so that the repository itself is never changed.
type scratch struct {
	dir string
}

// newScratch copies into a new temporary directory the files of the repository at root that
// git knows of: the tracked ones as they are in the work tree (uncommitted changes included)
// and the untracked ones that are not ignored. A node_modules directory is linked, not
// copied, for the tests that drive JavaScript clients.
func newScratch(root string) (*scratch, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	list, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("mutants: git ls-files in %s: %w: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	dir, err := os.MkdirTemp("", "reelay-mutants-")
	if err != nil {
		return nil, fmt.Errorf("mutants: scratch: %w", err)
	}
	s := &scratch{dir: dir}
	for name := range strings.SplitSeq(strings.TrimSuffix(string(list), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		if err := copyFile(filepath.Join(root, name), filepath.Join(dir, name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) { // tracked, but deleted in the work tree
				continue
			}
			s.remove()
			return nil, err
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "node_modules")); err == nil && fi.IsDir() {
		if err := os.Symlink(filepath.Join(root, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
			s.remove()
			return nil, fmt.Errorf("mutants: scratch: %w", err)
		}
	}
	return s, nil
}

// copyFile copies the regular file (or symbolic link) src to dst, making dst's directory.
func copyFile(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("mutants: scratch: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err == nil {
			err = os.Symlink(target, dst)
		}
		if err != nil {
			return fmt.Errorf("mutants: scratch: %w", err)
		}
		return nil
	}
	if !fi.Mode().IsRegular() {
		return nil // a submodule or other oddity: nothing a Go test reads
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("mutants: scratch: %w", err)
	}
	return nil
}

// apply writes m into the scratch's copy of m.File and returns the function that restores the
// file. It fails with errStale when m.From does not occur exactly once.
func (s *scratch) apply(m Mutant) (restore func() error, err error) {
	name := filepath.Join(s.dir, filepath.FromSlash(m.File))
	orig, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("mutants: %s: %w", m.Name, err)
	}
	mutated, err := mutate(orig, m)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("mutants: %s: %w", m.Name, err)
	}
	restore = func() error {
		if err := os.WriteFile(name, orig, fi.Mode().Perm()); err != nil {
			return fmt.Errorf("mutants: restore %s: %w", m.File, err)
		}
		return nil
	}
	if err := os.WriteFile(name, mutated, fi.Mode().Perm()); err != nil {
		restore()
		return nil, fmt.Errorf("mutants: %s: %w", m.Name, err)
	}
	return restore, nil
}

// errStale: a mutant's From does not occur exactly once in its file; the code it was written
// for has changed, and the list must follow.
var errStale = errors.New("stale")

// mutate returns src with m applied, or errStale.
func mutate(src []byte, m Mutant) ([]byte, error) {
	switch n := bytes.Count(src, []byte(m.From)); n {
	case 1:
		return bytes.Replace(src, []byte(m.From), []byte(m.To), 1), nil
	case 0:
		return nil, fmt.Errorf("%w: %q is not in %s", errStale, m.From, m.File)
	default:
		return nil, fmt.Errorf("%w: %q is in %s %d times, not once", errStale, m.From, m.File, n)
	}
}

// checkStale reports whether m still applies to the repository at root.
func checkStale(root string, m Mutant) error {
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(m.File)))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist", errStale, m.File)
	}
	if err != nil {
		return fmt.Errorf("mutants: %s: %w", m.Name, err)
	}
	_, err = mutate(src, m)
	return err
}

func (s *scratch) remove() { os.RemoveAll(s.dir) }
