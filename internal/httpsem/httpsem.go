// Package httpsem is the HTTP semantics that the origin (net/http) and the edge (fasthttp)
// share when they serve a video's objects: byte ranges (ParseRange), conditional requests
// (Conditions), CORS, the Cache-Control and Content-Type of each kind of object, the reading of
// an upstream's Cache-Control (MaxAge, Storable), and the header that marks a private video's
// objects. It depends on no HTTP server, so that neither tier owns what both speak.
package httpsem

import (
	"strconv"
	"strings"
	"time"

	"github.com/reelay/reelay/internal/layout"
)

// AccessHeader marks each response for an object of a private video with AccessPrivate. Edges
// keep the mark with the object and serve it only on a signed URL.
const (
	AccessHeader  = "X-Reelay-Access"
	AccessPrivate = "private"
)

// CORS of the objects: any page may play them, with ranges and revalidation.
const (
	CORSAllowMethods  = "GET, HEAD, OPTIONS"
	CORSAllowHeaders  = "Range, If-None-Match, If-Modified-Since, If-Range"
	CORSExposeHeaders = "Content-Length, Content-Range, Cache-Status, Age, ETag"
	CORSMaxAge        = "86400"
)

// CORS sets the CORS headers of an answer for an object through set, with allowOrigin as
// Access-Control-Allow-Origin; preflight adds those of an answer to a preflight (OPTIONS).
func CORS(set func(name, value string), allowOrigin string, preflight bool) {
	set("Access-Control-Allow-Origin", allowOrigin)
	set("Access-Control-Expose-Headers", CORSExposeHeaders)
	if preflight {
		set("Access-Control-Allow-Methods", CORSAllowMethods)
		set("Access-Control-Allow-Headers", CORSAllowHeaders)
		set("Access-Control-Max-Age", CORSMaxAge)
	}
}

// Content types of the objects.
const (
	ContentTypePlaylist     = "application/vnd.apple.mpegurl"
	ContentTypeVideoInit    = "video/mp4"
	ContentTypeAudioInit    = "audio/mp4"
	ContentTypeVideoSegment = "video/iso.segment"
	ContentTypeAudioSegment = "audio/mp4"
	ContentTypePoster       = "image/jpeg"
)

// Cache policies of the objects, as the packager stores them with each object.
const (
	// CacheImmutable: init and media segments, whose bytes never change under a key.
	CacheImmutable = "public, max-age=31536000, immutable"
	// CachePlaylist: the playlists of a finished presentation, which packaging the video again
	// may replace.
	CachePlaylist = "public, max-age=60"
	// CacheLivePlaylist: the playlists of a progressive publication, which grow with every
	// segment.
	CacheLivePlaylist = "public, max-age=1"
	// CachePoster: the poster.
	CachePoster = "public, max-age=86400"
)

// ContentType is the content type of an object of kind k, for one stored without any.
func ContentType(k layout.Kind) string {
	switch k {
	case layout.KindMaster, layout.KindPlaylist:
		return ContentTypePlaylist
	case layout.KindPoster:
		return ContentTypePoster
	case layout.KindInit:
		return ContentTypeVideoInit
	default:
		return ContentTypeVideoSegment
	}
}

// CacheControl is the Cache-Control of an object of kind k stored without any; playlists get
// playlist.
func CacheControl(k layout.Kind, playlist string) string {
	switch k {
	case layout.KindMaster, layout.KindPlaylist:
		return playlist
	case layout.KindPoster:
		return CachePoster
	default:
		return CacheImmutable
	}
}

// maxMaxAge caps the max-age that MaxAge returns: a larger one is as good as forever, and
// keeps the duration from overflowing.
const maxMaxAge = 1 << 31

// MaxAge returns how long a response with Cache-Control cc stays fresh: its max-age, 0 for
// no-cache, and one second when it has neither (or only a malformed max-age).
func MaxAge(cc string) time.Duration {
	for d := range strings.SplitSeq(cc, ",") {
		d = strings.TrimSpace(d)
		if strings.EqualFold(d, "no-cache") {
			return 0
		}
		name, v, ok := strings.Cut(d, "=")
		if ok && strings.EqualFold(strings.TrimSpace(name), "max-age") {
			if n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(v), `"`), 10, 64); err == nil && n >= 0 {
				return time.Duration(min(n, maxMaxAge)) * time.Second
			}
		}
	}
	return time.Second
}

// Storable reports whether an edge may keep a response with Cache-Control cc: not when it says
// no-store, nor when it says private, unless it is an object of a private video (privateVideo:
// marked with AccessHeader). Those are "private" so that no other shared cache (a CDN, a
// proxy) keeps them; edges keep them and serve them only on signed URLs.
func Storable(cc string, privateVideo bool) bool {
	for d := range strings.SplitSeq(cc, ",") {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case "no-store":
			return false
		case "private":
			if !privateVideo {
				return false
			}
		}
	}
	return true
}

// CacheSignedPlaylist is the Cache-Control of a private video's playlist answered on a signed
// URL: its URIs carry the player's signature (signedurl.SignPlaylist), so no cache may keep it.
const CacheSignedPlaylist = "private, no-store"

// PrivateCacheControl turns cc, the Cache-Control stored with an object, into that of an
// object of a private video: "private" in place of any "public", its other directives kept
// ("private, max-age=31536000, immutable").
func PrivateCacheControl(cc string) string {
	out := "private"
	for d := range strings.SplitSeq(cc, ",") {
		if d = strings.TrimSpace(d); d != "" && !strings.EqualFold(d, "public") && !strings.EqualFold(d, "private") {
			out += ", " + d
		}
	}
	return out
}
