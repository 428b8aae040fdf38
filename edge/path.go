package edge

import (
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

// mutable reports whether objects of the kind may change: playlists are refreshed after their
// max-age, everything else is immutable.
func (k kind) mutable() bool { return k == kindMaster || k == kindPlaylist }

// object is a request path naming one of the objects the packager writes.
type object struct {
	key   string // the path, the cache key: /v/{video}/{name}
	video string
	name  string
	kind  kind
}

// parseObject checks a raw (still percent-encoded) request path against the exact shapes the
// origin serves, /v/{video}/{name} with a valid video id, and no percent-encoding, "." or ".."
// element or empty element: the same rules as the origin, so that the edge never spends a cache
// lookup or a fetch on a path the origin would refuse.
func parseObject(p string) (object, bool) {
	if strings.Contains(p, "%") || path.Clean(p) != p {
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
	obj := object{key: p, video: video, name: name}
	rendition, file, nested := strings.Cut(name, "/")
	switch {
	case !nested && name == "master.m3u8":
		obj.kind = kindMaster
	case !nested && name == "poster.jpg":
		obj.kind = kindPoster
	case !nested || !validRendition(rendition):
		return object{}, false
	case file == "index.m3u8" || file == "iframes.m3u8":
		obj.kind = kindPlaylist
	case file == "init.mp4":
		obj.kind = kindInit
	case validSegmentName(file):
		obj.kind = kindSegment
	default:
		return object{}, false
	}
	return obj, true
}

// validRendition reports whether s is a rendition name the packager accepts: 1 to 64 of A-Z,
// a-z, 0-9, "_", "." and "-", starting with a letter or digit.
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

// validSegmentName reports whether s is seg_NNNNN.m4s as the packager writes it: n >= 1 in at
// least five digits, with no leading zero beyond those five.
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
