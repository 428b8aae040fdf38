package httpsem

import (
	"errors"
	"math"
	"testing"
)

var rangeCases = []struct {
	header        string
	size          int64
	start, length int64
	ok            bool
	unsatisfiable bool
}{
	// Single ranges.
	{header: "bytes=0-99", size: 1000, start: 0, length: 100, ok: true},
	{header: "bytes=0-0", size: 1000, start: 0, length: 1, ok: true},
	{header: "bytes=500-999", size: 1000, start: 500, length: 500, ok: true},
	{header: "bytes=500-5000", size: 1000, start: 500, length: 500, ok: true}, // cut at the end
	{header: "bytes=999-", size: 1000, start: 999, length: 1, ok: true},
	{header: "bytes=100-", size: 1000, start: 100, length: 900, ok: true},
	{header: "bytes=0-", size: 1000, start: 0, length: 1000, ok: true},
	{header: "bytes=-100", size: 1000, start: 900, length: 100, ok: true},
	{header: "bytes=-1000", size: 1000, start: 0, length: 1000, ok: true},
	{header: "bytes=-5000", size: 1000, start: 0, length: 1000, ok: true}, // longer than the object: all of it
	{header: "bytes=0-99999999999999999999999", size: 1000, start: 0, length: 1000, ok: true},
	{header: "Bytes=0-9", size: 1000, start: 0, length: 10, ok: true}, // the unit is case-insensitive
	{header: "bytes= 0-9 ", size: 1000, start: 0, length: 10, ok: true},
	{header: "bytes=0-0", size: 1, start: 0, length: 1, ok: true},
	{header: "bytes=-1", size: 1, start: 0, length: 1, ok: true},

	// Unsatisfiable: 416.
	{header: "bytes=1000-", size: 1000, unsatisfiable: true},
	{header: "bytes=1000-2000", size: 1000, unsatisfiable: true},
	{header: "bytes=99999999999999999999999-", size: 1000, unsatisfiable: true},
	{header: "bytes=-0", size: 1000, unsatisfiable: true},
	{header: "bytes=0-0", size: 0, unsatisfiable: true},
	{header: "bytes=-5", size: 0, unsatisfiable: true},
	{header: "bytes=0-", size: 0, unsatisfiable: true},

	// Ignored: the whole object with 200.
	{header: "", size: 1000},
	{header: "bytes=0-99,200-299", size: 1000}, // several ranges
	{header: "bytes=0-0, -1", size: 1000},
	{header: "bytes=0-1,", size: 1000},
	{header: "bytes=2000-3000,4000-5000", size: 1000}, // several, even unsatisfiable ones
	{header: "items=0-9", size: 1000},
	{header: "bytes 0-9", size: 1000},
	{header: "bytes=", size: 1000},
	{header: "bytes=-", size: 1000},
	{header: "bytes=9-0", size: 1000}, // last before first: invalid
	{header: "bytes=a-9", size: 1000},
	{header: "bytes=0-9a", size: 1000},
	{header: "bytes=+0-9", size: 1000},
	{header: "bytes=-+9", size: 1000},
	{header: "bytes=--9", size: 1000},
	{header: "bytes=0--9", size: 1000},
	{header: "bytes=0 - 9", size: 1000},
	{header: "bytes=0x10-", size: 1000},
	{header: "bytes=0-9", size: -1},
}

func TestParseRange(t *testing.T) {
	for _, tc := range rangeCases {
		start, length, ok, err := ParseRange(tc.header, tc.size)
		if tc.unsatisfiable {
			if !errors.Is(err, ErrUnsatisfiableRange) || ok {
				t.Errorf("ParseRange(%q, %d) = %d, %d, %v, %v; want ErrUnsatisfiableRange", tc.header, tc.size, start, length, ok, err)
			}
			continue
		}
		if err != nil || ok != tc.ok || ok && (start != tc.start || length != tc.length) {
			t.Errorf("ParseRange(%q, %d) = %d, %d, %v, %v; want %d, %d, %v, nil",
				tc.header, tc.size, start, length, ok, err, tc.start, tc.length, tc.ok)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, tc := range rangeCases {
		f.Add(tc.header, tc.size)
	}
	f.Add("bytes=0-9223372036854775807", int64(math.MaxInt64))
	f.Add("bytes=-9223372036854775807", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, header string, size int64) {
		start, length, ok, err := ParseRange(header, size)
		if err != nil {
			if ok || !errors.Is(err, ErrUnsatisfiableRange) {
				t.Fatalf("ParseRange(%q, %d) = ok %v, err %v", header, size, ok, err)
			}
			return
		}
		if !ok {
			return
		}
		if start < 0 || start >= size || length < 1 || length > size-start {
			t.Fatalf("ParseRange(%q, %d) = start %d, length %d: outside the object", header, size, start, length)
		}
	})
}
