package layout

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
	{"/v/" + id + "/master.m3u8", KindMaster, true},
	{"/v/" + id + "/poster.jpg", KindPoster, true},
	{"/v/" + id + "/720p/index.m3u8", KindPlaylist, true},
	{"/v/" + id + "/720p/iframes.m3u8", KindPlaylist, true},
	{"/v/" + id + "/audio/init.mp4", KindInit, true},
	{"/v/" + id + "/360p/seg_00001.m4s", KindSegment, true},
	{"/v/" + id + "/360p/seg_123456.m4s", KindSegment, true},
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
	{"/v/" + id + "/private", 0, false},
	{"/v/" + id + "/ab3de7fg/poster.jpg", KindPoster, true},
	{"/v/" + id + "/ab3de7fg/720p/index.m3u8", KindPlaylist, true},
	{"/v/" + id + "/ab3de7fg/audio/init.mp4", KindInit, true},
	{"/v/" + id + "/ab3de7fg/360p/seg_00001.m4s", KindSegment, true},
	{"/v/" + id + "/ab3de7fg/master.m3u8", 0, false},
	{"/v/" + id + "/ab3de7fg/720p/x/seg_00001.m4s", 0, false},
	{"/v/" + id + "/ab3de7f1/720p/index.m3u8", 0, false},
	{"/v/" + id + "/ab3de7fgh/720p/index.m3u8", 0, false},
	{"/v/" + id + "/ab3de7fg/private/index.m3u8", 0, false},
	{"/v/" + id + "/private/index.m3u8", 0, false},
	{"/v/" + id + "/master.m3u8/index.m3u8", 0, false},
}

func TestParse(t *testing.T) {
	for _, tc := range cases {
		obj, ok := Parse(tc.path)
		if ok != tc.ok || ok && (obj.Kind != tc.kind || obj.Video != id || obj.Path != tc.path || "/v/"+obj.Video+"/"+obj.Name != tc.path) {
			t.Errorf("Parse(%q) = %+v, %v; want kind %d, %v", tc.path, obj, ok, tc.kind, tc.ok)
		}
	}
	if !KindMaster.Mutable() || !KindPlaylist.Mutable() || KindSegment.Mutable() || KindInit.Mutable() || KindPoster.Mutable() {
		t.Error("only playlists are mutable")
	}
}

// TestNamesRoundTrip checks that what the packager writes (the names and keys built here) is
// what Parse accepts, and that a parsed object's key is the one it was written under.
func TestNamesRoundTrip(t *testing.T) {
	for _, name := range []string{Master, Poster, InRendition("720p", Init), InRendition("720p", MediaPlaylist),
		InRendition("audio", IFramePlaylist), InRendition("360p", SegmentName(1)), InRendition("360p", SegmentName(123456))} {
		obj, ok := Parse(Path(id, name))
		if !ok || obj.Name != name || obj.Key() != VideoPrefix(id)+name || obj.Key() != "videos/"+id+"/"+name {
			t.Errorf("Parse(Path(%q)) = %+v, %v (key %q)", name, obj, ok, obj.Key())
		}
	}
	if SourceKey(id) != "sources/"+id {
		t.Errorf("SourceKey = %q", SourceKey(id))
	}
	for _, bad := range []string{"", ".", "..", "-x", Master, Poster, PrivateMarker, strings.Repeat("a", 65), "a/b", "a b"} {
		if ValidRendition(bad) {
			t.Errorf("ValidRendition(%q) = true", bad)
		}
	}
}

// TestGenerations checks generation names and the objects parsed under them.
func TestGenerations(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		g := NewGeneration()
		if !ValidGeneration(g) || seen[g] {
			t.Fatalf("NewGeneration = %q (valid %v, seen before %v)", g, ValidGeneration(g), seen[g])
		}
		seen[g] = true
	}
	for _, bad := range []string{"", "abcdefg", "abcdefghi", "ABCDEFGH", "abcdefg1", "abc/efgh"} {
		if ValidGeneration(bad) {
			t.Errorf("ValidGeneration(%q) = true", bad)
		}
	}
	const gen = "ab3de7fg"
	for name, want := range map[string]Object{
		InGeneration(gen, InRendition("720p", SegmentName(3))): {Generation: gen, Rendition: "720p", Kind: KindSegment},
		InGeneration(gen, Poster):                              {Generation: gen, Kind: KindPoster},
		InGeneration("", InRendition("720p", Init)):            {Rendition: "720p", Kind: KindInit},
		Master: {Kind: KindMaster},
	} {
		obj, ok := Parse(Path(id, name))
		if !ok || obj.Generation != want.Generation || obj.Rendition != want.Rendition || obj.Kind != want.Kind || obj.Name != name {
			t.Errorf("Parse(Path(%q)) = %+v, %v; want %+v", name, obj, ok, want)
		}
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
		if strings.Count(obj.Name, "/") > 2 || strings.ContainsAny(p, "%\\?#") ||
			obj.Generation != "" && !ValidGeneration(obj.Generation) || obj.Rendition != "" && !ValidRendition(obj.Rendition) {
			t.Fatalf("Parse(%q) = %+v", p, obj)
		}
	})
}

func TestAvatarFile(t *testing.T) {
	var sum [32]byte
	sum[0], sum[31] = 0xab, 0xff
	f := AvatarFile(sum)
	if f != "ab000000000000000000000000000000.jpg" || !ValidAvatarFile(f) || AvatarKey(f) != "avatars/"+f {
		t.Fatalf("AvatarFile = %q, key %q", f, AvatarKey(f))
	}
	for _, bad := range []string{"", ".jpg", "AB000000000000000000000000000000.jpg", "ab00000000000000000000000000000.jpg",
		"ab000000000000000000000000000000.png", "../00000000000000000000000000000.jpg", "ab000000000000000000000000000000.jpg/x"} {
		if ValidAvatarFile(bad) {
			t.Errorf("ValidAvatarFile(%q) = true", bad)
		}
	}
}

func FuzzValidAvatarFile(f *testing.F) {
	for _, s := range []string{"ab000000000000000000000000000000.jpg", "x.jpg", "../a.jpg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidAvatarFile(s) && (strings.ContainsAny(s, "/\\%.") && strings.Count(s, ".") != 1 || strings.Contains(s, "/")) {
			t.Fatalf("ValidAvatarFile(%q) = true", s)
		}
	})
}
