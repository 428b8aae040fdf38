// Package signedurl is the contract of the signed playback URLs of private videos: the feed
// signs them for a video's creator (Query), the edges and the origin verify them (Verify)
// without asking the database, and sign the playlists they answer on to their URIs
// (SignPlaylist); edges prove their own fills with PeerToken. A signature covers every object of one video until its expiry:
//
//	/v/{video}/{name}?exp={unix seconds}&sig={base64url, unpadded, of HMAC-SHA256(key, "/v/{video}|{exp}")}
package signedurl

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/reelay/reelay/internal/apierr"
)

// MinKeyBytes is the shortest signing key accepted.
const MinKeyBytes = 16

// DefaultTTL is how long a signed URL stays valid unless the signer says otherwise.
const DefaultTTL = 6 * time.Hour

// Errors of Verify and ParseKey.
var (
	// ErrBadSignature: the signature or the expiry is malformed, or the signature is wrong.
	ErrBadSignature = errors.New("signedurl: bad URL signature")
	// ErrExpired: the signature is right but its expiry has passed.
	ErrExpired = errors.New("signedurl: signed URL expired")
	// ErrBadKey: a signing key is not hex, or shorter than MinKeyBytes.
	ErrBadKey = fmt.Errorf("signedurl: a signing key is at least %d bytes in hex", MinKeyBytes)
)

// The answers of the tiers that check signatures (the edges, the origin) to the requests they
// refuse.
var (
	// ErrSignatureRefused answers a request whose signature is wrong or expired.
	ErrSignatureRefused = apierr.New(http.StatusForbidden, "bad_signature", "the URL signature is wrong or expired")
	// ErrSignatureRequired answers an unsigned request for a private video's object.
	ErrSignatureRequired = apierr.New(http.StatusForbidden, "signature_required", "this video is private: its URLs must be signed")
)

// ParseKey decodes a signing key given in hex, as operators configure it: "" is no key (nil).
func ParseKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	key, err := hex.DecodeString(s)
	if err != nil || len(key) < MinKeyBytes {
		return nil, ErrBadKey
	}
	return key, nil
}

// Sign returns the signature of the URLs of video valid until exp: the value of sig.
func Sign(key []byte, video string, exp time.Time) string {
	return sign(key, video, strconv.FormatInt(exp.Unix(), 10))
}

// Query returns the query of the URLs of video signed with key until exp:
// "exp={unix seconds}&sig={Sign}".
func Query(key []byte, video string, exp time.Time) string {
	return "exp=" + strconv.FormatInt(exp.Unix(), 10) + "&sig=" + Sign(key, video, exp)
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

// PeerAuthHeader carries an edge node's proof, to the node or the origin it fills from, that
// the fill is a peer's: base64url of HMAC-SHA256(signing key, "peer|{path}"). It lets the
// upstream answer a private object without the player's signature, which the fill does not
// carry.
const PeerAuthHeader = "X-Reelay-Peer-Auth"

// PeerToken is the PeerAuthHeader value of a fill of path.
func PeerToken(key []byte, path string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("peer|" + path))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// VerifyPeer reports whether token is the PeerAuthHeader value of a fill of path.
func VerifyPeer(key []byte, path, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(PeerToken(key, path)))
}
