package auth

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

var (
	deviceKey   = []byte("the account's key")
	deviceNow   = time.Unix(1_800_000_000, 0)
	deviceTTL   = 30 * 24 * time.Hour
	deviceID    = DeviceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	deviceToken = NewDeviceToken(deviceKey, deviceID, deviceNow.Add(-time.Hour))
)

func TestDeviceToken(t *testing.T) {
	if id, ok := CheckDeviceToken(deviceKey, deviceToken, deviceNow, deviceTTL); !ok || id != deviceID {
		t.Fatalf("CheckDeviceToken(%q) = %v, %v; want %v", deviceToken, id, ok, deviceID)
	}
	if a, b := NewDeviceID(), NewDeviceID(); a == b || a == (DeviceID{}) || len(a.String()) != 32 {
		t.Fatalf("device ids %v %v", a, b)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(deviceToken)
	for name, tc := range map[string]struct {
		key   string
		token string
		now   time.Time
	}{
		"another account's key": {"another key", deviceToken, deviceNow},
		"expired":               {string(deviceKey), deviceToken, deviceNow.Add(deviceTTL)},
		"issued in the future":  {string(deviceKey), NewDeviceToken(deviceKey, deviceID, deviceNow.Add(2*time.Minute)), deviceNow},
		"issued before 1970":    {string(deviceKey), NewDeviceToken(deviceKey, deviceID, time.Unix(-5, 0)), deviceNow},
		"empty":                 {string(deviceKey), "", deviceNow},
		"truncated":             {string(deviceKey), deviceToken[:len(deviceToken)-1], deviceNow},
		"padded":                {string(deviceKey), base64.URLEncoding.EncodeToString(raw), deviceNow},
		"standard alphabet":     {string(deviceKey), strings.NewReplacer("-", "+", "_", "/").Replace(deviceToken) + "+/", deviceNow},
		"another version":       {string(deviceKey), resign(raw, func(b []byte) { b[0] = 2 }), deviceNow},
		"another device":        {string(deviceKey), tamper(raw, 3), deviceNow},
		"later issue":           {string(deviceKey), tamper(raw, 24), deviceNow},
		"another MAC":           {string(deviceKey), tamper(raw, 40), deviceNow},
	} {
		if id, ok := CheckDeviceToken([]byte(tc.key), tc.token, tc.now, deviceTTL); ok {
			t.Errorf("%s: CheckDeviceToken(%q) = %v, accepted", name, tc.token, id)
		}
	}
	// Tokens issued up to a minute ahead pass: clocks differ.
	if _, ok := CheckDeviceToken(deviceKey, NewDeviceToken(deviceKey, deviceID, deviceNow.Add(30*time.Second)), deviceNow, deviceTTL); !ok {
		t.Error("a token issued 30s ahead was refused")
	}
}

// tamper flips a bit of byte i of the raw token.
func tamper(raw []byte, i int) string {
	b := append([]byte(nil), raw...)
	b[i] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// resign changes the raw token with f and signs it again with deviceKey.
func resign(raw []byte, f func([]byte)) string {
	b := append([]byte(nil), raw[:deviceTokenLen-16]...)
	f(b)
	return base64.RawURLEncoding.EncodeToString(append(b, deviceMAC(deviceKey, b)...))
}

// FuzzCheckDeviceToken checks that a device token is accepted only in the one form that
// NewDeviceToken writes for its device and time.
func FuzzCheckDeviceToken(f *testing.F) {
	f.Add(deviceToken)
	f.Add("")
	f.Add(strings.Repeat("A", len(deviceToken)))
	f.Fuzz(func(t *testing.T, token string) {
		id, ok := CheckDeviceToken(deviceKey, token, deviceNow, deviceTTL)
		if !ok {
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) != deviceTokenLen {
			t.Fatalf("accepted %q", token)
		}
		issued := time.Unix(int64(binary.BigEndian.Uint64(raw[17:25])), 0)
		if again := NewDeviceToken(deviceKey, id, issued); again != token || issued.After(deviceNow.Add(time.Minute)) || deviceNow.Sub(issued) >= deviceTTL {
			t.Fatalf("accepted %q for device %v issued %v", token, id, issued)
		}
	})
}
