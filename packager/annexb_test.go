package packager

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil: an error
	}{
		{"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67\x42\x00\x00\x01\x65\x88\x84", []string{"\x09\xf0", "\x67\x42", "\x65\x88\x84"}},
		{"\x00\x00\x01\x65\x88", []string{"\x65\x88"}},
		{"\x00\x00\x01\x65\x88\x00\x00", []string{"\x65\x88"}}, // trailing zero bytes
		{"\x00\x00\x01\x00\x00\x01\x41", []string{"\x41"}},     // an empty unit
		{"\x00\x00\x00\x00\x01\x41", []string{"\x41"}},         // extra leading zeros
		{"\x00\x00\x01", []string{}},
		{"\x65\x88", nil},
		{"\x01\x00\x00\x01\x65", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := splitAnnexB(nil, []byte(tt.in))
		if tt.want == nil {
			if err == nil {
				t.Errorf("splitAnnexB(%x) = %x, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("splitAnnexB(%x) = %x, %v; want %x", tt.in, got, err, tt.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Errorf("splitAnnexB(%x)[%d] = %x, want %x", tt.in, i, got[i], tt.want[i])
			}
		}
	}
	if got := appendAVCC(nil, [][]byte{{0x65, 0x88}, {0x41}}); !bytes.Equal(got, []byte{0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x41}) {
		t.Errorf("appendAVCC = %x", got)
	}
}

// FuzzSplitAnnexB checks splitAnnexB against mediacommon's Annex-B parser, which the packager
// used before: the same units, but for the zero bytes that splitAnnexB trims off their ends.
func FuzzSplitAnnexB(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67\x42\x00\x00\x01\x65\x88\x84"))
	f.Add([]byte("\x00\x00\x01\x65\x88\x00\x00"))
	f.Add([]byte("\x00\x00\x01\x00\x00\x01\x41"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := splitAnnexB(nil, b)
		var au h264.AnnexB
		if !bytes.HasPrefix(bytes.TrimLeft(b, "\x00"), []byte{1}) || len(b)-len(bytes.TrimLeft(b, "\x00")) < 2 {
			if err == nil {
				t.Fatalf("splitAnnexB(%x) = %x without a leading start code", b, got)
			}
			return
		}
		if au.Unmarshal(b) != nil {
			return // mediacommon refuses more: no units, or a unit that starts with zero bytes
		}
		if err != nil {
			t.Fatalf("splitAnnexB(%x): %v; mediacommon found %x", b, err, [][]byte(au))
		}
		var want [][]byte
		for _, n := range au {
			if n = bytes.TrimRight(n, "\x00"); len(n) > 0 {
				want = append(want, n)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("splitAnnexB(%x) = %x, mediacommon %x", b, got, want)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("splitAnnexB(%x)[%d] = %x, mediacommon %x", b, i, got[i], want[i])
			}
		}
	})
}

// accessUnit returns an Annex-B access unit as libx264 writes one: an AUD, then a slice of n
// bytes without start code emulation.
func accessUnit(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65}
	for range n {
		b = append(b, byte(r.IntN(255)+1))
	}
	return b
}

func BenchmarkSplitAnnexB(b *testing.B) {
	au := accessUnit(100 << 10)
	b.Run("reelay", func(b *testing.B) {
		b.SetBytes(int64(len(au)))
		var nalus [][]byte
		for b.Loop() {
			nalus, _ = splitAnnexB(nalus[:0], au)
		}
	})
	b.Run("mediacommon", func(b *testing.B) {
		b.SetBytes(int64(len(au)))
		for b.Loop() {
			var a h264.AnnexB
			a.Unmarshal(au)
		}
	})
}
