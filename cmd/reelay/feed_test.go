package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestFeedBadConfigExits2(t *testing.T) {
	base := []string{"feed", "--db", "x.db", "--playback-url", "http://edge.test"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"purge URL not a URL", []string{"--purge-url", "edge:8081", "--admin-token", "0123456789abcdef"}, "invalid --purge-url"},
		{"one of the purge URLs not a URL", []string{"--purge-url", "http://a:1,ftp://b", "--admin-token", "0123456789abcdef"}, "invalid --purge-url"},
		{"purge URL with a query", []string{"--purge-url", "http://a:1/?x=1", "--admin-token", "0123456789abcdef"}, "invalid --purge-url"},
		{"purge URL without the admin token", []string{"--purge-url", "http://a:1"}, "--purge-url needs --admin-token"},
		{"public URL not a URL", []string{"--public-url", "api.example.com"}, "invalid --public-url"},
		{"prefetch edge not a URL", []string{"--prefetch-edges", "edge:8081", "--admin-token", "0123456789abcdef"}, "invalid --prefetch-edges"},
		{"prefetch edges without the admin token", []string{"--prefetch-edges", "http://a:1"}, "--prefetch-edges needs --admin-token"},
		{"no prefetched segment", []string{"--prefetch-segments", "0"}, "invalid --prefetch-segments"},
		{"prefetch rendition not a name", []string{"--prefetch-rendition", "../x"}, "invalid --prefetch-rendition"},
		{"no prefetch budget", []string{"--prefetch-user-budget", "0"}, "invalid --prefetch-user-budget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), append(base, tc.args...), &env{stdout: io.Discard, stderr: &stderr, getenv: envOf(nil)})
			if code != 2 || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, stderr.String(), tc.want)
			}
		})
	}
}

func TestPurgeURLsFlag(t *testing.T) {
	var p purgeURLs
	p.Set(" http://a:1/, ,https://b ")
	if p.String() != "http://a:1,https://b" || p.validate("0123456789abcdef") != nil {
		t.Fatalf("purge URLs %q", p.String())
	}
	if purgeURLs(nil).purger("x") != nil {
		t.Fatal("no purge URLs make a purger")
	}
}
