package edge

import (
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/internal/apierr"
)

// Errors the handlers return; writeError maps them to responses.
var (
	errNotFound     = apierr.New(http.StatusNotFound, "not_found", "no such object")
	errForbidden    = apierr.New(http.StatusForbidden, "forbidden", "missing or wrong admin token")
	errBadSignature = apierr.New(http.StatusForbidden, "bad_signature", "the URL signature is wrong or expired")
	// errSignatureRequired answers an unsigned request for a private video's object.
	errSignatureRequired = apierr.New(http.StatusForbidden, "signature_required", "this video is private: its URLs must be signed")
	errBadGateway        = apierr.New(http.StatusBadGateway, "bad_gateway", "the origin could not be reached")
)

// methodNotAllowed sets Allow and returns the 405 error.
func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) error {
	ctx.Response.Header.Set("Allow", allow)
	return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "allowed: "+allow)
}

// writeError answers ctx with err in apierr's JSON shape, never to be cached.
func (e *Edge) writeError(ctx *fasthttp.RequestCtx, err error) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	apierr.WriteCtx(ctx, e.log, err)
}

// writeJSON answers an operator's request with v as JSON, never to be cached.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	apierr.WriteJSONCtx(ctx, status, v)
}
