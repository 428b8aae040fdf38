// Package hlspath is the public shape of a video's HLS objects, /v/{video}/{name}: which paths
// name an object that the packager writes, and of which kind. The origin and the edge accept
// exactly these paths, so nothing a client sends can name a key outside a video's directory or
// cost a cache lookup or a fetch.
package hlspath

import (
	"path"
	"strings"

	"github.com/reelay/reelay/internal/videoid"
)

// Kind is what an object of a video is, as told by its name.
type Kind int

// Kinds of object.
const (
	Master   Kind = iota // master.m3u8
	Playlist             // {rendition}/index.m3u8, {rendition}/iframes.m3u8
	Poster               // poster.jpg
	Init                 // {rendition}/init.mp4
	Segment              // {rendition}/seg_NNNNN.m4s
)

// Mutable reports whether objects of the kind may change when a video is packaged again:
// playlists may, everything else is immutable.
func (k Kind) Mutable() bool { return k == Master || k == Playlist }

// Object is a path that names one of a video's objects.
type Object struct {
	Path  string // the whole path, /v/{video}/{name}
	Video string // a valid video id
	Name  string // the object's name under the video, e.g. "720p/seg_00001.m4s"
	Kind  Kind
}

// PrivateMarker is the name of an object that, present under a video's prefix in the store,
// makes the video private: the origin marks its objects so, and edges serve them only on signed
// URLs. Parse refuses the name, so the marker itself is never served.
const PrivateMarker = "private"

// Parse maps a request path, as sent (still percent-encoded), to the object it names. It
// accepts only the exact shapes the packager writes, spelled without percent-encoding (every
// byte of a valid path is unreserved) and without ".", ".." or empty elements.
func Parse(p string) (Object, bool) {
	if strings.Contains(p, "%") || path.Clean(p) != p {
		return Object{}, false
	}
	rest, ok := strings.CutPrefix(p, "/v/")
	if !ok {
		return Object{}, false
	}
	video, name, ok := strings.Cut(rest, "/")
	if !ok || !videoid.Valid(video) {
		return Object{}, false
	}
	obj := Object{Path: p, Video: video, Name: name}
	rendition, file, nested := strings.Cut(name, "/")
	switch {
	case !nested && name == "master.m3u8":
		obj.Kind = Master
	case !nested && name == "poster.jpg":
		obj.Kind = Poster
	case !nested || !ValidRendition(rendition):
		return Object{}, false
	case file == "index.m3u8" || file == "iframes.m3u8":
		obj.Kind = Playlist
	case file == "init.mp4":
		obj.Kind = Init
	case validSegmentName(file):
		obj.Kind = Segment
	default:
		return Object{}, false
	}
	return obj, true
}

// ValidRendition reports whether s is a rendition name that the packager accepts: 1 to 64 of
// A-Z, a-z, 0-9, "_", "." and "-", starting with a letter or digit (so never "." or "..").
func ValidRendition(s string) bool {
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
