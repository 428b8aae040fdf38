// Package videoid makes and checks reelay's video ids: 16 random bytes written in lowercase
// base32 without padding, 26 characters of a-z and 2-7. They are safe in URLs, object keys and
// file names on any file system, and unambiguous to read aloud.
package videoid

import (
	"crypto/rand"
	"encoding/base32"
)

// Len is the length of an id in characters.
const Len = 26

// size is the entropy of an id in bytes: 128 bits.
const size = 16

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New returns a fresh random id.
func New() string {
	b := make([]byte, size)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return encoding.EncodeToString(b)
}

// Valid reports whether s is an id as New makes them: the canonical form of 16 bytes, so exactly
// Len characters of a-z and 2-7 whose last character carries no stray bits. It never allocates,
// so it is cheap to call on every request.
func Valid(s string) bool {
	if len(s) != Len {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	// 16 bytes are 128 bits; 26 characters hold 130, so the last character's low 2 bits are
	// padding and must be zero in the canonical form.
	return digit(s[Len-1])&0b11 == 0
}

// digit is the 5-bit value of a base32 character already known to be a-z or 2-7.
func digit(c byte) byte {
	if c >= 'a' {
		return c - 'a'
	}
	return c - '2' + 26
}
