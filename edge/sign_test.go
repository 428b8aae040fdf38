package edge

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

func TestSignedRequests(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, SigningKey: testKey}, nil)
	id, prefix := newVideo()
	key := prefix + "master.m3u8"
	future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Minute)
	q := func(exp time.Time, sig string) string {
		return "?exp=" + strconv.FormatInt(exp.Unix(), 10) + "&sig=" + sig
	}
	tests := []struct {
		name, query string
		status      int
	}{
		{"unsigned", "", 200},
		{"valid", q(future, Sign(testKey, id, future)), 200},
		{"expired", q(past, Sign(testKey, id, past)), 403},
		{"other video", q(future, Sign(testKey, "bbbbbbbbbbbbbbbbbbbbbbbbbb", future)), 403},
		{"sig only", "?sig=abc", 403},
		{"exp only", "?exp=" + strconv.FormatInt(future.Unix(), 10), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := do(t, "GET", e.url+key+tt.query); resp.StatusCode != tt.status {
				t.Errorf("%d %s, want %d", resp.StatusCode, body, tt.status)
			}
		})
	}
}
