package origin

import "testing"

var liveFileCases = []struct {
	file string
	ok   bool
}{
	{"index.m3u8", true},
	{"video1_stream.m3u8", true},
	{"a1b2c3d4e5f6_video1_part12.mp4", true},
	{"", false},
	{"../videos/x", false},
	{"a/b.mp4", false},
	{"a..b", false},
	{"a%2fb", false},
	{"a b", false},
}

func TestValidLiveFile(t *testing.T) {
	for _, tc := range liveFileCases {
		if got := validLiveFile(tc.file); got != tc.ok {
			t.Errorf("validLiveFile(%q) = %v, want %v", tc.file, got, tc.ok)
		}
	}
}

// FuzzValidLiveFile checks that a name it takes stays one file of the stream's directory.
func FuzzValidLiveFile(f *testing.F) {
	for _, tc := range liveFileCases {
		f.Add(tc.file)
	}
	f.Fuzz(func(t *testing.T, file string) {
		if validLiveFile(file) {
			for _, c := range []byte(file) {
				if c == '/' || c == '\\' || c == '%' || c < 0x21 || c > 0x7e {
					t.Fatalf("%q taken", file)
				}
			}
		}
	})
}
