//go:build !unix

package edge

import "errors"

// inTurns: this system cannot write bodies in turns; fasthttp writes them.
const inTurns = false

// errAgain is never returned where writeFD cannot write.
var errAgain = errors.New("edge: write again")

// writeFD is not available on this system: bodies are written by fasthttp, not in turns.
func writeFD(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }

// writevFD is not available on this system either.
func writevFD(uintptr, []byte, []byte) (int, error) { return 0, errors.ErrUnsupported }
