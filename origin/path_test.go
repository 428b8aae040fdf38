package origin

import (
	"net/url"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/layout"

	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/storage"
)

// testID is a fixed valid video id.
const testID = "abcdefghijklmnopqrstuvwxya"

func TestParsePath(t *testing.T) {
	if !videoid.Valid(testID) {
		t.Fatalf("testID %q is not a valid video id", testID)
	}
	v := "/v/" + testID + "/"
	good := []struct {
		target string
		name   string
		kind   layout.Kind
	}{
		{v + "master.m3u8", "master.m3u8", layout.KindMaster},
		{v + "master.m3u8?x=1", "master.m3u8", layout.KindMaster},
		{v + "poster.jpg", "poster.jpg", layout.KindPoster},
		{v + "720p/index.m3u8", "720p/index.m3u8", layout.KindPlaylist},
		{v + "720p/iframes.m3u8", "720p/iframes.m3u8", layout.KindPlaylist},
		{v + "audio/index.m3u8", "audio/index.m3u8", layout.KindPlaylist},
		{v + "720p/init.mp4", "720p/init.mp4", layout.KindInit},
		{v + "audio/init.mp4", "audio/init.mp4", layout.KindInit},
		{v + "720p/seg_00001.m4s", "720p/seg_00001.m4s", layout.KindSegment},
		{v + "720p/seg_99999.m4s", "720p/seg_99999.m4s", layout.KindSegment},
		{v + "720p/seg_100000.m4s", "720p/seg_100000.m4s", layout.KindSegment},
		{v + "1080p60_hi-q.v2/seg_00010.m4s", "1080p60_hi-q.v2/seg_00010.m4s", layout.KindSegment},
		{v + "HD/index.m3u8", "HD/index.m3u8", layout.KindPlaylist},
		{v + strings.Repeat("r", 64) + "/init.mp4", strings.Repeat("r", 64) + "/init.mp4", layout.KindInit},
	}
	for _, tc := range good {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		obj, ok := parsePath(u)
		if !ok || obj.Video != testID || obj.Name != tc.name || obj.Kind != tc.kind {
			t.Errorf("parsePath(%q) = %+v, %v; want %s, %d", tc.target, obj, ok, tc.name, tc.kind)
		}
	}
	for _, target := range badTargets(testID) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			continue // the server refuses it before the handler
		}
		if obj, ok := parsePath(u); ok {
			t.Errorf("parsePath(%q) = %+v, want refused", target, obj)
		}
	}
}

// badTargets are request targets that name no object; id is a valid video id.
func badTargets(id string) []string {
	v := "/v/" + id + "/"
	return []string{
		"/", "/v", "/v/", "/v/" + id, "/v/" + id + "/", "/metrics", "/healthz",
		"/v/../x", "/v/../../etc/passwd", "/v/./" + id + "/master.m3u8",
		"/v/AAAA/master.m3u8",
		"/v/" + strings.ToUpper(id) + "/master.m3u8",
		"/v/" + id + "x/master.m3u8",
		"/v/" + id[:25] + "b/master.m3u8", // not the canonical form of 16 bytes
		"/x/" + id + "/master.m3u8",
		"//v/" + id + "/master.m3u8",
		v + "../../etc/passwd",
		v + "720p/../master.m3u8",
		v + "720p/../../" + id + "/master.m3u8",
		v + "./master.m3u8",
		v + "/master.m3u8",
		v + "master.m3u8/",
		v + "%2e%2e/%2e%2e/etc/passwd",
		v + "720p/%2e%2e/master.m3u8",
		v + "720p/..%2fmaster.m3u8",
		v + "720p%2Fseg_00001.m4s",
		v + "720p%2fseg_00001.m4s",
		"/v/" + id + "%2Fmaster.m3u8",
		"/v%2F" + id + "/master.m3u8",
		v + "%6Daster.m3u8", // a needless escape of "m"
		v + "master.m3u8%00",
		v + "master%2em3u8",
		v + "720p/seg_1.m4s",
		v + "720p/seg_00000.m4s",
		v + "720p/seg_012345.m4s",
		v + "720p/seg_12345678901.m4s",
		v + "720p/seg_0000a.m4s",
		v + "720p/seg_00001.mp4",
		v + "720p/seg_00001.m4s.bak",
		v + "720p/index.m3u",
		v + "720p/poster.jpg",
		v + "720p/master.m3u8",
		v + "index.m3u8",
		v + "init.mp4",
		v + "seg_00001.m4s",
		v + "poster.jpeg",
		v + "Master.m3u8",
		v + ".hidden/index.m3u8",
		v + "-720p/index.m3u8",
		v + "_720p/index.m3u8",
		v + "../index.m3u8",
		v + "720p/sub/index.m3u8",
		v + "720p\\..\\master.m3u8",
		v + "720p;x/index.m3u8",
		v + "720p~/index.m3u8",
		v + strings.Repeat("r", 65) + "/init.mp4",
		"http://origin/v/../x",
		"*",
	}
}

// FuzzParsePath checks that whatever a client sends, an accepted path makes a valid key under
// the video's directory, named as the packager names objects.
func FuzzParsePath(f *testing.F) {
	f.Add("/v/" + testID + "/720p/seg_00001.m4s")
	f.Add("/v/" + testID + "/master.m3u8")
	for _, target := range badTargets(testID) {
		f.Add(target)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		obj, ok := parsePath(u)
		if !ok {
			return
		}
		key := layout.VideosPrefix + obj.Video + "/" + obj.Name
		if err := storage.ValidateKey(key); err != nil {
			t.Fatalf("parsePath(%q) accepted %+v: %v", target, obj, err)
		}
		if !videoid.Valid(obj.Video) || u.EscapedPath() != "/v/"+obj.Video+"/"+obj.Name {
			t.Fatalf("parsePath(%q) = %+v", target, obj)
		}
		if n := strings.Count(obj.Name, "/"); n > 1 || n == 0 && obj.Kind != layout.KindMaster && obj.Kind != layout.KindPoster {
			t.Fatalf("parsePath(%q) = %+v: not a packager name", target, obj)
		}
	})
}
