package edge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Errors of Verify.
var (
	// ErrBadSignature: the signature or the expiry is malformed, or the signature is wrong.
	ErrBadSignature = errors.New("edge: bad URL signature")
	// ErrExpired: the signature is right but its expiry has passed.
	ErrExpired = errors.New("edge: signed URL expired")
)

// Sign returns the signature of a URL of video valid until exp, for the query parameters
// exp={unix seconds of exp} and sig={the result}: base64url, unpadded, of
// HMAC-SHA256(key, "/v/{video}|{exp}"). It covers every object of the video.
func Sign(key []byte, video string, exp time.Time) string {
	return sign(key, video, strconv.FormatInt(exp.Unix(), 10))
}

func sign(key []byte, video, exp string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("/v/" + video + "|" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks the exp and sig query parameters of a request for video at time now. It
// returns ErrBadSignature or ErrExpired, or nil for a valid signature.
func Verify(key []byte, video, exp, sig string, now time.Time) error {
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || exp != strconv.FormatInt(t, 10) {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(sig), []byte(sign(key, video, exp))) {
		return ErrBadSignature
	}
	if now.Unix() >= t {
		return ErrExpired
	}
	return nil
}

// checkSignature verifies a request's exp and sig when a signing key is set and the request
// carries either; see the package comment about private videos.
func (e *Edge) checkSignature(ctx *fasthttp.RequestCtx, video string) error {
	if e.cfg.SigningKey == nil {
		return nil
	}
	args := ctx.QueryArgs()
	if !args.Has("exp") && !args.Has("sig") {
		return nil
	}
	if Verify(e.cfg.SigningKey, video, string(args.Peek("exp")), string(args.Peek("sig")), time.Now()) != nil {
		return errBadSignature
	}
	return nil
}
