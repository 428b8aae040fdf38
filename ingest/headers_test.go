package ingest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/videoid"
)

var sizeTests = []struct {
	in   string
	want int64
	ok   bool
}{
	{"0", 0, true},
	{"10", 10, true},
	{"007", 7, true},
	{"9223372036854775807", 1<<63 - 1, true},
	{"0000000000000000000000001", 1, true},
	{"9223372036854775808", 0, false},
	{"99999999999999999999", 0, false},
	{"", 0, false},
	{"-1", 0, false},
	{"+1", 0, false},
	{" 1", 0, false},
	{"1 ", 0, false},
	{"1.0", 0, false},
	{"1e3", 0, false},
	{"0x10", 0, false},
	{"1_000", 0, false},
	{"١٢", 0, false}, // Arabic-Indic digits
}

func TestParseSize(t *testing.T) {
	for _, tc := range sizeTests {
		if got, ok := parseSize(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("parseSize(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseOffsetLength(f *testing.F) {
	for _, tc := range sizeTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseSize(s)
		digits := s != "" && strings.Trim(s, "0123456789") == ""
		b, parsed := new(big.Int).SetString(s, 10)
		fits := digits && parsed && b.IsInt64()
		if ok != fits {
			t.Fatalf("parseSize(%q) ok = %v; digits only %v, fits in int64 %v", s, ok, digits, fits)
		}
		if ok && (v < 0 || b.Int64() != v) {
			t.Fatalf("parseSize(%q) = %d", s, v)
		}
	})
}

func digest(alg, data string) string {
	var sum []byte
	switch alg {
	case "sha1":
		s := sha1.Sum([]byte(data))
		sum = s[:]
	case "sha256":
		s := sha256.Sum256([]byte(data))
		sum = s[:]
	}
	return base64.StdEncoding.EncodeToString(sum)
}

var checksumTests = []struct {
	in   string
	alg  string // "" when it fails
	code string
}{
	{"sha1 " + digest("sha1", "hello world"), "sha1", ""},
	{"sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", "sha1", ""}, // the example of the checksum extension
	{"sha256 " + digest("sha256", "x"), "sha256", ""},
	{"md5 " + base64.StdEncoding.EncodeToString(make([]byte, 16)), "", "unsupported_checksum_algorithm"},
	{"crc32 AAAAAA==", "", "unsupported_checksum_algorithm"},
	{"SHA1 " + digest("sha1", "x"), "", "unsupported_checksum_algorithm"},
	{"sha1", "", "invalid_header"},
	{"sha1 ", "", "invalid_header"},
	{" sha1 " + digest("sha1", "x"), "", "invalid_header"},
	{"sha1  " + digest("sha1", "x"), "", "invalid_header"},
	{"sha1 " + digest("sha256", "x"), "", "invalid_header"},
	{"sha1 " + strings.TrimRight(digest("sha1", "x"), "="), "", "invalid_header"},
	{"sha1 " + digest("sha1", "x") + " ", "", "invalid_header"},
	{"sha1 ----------------------------", "", "invalid_header"}, // URL-safe alphabet
	{"sha1 not base64!", "", "invalid_header"},
}

func TestParseChecksum(t *testing.T) {
	for _, tc := range checksumTests {
		c, err := parseChecksum(tc.in)
		var e *apierr.Error
		switch {
		case tc.alg != "" && (err != nil || c.alg != tc.alg):
			t.Errorf("parseChecksum(%q) = %+v, %v; want %s", tc.in, c, err, tc.alg)
		case tc.alg == "" && tc.code != "" && (!errors.As(err, &e) || e.Status != 400 || e.Code != tc.code):
			t.Errorf("parseChecksum(%q) err = %v, want 400 %s", tc.in, err, tc.code)
		case tc.alg == "" && err == nil:
			t.Errorf("parseChecksum(%q) = %+v, want an error", tc.in, c)
		}
	}
}

func FuzzParseChecksum(f *testing.F) {
	for _, tc := range checksumTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseChecksum(s)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("parseChecksum(%q) err = %v, want a 400 *apierr.Error", s, err)
			}
			return
		}
		h := c.newHash()
		if h == nil || len(c.sum) != h.Size() || c.alg+" "+base64.StdEncoding.EncodeToString(c.sum) != s {
			t.Fatalf("parseChecksum(%q) = %+v: not the canonical form of a supported digest", s, c)
		}
	})
}

var metadataTests = []struct {
	in   string
	want map[string]string // nil: an error
}{
	{"", map[string]string{}},
	{"  ", map[string]string{}},
	{"filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential", map[string]string{"filename": "world_domination_plan.pdf", "is_confidential": ""}},
	{"a YQ==, b Yg==", map[string]string{"a": "a", "b": "b"}},
	{"a YQ== ,b", map[string]string{"a": "a", "b": ""}},
	{"bin AP8=", map[string]string{"bin": "\x00\xff"}},
	{"relativePath bnVsbA==,name Y2F0Lm1wNA==", map[string]string{"relativePath": "null", "name": "cat.mp4"}},
	{"a YQ==,a Yg==", nil},                   // duplicate key
	{"a ???", nil},                           // not base64
	{"a YQ", nil},                            // unpadded
	{"a YR==", nil},                          // non-canonical padding bits
	{"a YQ== extra", nil},                    // two values
	{"a  YQ==", nil},                         // two spaces
	{",a YQ==", nil},                         // empty pair
	{"a YQ==,", nil},                         // trailing comma
	{" YQ==", map[string]string{"YQ==": ""}}, // a key without a value, after a space
	{"k\x01 YQ==", nil},                      // control character in the key
	{"ä YQ==", nil},                          // non-ASCII key
	{"a Y\nQ==", nil},                        // the decoder would skip the newline
	{strings.Repeat("a", maxMetadataBytes+1), nil},
}

func TestParseMetadata(t *testing.T) {
	for _, tc := range metadataTests {
		got, err := parseMetadata(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("parseMetadata(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("parseMetadata(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseMetadata(f *testing.F) {
	for _, tc := range metadataTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMetadata(s)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("parseMetadata(%q) err = %v, want a 400 *apierr.Error", s, err)
			}
			return
		}
		// What parses serialises back to the same pairs, and the
		// header is safe to echo.
		var pairs []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !validMetadataKey(k) {
				t.Fatalf("parseMetadata(%q) accepted the key %q", s, k)
			}
			pair := k
			if m[k] != "" {
				pair += " " + base64.StdEncoding.EncodeToString([]byte(m[k]))
			}
			pairs = append(pairs, pair)
		}
		again, err := parseMetadata(strings.Join(pairs, ","))
		if err != nil || !maps.Equal(again, m) {
			t.Fatalf("parseMetadata(%q) = %v; serialised and parsed again: %v, %v", s, m, again, err)
		}
		if strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("parseMetadata(%q) accepted a header that cannot be echoed", s)
		}
	})
}

func TestParseDetails(t *testing.T) {
	for _, tc := range []struct {
		meta map[string]string
		want details
		ok   bool
	}{
		{map[string]string{}, details{visibility: "public"}, true},
		{map[string]string{"filename": "Clip 1.mov", "filetype": "video/quicktime", "caption": "Line 1\nLine 2 #fun 🎉", "visibility": "private"},
			details{"Clip 1.mov", "video/quicktime", "Line 1\nLine 2 #fun 🎉", "private"}, true},
		{map[string]string{"visibility": "unlisted", "other": "\x00"}, details{visibility: "unlisted"}, true},
		{map[string]string{"visibility": "Public"}, details{}, false},
		{map[string]string{"visibility": "friends"}, details{}, false},
		{map[string]string{"filename": "a\nb"}, details{}, false},
		{map[string]string{"filename": "\xff"}, details{}, false},
		{map[string]string{"filename": strings.Repeat("a", 256)}, details{}, false},
		{map[string]string{"filetype": "vidéo/mp4"}, details{}, false},
		{map[string]string{"caption": "bell\a"}, details{}, false},
		{map[string]string{"caption": strings.Repeat("é", 2201)}, details{}, false},
		{map[string]string{"caption": strings.Repeat("é", 2200)}, details{caption: strings.Repeat("é", 2200), visibility: "public"}, true},
	} {
		got, err := parseDetails(tc.meta)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDetails(%q) = %+v, %v; want %+v, ok %v", tc.meta, got, err, tc.want, tc.ok)
		}
	}
}

var forwardedTests = []struct {
	in          string
	proto, host string
	ok          bool
}{
	{"proto=https;host=example.com", "https", "example.com", true},
	{`for=192.0.2.60;proto=http;by=203.0.113.43`, "http", "", true},
	{`For="[2001:db8:cafe::17]:4711"; Proto=HTTPS ;Host="a.example:8443", for=198.51.100.17;host=b.example`, "HTTPS", "a.example:8443", true},
	{`host="with \"quote\""`, "", `with "quote"`, true},
	{`host="unterminated`, "", "", false},
	{`host`, "", "", false},
	{`=x`, "", "", false},
	{`proto=https host=x`, "", "", false},
	{``, "", "", false},
}

func TestParseForwarded(t *testing.T) {
	for _, tc := range forwardedTests {
		proto, host, ok := parseForwarded([]string{tc.in})
		if proto != tc.proto || host != tc.host || ok != tc.ok {
			t.Errorf("parseForwarded(%q) = %q, %q, %v; want %q, %q, %v", tc.in, proto, host, ok, tc.proto, tc.host, tc.ok)
		}
	}
	if _, _, ok := parseForwarded(nil); ok {
		t.Error("parseForwarded(nil) ok")
	}
}

// FuzzUploadURL checks that no proxy header makes a Location that leaves this server's path
// or carries anything but a scheme, a host and the upload's path; that the Host header never
// counts; and that a configured public URL always wins.
func FuzzUploadURL(f *testing.F) {
	for _, tc := range forwardedTests {
		f.Add(tc.in, "https", "cdn.example", "reelay.example", true)
	}
	f.Add("", "javascript", "evil.example/x?y#z", "evil.example", true)
	f.Add("host=a@b", "http", "user:pw@host", "user:pw@host", false)
	f.Add("", "", "", "evil.example/x?y", true)
	trusting := &Handler{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}}
	public := &Handler{cfg: Config{PublicURL: "https://api.example/reelay", TrustedProxies: trusting.cfg.TrustedProxies}}
	id := videoid.New()
	f.Fuzz(func(t *testing.T, forwarded, proto, host, hostHeader string, fromProxy bool) {
		r := httptest.NewRequest("POST", Path, nil)
		r.RemoteAddr = "198.51.100.1:1234"
		if fromProxy {
			r.RemoteAddr = "192.0.2.1:1234"
		}
		r.Header.Set("Forwarded", forwarded)
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", host)
		r.Host = "reelay.example"
		loc := trusting.uploadURL(r, id)
		r.Host = hostHeader
		if again := trusting.uploadURL(r, id); again != loc {
			t.Fatalf("the Host header %q changed the Location from %q to %q", hostHeader, loc, again)
		}
		if got := public.uploadURL(r, id); got != "https://api.example/reelay"+Path+id {
			t.Fatalf("uploadURL with a public URL = %q", got)
		}
		if loc == Path+id {
			return // relative
		}
		u, err := url.Parse(loc)
		if err != nil || !fromProxy || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Path != Path+id ||
			u.RawQuery != "" || u.Fragment != "" || u.Host == "" || strings.ContainsAny(loc, " \r\n\"\\") {
			t.Fatalf("uploadURL with Forwarded %q, X-Forwarded-Proto %q, X-Forwarded-Host %q = %q", forwarded, proto, host, loc)
		}
	})
}
