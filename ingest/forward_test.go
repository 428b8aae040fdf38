package ingest

import (
	"strings"
	"testing"
)

var nodeURLTests = []struct {
	raw, want string
	ok        bool
}{
	{"", "", true},
	{"http://10.0.0.1:8080", "http://10.0.0.1:8080", true},
	{"https://api-1.internal/", "https://api-1.internal", true},
	{"http://[::1]:8080", "http://[::1]:8080", true},
	{"10.0.0.1:8080", "", false},
	{"ftp://10.0.0.1", "", false},
	{"http://10.0.0.1:8080/v1", "", false},
	{"http://u:p@10.0.0.1", "", false},
	{"http://10.0.0.1?x=1", "", false},
	{"http://10.0.0.1#f", "", false},
	{"http://", "", false},
}

func TestParseNodeURL(t *testing.T) {
	for _, tt := range nodeURLTests {
		got, err := parseNodeURL(tt.raw)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseNodeURL(%q) = %q, %v; want %q, ok %v", tt.raw, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzParseNodeURL: an accepted node URL is its own normal form, an http(s) URL of a host
// alone, which forward can pass requests to.
func FuzzParseNodeURL(f *testing.F) {
	for _, tt := range nodeURLTests {
		f.Add(tt.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseNodeURL(raw)
		if err != nil || got == "" {
			return
		}
		if !strings.HasPrefix(got, "http://") && !strings.HasPrefix(got, "https://") {
			t.Fatalf("parseNodeURL(%q) = %q: not http(s)", raw, got)
		}
		if again, err := parseNodeURL(got); err != nil || again != got {
			t.Fatalf("parseNodeURL(%q) = %q, but that parses to %q, %v", raw, got, again, err)
		}
	})
}
