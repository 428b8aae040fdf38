package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// A device token marks a device that has logged into an account before: a successful login
// hands one out, and the device sends it with its next logins. It is not a credential, since
// the password is still needed; it lets a login be throttled as that device's own rather
// than together with every guess at the account's handle, so that guesses from elsewhere
// cannot keep the owner out.
//
// A token carries the device's random id and the time it was issued, signed with HMAC-SHA256
// under a key of the account's (see feed: one derived from the account's password hash, so
// that a new password retires every device). Nothing is stored.
//
// Its form: base64url (unpadded) of version 1 (1 byte), the device id (16), the time of issue
// in Unix seconds (8, big-endian), and the first 16 bytes of the HMAC of what precedes it.
const (
	deviceTokenVersion = 1
	deviceTokenLen     = 1 + 16 + 8 + 16
	deviceTokenSkew    = time.Minute // how far in the future an issue time may be: clocks differ
)

var deviceB64 = base64.RawURLEncoding.Strict()

// DeviceID names a device of an account.
type DeviceID [16]byte

// NewDeviceID returns a random device id.
func NewDeviceID() DeviceID {
	var id DeviceID
	rand.Read(id[:]) // never returns an error (crypto/rand, Go 1.24+)
	return id
}

func (id DeviceID) String() string { return hex.EncodeToString(id[:]) }

// NewDeviceToken returns the token of device id for the account whose key is key, issued at
// issued.
func NewDeviceToken(key []byte, id DeviceID, issued time.Time) string {
	b := make([]byte, 0, deviceTokenLen)
	b = append(b, deviceTokenVersion)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(issued.Unix()))
	b = append(b, deviceMAC(key, b)...)
	return deviceB64.EncodeToString(b)
}

// CheckDeviceToken returns the device that token names if key signed it and it was issued
// less than ttl before now.
func CheckDeviceToken(key []byte, token string, now time.Time, ttl time.Duration) (DeviceID, bool) {
	if deviceB64.EncodedLen(deviceTokenLen) != len(token) {
		return DeviceID{}, false
	}
	b, err := deviceB64.DecodeString(token)
	if err != nil || len(b) != deviceTokenLen || b[0] != deviceTokenVersion {
		return DeviceID{}, false
	}
	signed, mac := b[:deviceTokenLen-16], b[deviceTokenLen-16:]
	if !hmac.Equal(mac, deviceMAC(key, signed)) {
		return DeviceID{}, false
	}
	issued := int64(binary.BigEndian.Uint64(b[17:25]))
	if age := now.Unix() - issued; issued < 0 || age >= int64(ttl/time.Second) || age < -int64(deviceTokenSkew/time.Second) {
		return DeviceID{}, false
	}
	var id DeviceID
	copy(id[:], b[1:17])
	return id, true
}

func deviceMAC(key, signed []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(signed)
	return m.Sum(nil)[:16]
}
