package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// NewToken returns a fresh bearer token (32 random bytes, base64url) and the hash under
// which it is stored. The token itself is shown to its owner once and never stored.
func NewToken() (token string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of token: its SHA-256. A token has 256 bits of entropy, so a
// fast hash is enough; a stolen table of hashes gives no usable tokens.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
