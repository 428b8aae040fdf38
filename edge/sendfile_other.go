//go:build !linux

package edge

import "errors"

// sendFD is not available on this system, which keeps no body in a memory file
// (cache.NewFile fails) and so never calls it.
func sendFD(fd, src uintptr, off int64, n int) (int, error) { return 0, errors.ErrUnsupported }

// memFileLimit: no memory files on this system.
func memFileLimit() int { return 0 }
