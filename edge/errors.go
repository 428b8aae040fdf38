package edge

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/signedurl"
)

// Errors the handlers return; writeError maps them to responses.
var (
	errNotFound  = apierr.New(http.StatusNotFound, "not_found", "no such object")
	errForbidden = apierr.New(http.StatusForbidden, "forbidden", "missing or wrong admin token")
	// errForbiddenMetrics answers a request for /metrics or /_edge/stats without the metrics
	// token.
	errForbiddenMetrics  = apierr.New(http.StatusForbidden, "forbidden", "missing or wrong metrics token")
	errBadSignature      = signedurl.ErrSignatureRefused
	errSignatureRequired = signedurl.ErrSignatureRequired
	// errNotStored answers a peer's request for a stored copy (peerStored) that this node does
	// not have.
	errNotStored = apierr.New(http.StatusGatewayTimeout, "not_stored", "this node does not store the object")
)

// The answers to a failed fill, as a reverse proxy gives them (Caddy, nginx, HAProxy): 504 when
// upstream did not answer in time, or said so itself; 502 when it could not be reached or
// failed otherwise.
//
// An object larger than Config.MaxObjectBytes is refused with 502 object_too_large. The
// request is fine and the object exists, so no 4xx fits; among the 5xx, 502 is what proxies
// answer for an upstream response past their own limits (nginx's "upstream sent too big
// header", HAProxy's oversized response), and it says where to look: between this edge and its
// upstream, whose limits disagree. The code tells it from an unreachable origin; retrying does
// not help.
var (
	errBadGateway     = apierr.New(http.StatusBadGateway, "bad_gateway", "the origin could not be reached, or failed")
	errGatewayTimeout = apierr.New(http.StatusGatewayTimeout, "gateway_timeout", "the origin did not answer in time")
	errObjectTooLarge = apierr.New(http.StatusBadGateway, "object_too_large", "the object is larger than this edge serves")
)

// errTooLarge marks a fill refused for its size; fillError maps it to errObjectTooLarge.
var errTooLarge = errors.New("edge: object larger than MaxObjectBytes")

// fillError returns the answer to a fill that failed with err: see errBadGateway.
func fillError(err error) error {
	answer := errBadGateway
	switch {
	case errors.Is(err, errTooLarge):
		answer = errObjectTooLarge
	case isTimeout(err):
		answer = errGatewayTimeout
	}
	return &apierr.Error{Status: answer.Status, Code: answer.Code, Message: answer.Message, Err: err}
}

// isTimeout reports whether err is a fetch that ran out of time: dialing, waiting for a
// connection to the host, or reading the answer.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, fasthttp.ErrNoFreeConns) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// upstreamError returns the answer to an upstream's 5xx: 504 for its own 504, 502 otherwise.
func upstreamError(status int) error {
	answer := errBadGateway
	if status == http.StatusGatewayTimeout {
		answer = errGatewayTimeout
	}
	return &apierr.Error{Status: answer.Status, Code: answer.Code, Message: answer.Message, Err: fmt.Errorf("upstream answered %d", status)}
}

// methodNotAllowed sets Allow and returns the 405 error.
func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) error {
	ctx.Response.Header.Set("Allow", allow)
	return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "allowed: "+allow)
}

// writeError answers ctx with err in apierr's JSON shape, never to be cached. Server errors are
// logged, but for a stored copy this node does not have: a peer asks for it without expecting it.
func (e *Edge) writeError(ctx *fasthttp.RequestCtx, err error) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	log := e.log
	if errors.Is(err, errNotStored) {
		log = nil
	}
	apierr.WriteCtx(ctx, log, err)
}

// writeJSON answers an operator's request with v as JSON, never to be cached.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	apierr.WriteJSONCtx(ctx, status, v)
}
