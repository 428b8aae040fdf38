//go:build !linux

package cache

import (
	"errors"
	"os"
)

// newMemFile: memory files are Linux's; bodies stay in memory as []byte elsewhere.
func newMemFile([]byte) (*os.File, error) { return nil, errors.ErrUnsupported }
