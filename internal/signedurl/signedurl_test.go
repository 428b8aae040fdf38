package signedurl

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testKey   = []byte("0123456789abcdef0123456789abcdef")
	testVideo = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	testNow   = time.Unix(1_800_000_000, 0)
)

func TestVerify(t *testing.T) {
	exp := testNow.Add(time.Hour)
	good := Sign(testKey, testVideo, exp)
	expStr := strconv.FormatInt(exp.Unix(), 10)
	tests := []struct {
		name            string
		key             []byte
		video, exp, sig string
		want            error
	}{
		{"valid", testKey, testVideo, expStr, good, nil},
		{"expired", testKey, testVideo, expStr, good, ErrExpired},
		{"other video", testKey, "bbbbbbbbbbbbbbbbbbbbbbbbbb", expStr, good, ErrBadSignature},
		{"other key", []byte("other"), testVideo, expStr, good, ErrBadSignature},
		{"exp moved", testKey, testVideo, strconv.FormatInt(exp.Unix()+1, 10), good, ErrBadSignature},
		{"exp leading zero", testKey, testVideo, "0" + expStr, good, ErrBadSignature},
		{"exp plus sign", testKey, testVideo, "+" + expStr, good, ErrBadSignature},
		{"exp not a number", testKey, testVideo, "soon", good, ErrBadSignature},
		{"empty sig", testKey, testVideo, expStr, "", ErrBadSignature},
		{"padded sig", testKey, testVideo, expStr, good + "=", ErrBadSignature},
		{"std base64", testKey, testVideo, expStr, strings.NewReplacer("-", "+", "_", "/").Replace(good) + "x", ErrBadSignature},
		{"truncated sig", testKey, testVideo, expStr, good[:len(good)-1], ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := testNow
			if tt.name == "expired" {
				now = exp
			}
			if err := Verify(tt.key, tt.video, tt.exp, tt.sig, now); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	exp := testNow.Add(time.Hour)
	f.Add(testVideo, strconv.FormatInt(exp.Unix(), 10), Sign(testKey, testVideo, exp))
	f.Add(testVideo, "0", "")
	f.Add("", "-1", "AAAA")
	f.Add(testVideo, "99999999999999999999", "_-_-")
	f.Fuzz(func(t *testing.T, video, exp, sig string) {
		err := Verify(testKey, video, exp, sig, testNow)
		if err != nil && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrExpired) {
			t.Fatalf("Verify returned %v", err)
		}
		if err == nil && sig != sign(testKey, video, exp) {
			t.Fatalf("accepted a signature that is not Sign's: video %q exp %q sig %q", video, exp, sig)
		}
		// Signing what was given always verifies, unless expired.
		if n, perr := strconv.ParseInt(exp, 10, 64); perr == nil && strconv.FormatInt(n, 10) == exp {
			err := Verify(testKey, video, exp, Sign(testKey, video, time.Unix(n, 0)), testNow)
			if n > testNow.Unix() && err != nil || n <= testNow.Unix() && !errors.Is(err, ErrExpired) {
				t.Fatalf("own signature of exp %d: %v", n, err)
			}
		}
	})
}

func TestQueryAndKeys(t *testing.T) {
	exp := testNow.Add(time.Hour)
	if q := Query(testKey, testVideo, exp); q != "exp="+strconv.FormatInt(exp.Unix(), 10)+"&sig="+Sign(testKey, testVideo, exp) {
		t.Errorf("Query = %q", q)
	}
	for s, ok := range map[string]bool{"": true, "00112233445566778899aabbccddeeff": true, "0011": false, "not hex at all, not at all!!": false} {
		key, err := ParseKey(s)
		if (err == nil) != ok || ok && s != "" && len(key) != 16 || !ok && !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(%q) = %x, %v", s, key, err)
		}
	}
}
