package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestEdgeBadConfigExits2 checks that `reelay edge` reports a bad setting in one line and
// exits 2, whether the command or the edge package finds it; nothing is bound meanwhile.
func TestEdgeBadConfigExits2(t *testing.T) {
	base := []string{"--addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--origin", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no origin", []string{"--origin", ""}, "--origin is required"},
		{"bad tuning", []string{"--tuning", "fast"}, "invalid --tuning"},
		{"bad epsilon", []string{"--load-epsilon", "-1"}, "invalid --load-epsilon"},
		{"no fetch timeout", []string{"--fetch-timeout", "0s"}, "timeouts must be positive"},
		{"name not a token", []string{"--name", "edge a"}, "not an HTTP token"},
		{"advertise host name", []string{"--advertise-addr", "edge.example"}, "AdvertiseAddr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append(append([]string{"edge"}, base...), tc.args...)
			code := run(context.Background(), args, &env{stdout: io.Discard, stderr: &stderr, getenv: envOf(nil)})
			if code != 2 || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, stderr.String(), tc.want)
			}
		})
	}
}
