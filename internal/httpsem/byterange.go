package httpsem

import (
	"errors"
	"math"
	"strings"
)

// ErrUnsatisfiableRange is returned by ParseRange for a well-formed single byte range that selects
// nothing of the representation: it is answered 416 with "Content-Range: bytes */size".
var ErrUnsatisfiableRange = errors.New("httpsem: range not satisfiable")

// ParseRange interprets the value of a Range request header (RFC 9110 §14.2) for a representation
// of size bytes. It depends on no HTTP library, so that the net/http origin and the fasthttp edge
// share it.
//
// It returns ok with the first byte and the number of bytes selected by a single satisfiable
// byte range ("bytes=0-499", "bytes=500-" or the suffix "bytes=-500"), cut at the end of the
// representation; then 0 <= start < size and 1 <= length <= size-start. It returns
// ErrUnsatisfiableRange (answer 416) for a single range that starts at or after size, for the
// suffix "bytes=-0", and for any range of an empty representation.
//
// Every other header gives ok false and no error, meaning "serve the whole representation with
// 200": an empty header, a unit other than bytes, a malformed range set (which RFC 9110 lets a
// server ignore), and a set of several ranges. Several ranges would need a multipart/byteranges
// body, which HLS players never ask for; RFC 9110 allows answering them with the whole
// representation.
func ParseRange(header string, size int64) (start, length int64, ok bool, err error) {
	unit, set, found := strings.Cut(header, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || size < 0 {
		return 0, 0, false, nil
	}
	spec := strings.Trim(set, " \t")
	if strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, nil
	}
	if first == "" { // suffix-range: the last n bytes
		n, valid := parseDigits(last)
		if !valid {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, ErrUnsatisfiableRange
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	from, valid := parseDigits(first)
	if !valid {
		return 0, 0, false, nil
	}
	to := int64(math.MaxInt64)
	if last != "" {
		if to, valid = parseDigits(last); !valid || to < from {
			return 0, 0, false, nil
		}
	}
	if from >= size {
		return 0, 0, false, ErrUnsatisfiableRange
	}
	to = min(to, size-1)
	return from, to - from + 1, true, nil
}

// parseDigits parses a non-empty run of ASCII digits, saturating at math.MaxInt64: a position
// too large to represent is still past the end of any representation.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue // keep checking that the rest are digits
		}
		n = n*10 + d
	}
	return n, true
}
