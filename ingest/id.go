package ingest

import (
	"crypto/rand"
	"encoding/base32"
)

// idEncoding writes ids in lowercase base32 without padding: letters and 2-7 only, safe in
// URLs, object keys and file names on any file system, and unambiguous to read aloud.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idBytes is the entropy of an id: 128 bits, 26 characters.
const idBytes = 16

// newID returns a fresh random upload (and video) id.
func newID() string {
	b := make([]byte, idBytes)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return idEncoding.EncodeToString(b)
}

// ValidID reports whether s is an upload id as this package makes them: 26 characters of
// a-z and 2-7, the canonical lowercase base32 form of 16 bytes. Upload ids are video ids.
func ValidID(s string) bool {
	if len(s) != idEncoding.EncodedLen(idBytes) {
		return false
	}
	b, err := idEncoding.DecodeString(s)
	// The decoder skips newlines and ignores trailing bits; re-encoding rejects both.
	return err == nil && len(b) == idBytes && idEncoding.EncodeToString(b) == s
}
