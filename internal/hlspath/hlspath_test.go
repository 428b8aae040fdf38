package hlspath

import (
	"strings"
	"testing"
)

const id = "aaaaaaaaaaaaaaaaaaaaaaaaaa"

var cases = []struct {
	path string
	kind Kind
	ok   bool
}{
	{"/v/" + id + "/master.m3u8", Master, true},
	{"/v/" + id + "/poster.jpg", Poster, true},
	{"/v/" + id + "/720p/index.m3u8", Playlist, true},
	{"/v/" + id + "/720p/iframes.m3u8", Playlist, true},
	{"/v/" + id + "/audio/init.mp4", Init, true},
	{"/v/" + id + "/360p/seg_00001.m4s", Segment, true},
	{"/v/" + id + "/360p/seg_123456.m4s", Segment, true},
	{"/v/" + id + "/360p/seg_00000.m4s", 0, false},
	{"/v/" + id + "/360p/seg_012345.m4s", 0, false},
	{"/v/" + id + "/../master.m3u8", 0, false},
	{"/v/" + id + "/720p/../master.m3u8", 0, false},
	{"/v/" + id + "/%2e%2e/master.m3u8", 0, false},
	{"/v/" + id + "//master.m3u8", 0, false},
	{"/v/" + strings.ToUpper(id) + "/master.m3u8", 0, false},
	{"/v/" + id + "/720p/seg_00001.ts", 0, false},
	{"/v/" + id + "/.hidden/index.m3u8", 0, false},
	{"/x/" + id + "/master.m3u8", 0, false},
	{"/v/" + id, 0, false},
}

func TestParse(t *testing.T) {
	for _, tc := range cases {
		obj, ok := Parse(tc.path)
		if ok != tc.ok || ok && (obj.Kind != tc.kind || obj.Video != id || obj.Path != tc.path || "/v/"+obj.Video+"/"+obj.Name != tc.path) {
			t.Errorf("Parse(%q) = %+v, %v; want kind %d, %v", tc.path, obj, ok, tc.kind, tc.ok)
		}
	}
	if !Master.Mutable() || !Playlist.Mutable() || Segment.Mutable() || Init.Mutable() || Poster.Mutable() {
		t.Error("only playlists are mutable")
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		obj, ok := Parse(p)
		if !ok {
			return
		}
		for _, el := range strings.Split(p, "/")[1:] {
			if el == ".." || el == "." || el == "" {
				t.Fatalf("Parse(%q) accepted element %q", p, el)
			}
		}
		if strings.Count(obj.Name, "/") > 1 || strings.ContainsAny(p, "%\\?#") {
			t.Fatalf("Parse(%q) = %+v", p, obj)
		}
	})
}
