package packager

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// startCode is the three bytes that begin every NAL unit of an Annex-B stream (a four-byte start
// code is a zero byte and these).
var startCode = []byte{0, 0, 1}

var errNoStartCode = errors.New("no start code before the first NAL unit")

// splitAnnexB appends to dst the NAL units of the Annex-B access unit b, without their start
// codes and without the zero bytes that follow a unit (the first byte of a four-byte start
// code, or cabac_zero_words), and returns dst. b must begin with a start code. The units are
// slices of b.
//
// It finds start codes with bytes.Index, which the Go runtime runs with vector instructions:
// a byte-at-a-time scan of every encoded byte was the packager's largest cost in a transcode.
func splitAnnexB(dst [][]byte, b []byte) ([][]byte, error) {
	i := bytes.Index(b, startCode)
	if i < 0 || bytes.IndexFunc(b[:i], func(r rune) bool { return r != 0 }) >= 0 {
		return dst, errNoStartCode
	}
	for start := i + len(startCode); start <= len(b); {
		end := len(b)
		next := bytes.Index(b[start:], startCode)
		if next >= 0 {
			end = start + next
		}
		if n := bytes.TrimRight(b[start:end], "\x00"); len(n) > 0 {
			dst = append(dst, n)
		}
		if next < 0 {
			break
		}
		start = end + len(startCode)
	}
	return dst, nil
}

// appendAVCC appends the NAL units to dst in AVCC form, each after its length in four bytes
// big-endian, as fMP4 samples hold them.
func appendAVCC(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	return dst
}
