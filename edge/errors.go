package edge

import (
	"encoding/json"
	"errors"
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

// writeError answers ctx with err in apierr's JSON shape: an *apierr.Error with its status, any
// other error as 500 internal, logged.
func (e *Edge) writeError(ctx *fasthttp.RequestCtx, err error) {
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		ae = &apierr.Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal server error", Err: err}
	}
	if ae.Status >= 500 {
		e.log.Error("edge: request failed", "method", string(ctx.Method()), "path", string(ctx.Path()), "err", err)
	}
	writeJSON(ctx, ae.Status, map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}})
}

// writeJSON answers ctx with v as JSON.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal server error"}}`)
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.Response.SetBodyRaw(append(b, '\n'))
}
