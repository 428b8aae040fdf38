package packager

import (
	"errors"
	"testing"
)

// Parameter sets from libx264: Constrained Baseline level 1.3 at 320x240, Main level 3.1 at 1280x720.
var (
	baselineSPS = []byte{0x67, 0x42, 0xC0, 0x0D, 0xD9, 0x01, 0x41, 0xFB, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
		0x10, 0x00, 0x00, 0x03, 0x03, 0xC0, 0xF1, 0x42, 0xA4, 0x80}
	baselinePPS = []byte{0x68, 0xCB, 0x83, 0xCB, 0x20}
	mainSPS     = []byte{0x67, 0x4D, 0x40, 0x1F, 0xEC, 0xA0, 0x28, 0x02, 0xDD, 0x80, 0x88, 0x00, 0x00, 0x03,
		0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0xE0, 0x78, 0xC1, 0x8C, 0xB0}
)

var codecStringTests = []struct {
	name string
	sps  []byte
	want string // "" for an error
}{
	{"constrained baseline 1.3", baselineSPS, "avc1.42c00d"},
	{"main 3.1", mainSPS, "avc1.4d401f"},
	{"high 4.0", []byte{0x67, 0x64, 0x00, 0x28, 0xAC}, "avc1.640028"},
	{"nal_ref_idc 0", []byte{0x07, 0x64, 0x00, 0x1F}, "avc1.64001f"},
	{"nil", nil, ""},
	{"short", []byte{0x67, 0x64, 0x00}, ""},
	{"PPS", baselinePPS, ""},
	{"forbidden bit", []byte{0xE7, 0x64, 0x00, 0x1F}, ""},
	{"start code", []byte{0x00, 0x00, 0x00, 0x01, 0x67, 0x64}, ""},
	{"profile 0", []byte{0x67, 0x00, 0x00, 0x1F}, ""},
	{"level 0", []byte{0x67, 0x64, 0x00, 0x00}, ""},
	{"emulation prevention", []byte{0x67, 0x00, 0x00, 0x03, 0x01, 0x1F}, ""},
}

func TestCodecString(t *testing.T) {
	for _, tc := range codecStringTests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CodecString(tc.sps)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidSPS) {
					t.Errorf("CodecString = %q, %v; want ErrInvalidSPS", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("CodecString = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzCodecString(f *testing.F) {
	for _, tc := range codecStringTests {
		f.Add(tc.sps)
	}
	f.Fuzz(func(t *testing.T, sps []byte) {
		got, err := CodecString(sps)
		if err != nil {
			if !errors.Is(err, ErrInvalidSPS) || got != "" {
				t.Fatalf("CodecString = %q, %v", got, err)
			}
			return
		}
		if len(got) != len("avc1.000000") || got[:5] != "avc1." {
			t.Fatalf("CodecString = %q", got)
		}
	})
}
