package origin

import (
	"net/url"
	"path"
	"strings"

	"github.com/reelay/reelay/internal/videoid"
)

// kind is what an object of a video is, as told by its name.
type kind int

const (
	kindMaster   kind = iota // master.m3u8
	kindPlaylist             // {rendition}/index.m3u8, {rendition}/iframes.m3u8
	kindPoster               // poster.jpg
	kindInit                 // {rendition}/init.mp4
	kindSegment              // {rendition}/seg_NNNNN.m4s
)

// Object names that the packager writes (see package packager).
const (
	masterName         = "master.m3u8"
	posterName         = "poster.jpg"
	initName           = "init.mp4"
	mediaPlaylistName  = "index.m3u8"
	iframePlaylistName = "iframes.m3u8"
)

// object is a request path that names one of the objects the packager writes.
type object struct {
	video string // a valid video id
	name  string // the object's name under the video, e.g. "720p/seg_00001.m4s"
	kind  kind
}

// parsePath maps a request URL to the object it names. It accepts only the exact shapes that
// the packager writes, /v/{video}/{name}, spelled without any percent-encoding: nothing a
// client sends reaches the store unless it is one of them, so no "..", "." or "//" element, no
// encoded slash and no other byte can make a key outside the video's directory.
func parsePath(u *url.URL) (object, bool) {
	p := u.Path
	// Every byte of a valid path is unreserved, so a valid path is never percent-encoded.
	if u.RawPath != "" || u.Opaque != "" || strings.Contains(u.EscapedPath(), "%") || path.Clean(p) != p {
		return object{}, false
	}
	rest, ok := strings.CutPrefix(p, "/v/")
	if !ok {
		return object{}, false
	}
	video, name, ok := strings.Cut(rest, "/")
	if !ok || !videoid.Valid(video) {
		return object{}, false
	}
	obj := object{video: video, name: name}
	rendition, file, nested := strings.Cut(name, "/")
	switch {
	case !nested && name == masterName:
		obj.kind = kindMaster
	case !nested && name == posterName:
		obj.kind = kindPoster
	case !nested || !validRendition(rendition):
		return object{}, false
	case file == mediaPlaylistName || file == iframePlaylistName:
		obj.kind = kindPlaylist
	case file == initName:
		obj.kind = kindInit
	case validSegmentName(file):
		obj.kind = kindSegment
	default:
		return object{}, false
	}
	return obj, true
}

// validRendition reports whether s is a rendition name that the packager accepts: 1 to 64 of
// A-Z, a-z, 0-9, "_", "." and "-", starting with a letter or digit (so never "." or "..").
func validRendition(s string) bool {
	if len(s) == 0 || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// validSegmentName reports whether s is a media segment name as the packager writes them,
// fmt.Sprintf("seg_%05d.m4s", n) for n >= 1: at least five digits, and no leading zero beyond
// those five (at most ten digits).
func validSegmentName(s string) bool {
	digits, ok := strings.CutPrefix(s, "seg_")
	if !ok {
		return false
	}
	if digits, ok = strings.CutSuffix(digits, ".m4s"); !ok {
		return false
	}
	if len(digits) < 5 || len(digits) > 10 || len(digits) > 5 && digits[0] == '0' {
		return false
	}
	nonzero := false
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return false
		}
		nonzero = nonzero || c != '0'
	}
	return nonzero
}
