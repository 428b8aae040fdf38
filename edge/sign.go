package edge

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/signedurl"
)

// PeerAuthHeader carries a node's proof, to the owner it fills from, that the fill is a peer's:
// base64url of HMAC-SHA256(signing key, "peer|{path}"). It lets the owner answer a private
// object without the player's signature, which the fill does not carry.
const PeerAuthHeader = "X-Reelay-Peer-Auth"

// peerToken is the PeerAuthHeader value of a fill of path.
func peerToken(key []byte, path string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("peer|" + path))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkSignature verifies a request's exp and sig when a signing key is set and the request
// carries either: a public object may be asked for with a signature, but not a wrong one.
func (e *Edge) checkSignature(ctx *fasthttp.RequestCtx, video string) error {
	if e.cfg.SigningKey == nil {
		return nil
	}
	args := ctx.QueryArgs()
	if !args.Has("exp") && !args.Has("sig") {
		return nil
	}
	if signedurl.Verify(e.cfg.SigningKey, video, string(args.Peek("exp")), string(args.Peek("sig")), time.Now()) != nil {
		return errBadSignature
	}
	return nil
}

// privateAccess decides a request for an object of a private video, whose signature, if any,
// checkSignature has verified. A peer's fill that proves itself with PeerAuthHeader is let
// through as is (query ""); a player needs a signature, whose query ("exp=...&sig=...") it
// returns for the playlist's URIs. Without a signing key no player can be let through.
func (e *Edge) privateAccess(ctx *fasthttp.RequestCtx, obj layout.Object) (query string, err error) {
	if e.cfg.SigningKey == nil {
		return "", errSignatureRequired
	}
	h := &ctx.Request.Header
	if len(h.Peek(PeerHeader)) > 0 {
		if hmac.Equal(h.Peek(PeerAuthHeader), []byte(peerToken(e.cfg.SigningKey, obj.Path))) {
			return "", nil
		}
		return "", errSignatureRequired
	}
	args := ctx.QueryArgs()
	if !args.Has("sig") {
		return "", errSignatureRequired
	}
	return "exp=" + url.QueryEscape(string(args.Peek("exp"))) + "&sig=" + url.QueryEscape(string(args.Peek("sig"))), nil
}

// signPlaylist returns playlist with query added to every URI it holds: the URI lines and the
// URI="..." attributes of its tags (EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF). A
// player resolves them against the playlist's URL without its query, so without this the
// signature would stop at the first playlist.
func signPlaylist(playlist []byte, query string) []byte {
	var b bytes.Buffer
	b.Grow(len(playlist) + 64*bytes.Count(playlist, []byte("\n")))
	for line := range bytes.Lines(playlist) {
		body := bytes.TrimRight(line, "\r\n")
		eol := line[len(body):]
		trimmed := bytes.TrimSpace(body)
		switch {
		case len(trimmed) == 0:
			b.Write(line)
			continue
		case trimmed[0] != '#':
			b.Write(bytes.TrimRight(body, " \t"))
			b.WriteString(joinQuery(string(trimmed), query))
		default:
			rest := body
			for {
				i := bytes.Index(rest, []byte(`URI="`))
				if i < 0 {
					break
				}
				i += len(`URI="`)
				j := bytes.IndexByte(rest[i:], '"')
				if j < 0 {
					break
				}
				b.Write(rest[:i+j])
				b.WriteString(joinQuery(string(rest[i:i+j]), query))
				rest = rest[i+j:]
			}
			b.Write(rest)
		}
		b.Write(eol)
	}
	return b.Bytes()
}

// joinQuery returns what to append to uri to add query: "?query", or "&query" when uri has a
// query already.
func joinQuery(uri, query string) string {
	if strings.Contains(uri, "?") {
		return "&" + query
	}
	return "?" + query
}
