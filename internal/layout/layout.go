// Package layout is where a video's objects live: their keys in the object store and their
// paths on the wire. It is the one owner of those names. The packager writes them, the pipeline
// finds a video's source and presentation by them, and the origin and the edges accept exactly
// the paths that name them, so nothing a client sends can name a key outside a video's
// directory or cost a cache lookup or a fetch.
//
// In the object store:
//
//	sources/{video}                          the uploaded source (SourceKey)
//	videos/{video}/master.m3u8               the multivariant playlist, written last (Master)
//	videos/{video}/private                   marks a private video (PrivateMarker); never served
//	videos/{video}/{gen}/poster.jpg          the poster (Poster)
//	videos/{video}/{gen}/{rendition}/init.mp4          fMP4 init segment (Init)
//	videos/{video}/{gen}/{rendition}/seg_00001.m4s ... media segments (SegmentName)
//	videos/{video}/{gen}/{rendition}/index.m3u8        media playlist (MediaPlaylist)
//	videos/{video}/{gen}/{rendition}/iframes.m3u8      I-frame playlist (IFramePlaylist)
//	avatars/{hex}.jpg                        a user's avatar, named by its content (AvatarKey)
//
// {gen} is the generation of the presentation: every packaging of a video (every attempt of
// its transcode) writes under a generation of its own (NewGeneration), and master.m3u8 names
// the current one. A name therefore always means the same bytes, which is what lets edges and
// players keep segments forever: a retried transcode, which does not make the same bytes
// (libx264 is not bit-exact from run to run), writes new names. A presentation packaged
// without a generation (`reelay transcode`'s plain trees, and videos published before
// generations) has its poster and renditions directly under videos/{video}/.
//
// On the wire, /v/{video}/{name} names the object videos/{video}/{name} (Path, Parse).
package layout

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/reelay/reelay/internal/videoid"
)

// Prefixes of the object store and of request paths.
const (
	// VideosPrefix holds the published presentations, one directory per video.
	VideosPrefix = "videos/"
	// SourcesPrefix holds the uploaded sources, one object per video.
	SourcesPrefix = "sources/"
	// PathPrefix starts the request path of every object of a video.
	PathPrefix = "/v/"
	// LivePathPrefix starts the request path of every file of a live stream:
	// /v/live/{stream}/{file}, served by the process that packages the stream (package live).
	// "live" is no video id, so Parse refuses these paths.
	LivePathPrefix = PathPrefix + "live/"
	// LiveMaster is the multivariant playlist of a live stream, under LivePathPrefix.
	LiveMaster = "index.m3u8"
	// LivePrefix holds the live streams while they are on, one directory per stream
	// (live/{stream}/{file}, the files of /v/live/{stream}/{file}).
	LivePrefix = "live/"
	// AvatarsPrefix holds the users' avatars, named by their content.
	AvatarsPrefix = "avatars/"
)

// Object names under a video's directory, and under each rendition's.
const (
	Master         = "master.m3u8"
	Poster         = "poster.jpg"
	Init           = "init.mp4"
	MediaPlaylist  = "index.m3u8"
	IFramePlaylist = "iframes.m3u8"
	// PrivateMarker is the name of an object that, present in a video's directory, makes the
	// video private: the origin marks its objects so, and edges serve them only on signed URLs.
	// Parse refuses the name, so the marker itself is never served.
	PrivateMarker = "private"
)

// LiveKey is the store key of file of live stream id ("" for the stream's prefix).
func LiveKey(id, file string) string { return LivePrefix + id + "/" + file }

// LivePath is the request path of file of live stream id.
func LivePath(id, file string) string { return LivePathPrefix + id + "/" + file }

// VideoPrefix is the store prefix of video id's presentation: "videos/{id}/".
func VideoPrefix(id string) string { return VideosPrefix + id + "/" }

// SourceKey is the store key of video id's uploaded source: "sources/{id}".
func SourceKey(id string) string { return SourcesPrefix + id }

// avatarHexLen is how many hex digits of its SHA-256 name an avatar: 128 bits.
const avatarHexLen = 32

// AvatarFile is the file name of the avatar whose bytes have SHA-256 sum: "{hex}.jpg", the
// first 32 hex digits of the sum. The same image always has the same name, and a new image a
// new one, so that caches may keep an avatar forever.
func AvatarFile(sum [32]byte) string { return hex.EncodeToString(sum[:avatarHexLen/2]) + ".jpg" }

// AvatarKey is the store key of the avatar file name: "avatars/{file}".
func AvatarKey(file string) string { return AvatarsPrefix + file }

// ValidAvatarFile reports whether file is a name AvatarFile makes: 32 lowercase hex digits
// and ".jpg".
func ValidAvatarFile(file string) bool {
	h, ok := strings.CutSuffix(file, ".jpg")
	if !ok || len(h) != avatarHexLen {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Path is the request path of object name of video id: "/v/{id}/{name}".
func Path(id, name string) string { return PathPrefix + id + "/" + name }

// SegmentName is the name of media segment n (from 1) of a rendition: "seg_00001.m4s".
func SegmentName(n int) string { return fmt.Sprintf("seg_%05d.m4s", n) }

// InRendition is the name of file in rendition's directory: "720p/index.m3u8".
func InRendition(rendition, file string) string { return rendition + "/" + file }

// generationLen is the length of a generation's name.
const generationLen = 8

var generationEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewGeneration returns a fresh random generation name: 8 characters of a-z and 2-7.
func NewGeneration() string {
	b := make([]byte, 5)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return generationEncoding.EncodeToString(b)
}

// ValidGeneration reports whether s is a generation name as NewGeneration makes them.
func ValidGeneration(s string) bool {
	if len(s) != generationLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// InGeneration is the name of name in generation gen's directory ("gen/name"), or name itself
// for a presentation without generations (gen "").
func InGeneration(gen, name string) string {
	if gen == "" {
		return name
	}
	return gen + "/" + name
}

// Kind is what an object of a video is, as told by its name.
type Kind int

// Kinds of object.
const (
	KindMaster   Kind = iota // master.m3u8
	KindPlaylist             // {rendition}/index.m3u8, {rendition}/iframes.m3u8
	KindPoster               // poster.jpg
	KindInit                 // {rendition}/init.mp4
	KindSegment              // {rendition}/seg_NNNNN.m4s
)

// Mutable reports whether objects of the kind may change when a video is packaged again:
// playlists may, everything else is immutable.
func (k Kind) Mutable() bool { return k == KindMaster || k == KindPlaylist }

// Object is a path that names one of a video's objects.
type Object struct {
	Path       string // the whole path, /v/{video}/{name}
	Video      string // a valid video id
	Name       string // the object's name under the video, e.g. "ab3de7fg/720p/seg_00001.m4s"
	Generation string // the generation the object belongs to, "" for master.m3u8 and a presentation without generations
	Rendition  string // the rendition the object belongs to, "" for master.m3u8 and the poster
	Kind       Kind
}

// Key is the object's key in the store.
func (o Object) Key() string { return VideoPrefix(o.Video) + o.Name }

// Parse maps a request path, as sent (still percent-encoded), to the object it names. It
// accepts only the exact shapes the packager writes, spelled without percent-encoding (every
// byte of a valid path is unreserved) and without ".", ".." or empty elements.
func Parse(p string) (Object, bool) {
	if strings.Contains(p, "%") || path.Clean(p) != p {
		return Object{}, false
	}
	rest, ok := strings.CutPrefix(p, PathPrefix)
	if !ok {
		return Object{}, false
	}
	video, name, ok := strings.Cut(rest, "/")
	if !ok || !videoid.Valid(video) {
		return Object{}, false
	}
	obj := Object{Path: p, Video: video, Name: name}
	if name == Master {
		obj.Kind = KindMaster
		return obj, true
	}
	// Under a generation, or (a presentation without generations) directly under the video.
	if gen, rest, ok := strings.Cut(name, "/"); ok && ValidGeneration(gen) && (rest == Poster || strings.Contains(rest, "/")) {
		obj.Generation, name = gen, rest
	}
	rendition, file, nested := strings.Cut(name, "/")
	switch {
	case !nested && name == Poster:
		obj.Kind = KindPoster
	case !nested || strings.Contains(file, "/") || !ValidRendition(rendition):
		return Object{}, false
	case file == MediaPlaylist || file == IFramePlaylist:
		obj.Kind = KindPlaylist
	case file == Init:
		obj.Kind = KindInit
	case validSegmentName(file):
		obj.Kind = KindSegment
	default:
		return Object{}, false
	}
	if nested {
		obj.Rendition = rendition
	}
	return obj, true
}

// ValidRendition reports whether s may name a rendition: 1 to 64 of A-Z, a-z, 0-9, "_", "."
// and "-", starting with a letter or digit (so never "." or ".."), and none of the names of a
// video's own objects.
func ValidRendition(s string) bool {
	if len(s) == 0 || len(s) > 64 || !isAlnum(s[0]) || s == Master || s == Poster || s == PrivateMarker {
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

// validSegmentName reports whether s is a media segment name as SegmentName writes them for
// n >= 1: at least five digits, and no leading zero beyond those five (at most ten digits).
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
