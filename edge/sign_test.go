package edge

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/signedurl"
	"github.com/reelay/reelay/internal/videoid"
)

var (
	testKey   = []byte("0123456789abcdef0123456789abcdef")
	testVideo = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	testNow   = time.Unix(1_800_000_000, 0)
)

func TestSignedRequests(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, SigningKey: testKey})
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
		{"valid", q(future, signedurl.Sign(testKey, id, future)), 200},
		{"expired", q(past, signedurl.Sign(testKey, id, past)), 403},
		{"other video", q(future, signedurl.Sign(testKey, "bbbbbbbbbbbbbbbbbbbbbbbbbb", future)), 403},
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

// signedQuery is the query of a URL of video signed with testKey until exp.
func signedQuery(video string, exp time.Time) string { return signedurl.Query(testKey, video, exp) }

func TestPrivateVideos(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, SigningKey: testKey})
	id, prefix := newVideo()
	o.private.Store(id, true)
	future := time.Now().Add(time.Hour)
	q := signedQuery(id, future)

	for _, name := range []string{"master.m3u8", "360p/index.m3u8", "360p/init.mp4", "360p/seg_00001.m4s"} {
		resp, body := do(t, "GET", e.url+prefix+name)
		if resp.StatusCode != 403 || !strings.Contains(body, "signature_required") {
			t.Errorf("unsigned %s: %d %s", name, resp.StatusCode, body)
		}
	}

	// A player follows the signed master's URIs all the way to the segments.
	resp, master := do(t, "GET", e.url+prefix+"master.m3u8?"+q)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "private, no-store" || resp.Header.Get("ETag") != "" {
		t.Fatalf("signed master: %d, Cache-Control %q, ETag %q", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
	}
	variant := variantURIs([]byte(master))[0]
	if variant != "360p/index.m3u8?"+q {
		t.Fatalf("variant URI %q", variant)
	}
	resp, media := do(t, "GET", e.url+prefix+variant)
	if resp.StatusCode != 200 {
		t.Fatalf("variant: %d %s", resp.StatusCode, media)
	}
	init, segs := mediaURIs([]byte(media))
	for _, uri := range append(segs, init) {
		if !strings.HasSuffix(uri, "?"+q) {
			t.Fatalf("URI %q lacks the signature", uri)
		}
		resp, body := do(t, "GET", e.url+prefix+"360p/"+uri)
		if resp.StatusCode != 200 || body != string(objectBody(prefix+"360p/"+strings.TrimSuffix(uri, "?"+q))) ||
			resp.Header.Get("Cache-Control") != "private, max-age=31536000, immutable" {
			t.Errorf("%s: %d, Cache-Control %q", uri, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}

	// Each refusal for its own reason: the signature cases go without the peer header, so that
	// the signature check is the one that refuses them.
	seg := e.url + prefix + "360p/seg_00001.m4s"
	past := time.Now().Add(-time.Minute)
	// A signed URL whose expiry was moved on, its signature kept.
	tamper, _ := url.ParseQuery(signedQuery(id, future))
	tamper.Set("exp", strconv.FormatInt(future.Add(time.Hour).Unix(), 10))
	tampered := tamper.Encode()
	for _, tc := range []struct {
		name, url string
		header    []string
		code      string
	}{
		{"expired", seg + "?" + signedQuery(id, past), nil, "bad_signature"},
		{"other video", seg + "?" + signedQuery(videoid.New(), future), nil, "bad_signature"},
		{"tampered", seg + "?" + tampered, nil, "bad_signature"},
		{"forged peer", seg, []string{PeerHeader, "fill"}, "signature_required"},
	} {
		resp, body := do(t, "GET", tc.url, tc.header...)
		if resp.StatusCode != 403 || !strings.Contains(body, `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s, want 403 %s", tc.name, resp.StatusCode, body, tc.code)
		}
	}
	// A public video needs no signature.
	_, pub := newVideo()
	if resp, _ := do(t, "GET", e.url+pub+"360p/seg_00001.m4s"); resp.StatusCode != 200 {
		t.Errorf("public segment: %d", resp.StatusCode)
	}

	// An edge without a signing key cannot serve private videos at all.
	bare := startEdge(t, Config{Origin: o.URL})
	if resp, body := do(t, "GET", bare.url+prefix+"master.m3u8?"+q); resp.StatusCode != 403 || !strings.Contains(body, "signature_required") {
		t.Errorf("edge without a key: %d %s", resp.StatusCode, body)
	}
}

func TestPrivateVideosThroughTheOwner(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startClusterWith(t, 2, Config{Origin: o.URL, SigningKey: testKey})
	id, key := ownedKey(nodes[0], nodes[1], "360p/seg_00001.m4s")
	o.private.Store(id, true)
	resp, body := do(t, "GET", nodes[0].url+key+"?"+signedQuery(id, time.Now().Add(time.Hour)))
	if resp.StatusCode != 200 || body != string(objectBody(key)) || !strings.Contains(resp.Header.Get("Cache-Status"), "detail=peer") {
		t.Fatalf("signed request via a non-owner: %d, Cache-Status %q", resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
	// Both nodes hold it, marked private.
	for _, nd := range nodes {
		if resp, _ := do(t, "GET", nd.url+key); resp.StatusCode != 403 || !strings.HasSuffix(resp.Header.Get("Cache-Status"), "; hit") {
			t.Errorf("unsigned via %s: %d, Cache-Status %q", nd.name, resp.StatusCode, resp.Header.Get("Cache-Status"))
		}
	}
	if n := o.count(key); n != 1 {
		t.Errorf("origin fetched %s %d times", key, n)
	}
}
