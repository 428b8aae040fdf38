package httpsem

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/layout"
)

var cacheControlCases = []struct {
	cc       string
	maxAge   time.Duration
	storable bool
}{
	{"", time.Second, true},
	{"public, max-age=60", time.Minute, true},
	{CacheImmutable, 31536000 * time.Second, true},
	{CacheLivePlaylist, time.Second, true},
	{"max-age=0", 0, true},
	{`max-age="30"`, 30 * time.Second, true},
	{" MAX-AGE = 5 ", 5 * time.Second, true},
	{"no-cache", 0, true},
	{"No-Cache, max-age=60", 0, true},
	{"max-age=-1", time.Second, true},
	{"max-age=abc", time.Second, true},
	{"max-age=99999999999999999999", time.Second, true}, // out of range: as if absent
	{"max-age=9999999999", maxMaxAge * time.Second, true},
	{"no-store", time.Second, false},
	{"private, max-age=60", time.Minute, false},
	{"public,NO-STORE", time.Second, false},
	{"max-age", time.Second, true},
	{",,,", time.Second, true},
}

func TestCacheControl(t *testing.T) {
	for _, tc := range cacheControlCases {
		if got := MaxAge(tc.cc); got != tc.maxAge {
			t.Errorf("MaxAge(%q) = %v, want %v", tc.cc, got, tc.maxAge)
		}
		if got := Storable(tc.cc, false); got != tc.storable {
			t.Errorf("Storable(%q, false) = %v, want %v", tc.cc, got, tc.storable)
		}
		// A private video's objects are "private" for other caches, but edges keep them.
		noStore := strings.Contains(strings.ToLower(tc.cc), "no-store")
		if got := Storable(tc.cc, true); got != !noStore {
			t.Errorf("Storable(%q, true) = %v, want %v", tc.cc, got, !noStore)
		}
		if pcc := PrivateCacheControl(tc.cc); !strings.HasPrefix(pcc, "private") || strings.Contains(strings.ToLower(pcc), "public") ||
			MaxAge(pcc) != tc.maxAge || Storable(pcc, false) {
			t.Errorf("PrivateCacheControl(%q) = %q", tc.cc, pcc)
		}
	}
	if got := PrivateCacheControl(CacheImmutable); got != "private, max-age=31536000, immutable" {
		t.Errorf("PrivateCacheControl(%q) = %q", CacheImmutable, got)
	}
}

// FuzzCacheControl reads arbitrary upstream Cache-Control values: MaxAge never panics or goes
// negative, anything that says no-store (or private, but for a private video's objects) is
// never storable, and a private video's Cache-Control never says public.
func FuzzCacheControl(f *testing.F) {
	for _, tc := range cacheControlCases {
		f.Add(tc.cc)
	}
	f.Fuzz(func(t *testing.T, cc string) {
		if d := MaxAge(cc); d < 0 || d > maxMaxAge*time.Second {
			t.Fatalf("MaxAge(%q) = %v", cc, d)
		}
		for d := range strings.SplitSeq(cc, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if (d == "no-store" || d == "private") && Storable(cc, false) || d == "no-store" && Storable(cc, true) {
				t.Fatalf("Storable(%q) = true", cc)
			}
		}
		for d := range strings.SplitSeq(PrivateCacheControl(cc), ",") {
			if strings.EqualFold(strings.TrimSpace(d), "public") {
				t.Fatalf("PrivateCacheControl(%q) = %q", cc, PrivateCacheControl(cc))
			}
		}
	})
}

func TestDefaultsByKind(t *testing.T) {
	for _, tc := range []struct {
		kind       layout.Kind
		ctype, cc  string
		playlistCC string
	}{
		{layout.KindMaster, ContentTypePlaylist, "p", "p"},
		{layout.KindPlaylist, ContentTypePlaylist, "p", "p"},
		{layout.KindPoster, ContentTypePoster, CachePoster, "p"},
		{layout.KindInit, ContentTypeVideoInit, CacheImmutable, "p"},
		{layout.KindSegment, ContentTypeVideoSegment, CacheImmutable, "p"},
	} {
		if ct, cc := ContentType(tc.kind), CacheControl(tc.kind, tc.playlistCC); ct != tc.ctype || cc != tc.cc {
			t.Errorf("kind %d: %q %q, want %q %q", tc.kind, ct, cc, tc.ctype, tc.cc)
		}
	}
}

func TestCORS(t *testing.T) {
	h := http.Header{}
	CORS(h.Set, "*", false)
	if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Expose-Headers") != CORSExposeHeaders || h.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("simple: %v", h)
	}
	CORS(h.Set, "https://app.example", true)
	if h.Get("Access-Control-Allow-Origin") != "https://app.example" || h.Get("Access-Control-Allow-Methods") != CORSAllowMethods ||
		h.Get("Access-Control-Allow-Headers") != CORSAllowHeaders || h.Get("Access-Control-Max-Age") != CORSMaxAge {
		t.Errorf("preflight: %v", h)
	}
}
