package edge

import (
	"net/url"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/signedurl"
)

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
		if signedurl.VerifyPeer(e.cfg.SigningKey, obj.Path, string(h.Peek(signedurl.PeerAuthHeader))) {
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
