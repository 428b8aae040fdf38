package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/auth"
)

// tokens is a hand-written auth.TokenUsers: one user, "ann", with the token "ann-token".
type tokens struct{}

func (tokens) UserByToken(_ context.Context, hash []byte) (auth.Principal, error) {
	if bytes.Equal(hash, auth.HashToken("ann-token")) {
		return auth.Principal{UserID: 7, Handle: "ann"}, nil
	}
	return auth.Principal{}, auth.ErrUnknownToken
}

// echo answers with its name and the request's principal, as the service it stands for.
func echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		who := "anonymous"
		switch {
		case ok && p.Admin:
			who = "admin"
		case ok:
			who = p.Handle
		}
		io.WriteString(w, name+" "+r.Method+" "+r.URL.Path+" "+who)
	})
}

// start runs an API with cfg on a free loopback port until the test ends.
func start(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.Tokens = tokens{}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return a.URL()
}

func call(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestRoutes(t *testing.T) {
	ready := errors.New("the database is down")
	url := start(t, Config{Feed: echo("feed"), Uploads: echo("uploads"), AdminToken: "admin-token-0123456789",
		Ready: func(context.Context) error { return ready }})
	for _, tc := range []struct {
		method, path, token string
		status              int
		body                string
	}{
		{"POST", "/v1/uploads", "ann-token", 200, "uploads POST /v1/uploads ann"},
		{"POST", "/v1/uploads/", "ann-token", 200, "uploads POST /v1/uploads/ ann"},
		{"PATCH", "/v1/uploads/abc", "ann-token", 200, "uploads PATCH /v1/uploads/abc ann"},
		{"GET", "/v1/me", "ann-token", 200, "feed GET /v1/me ann"},
		{"GET", "/v1/videos/abc", "", 200, "feed GET /v1/videos/abc anonymous"},
		{"DELETE", "/v1/videos/abc", "admin-token-0123456789", 200, "feed DELETE /v1/videos/abc admin"},
		{"GET", "/v1/me", "stolen", 401, `{"error":{"code":"invalid_token","message":"the bearer token is invalid or expired"}}`},
		{"GET", "/other", "", 404, "404 page not found"},
		{"GET", "/healthz", "", 200, `{"status":"ok"}`},
		{"GET", "/readyz", "", 503, `{"error":{"code":"not_ready","message":"the database is down"}}`},
	} {
		if status, body := call(t, tc.method, url+tc.path, tc.token); status != tc.status || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, status, body, tc.status, tc.body)
		}
	}
}

func TestOnlyUploads(t *testing.T) {
	url := start(t, Config{Uploads: echo("uploads")})
	if status, _ := call(t, "GET", url+"/v1/me", "ann-token"); status != 404 {
		t.Errorf("the feed's route without the feed: %d, want 404", status)
	}
	if status, body := call(t, "POST", url+"/v1/uploads", "ann-token"); status != 200 || body != "uploads POST /v1/uploads ann" {
		t.Errorf("uploads: %d %q", status, body)
	}
}

func TestNewRefuses(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no tokens":         {Feed: echo("feed")},
		"nothing to serve":  {Tokens: tokens{}},
		"short admin token": {Tokens: tokens{}, Feed: echo("feed"), AdminToken: "short"},
		"bad address":       {Tokens: tokens{}, Feed: echo("feed"), Addr: "nowhere"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestLiveRoutes checks the live tier's mounts: WHIP at live.Path and under it, the streams
// under /v/live/, and CORS on WHIP's answers, a wrong token's 401 included.
func TestLiveRoutes(t *testing.T) {
	url := start(t, Config{Uploads: echo("uploads"), Live: echo("live"), LiveStreams: echo("streams")})
	for _, tc := range []struct {
		method, path, token string
		status              int
		body                string
		cors                bool
	}{
		{"POST", "/v1/live/whip", "ann-token", 200, "live POST /v1/live/whip ann", true},
		{"DELETE", "/v1/live/whip/abc", "ann-token", 200, "live DELETE /v1/live/whip/abc ann", true},
		{"POST", "/v1/live/whip", "stolen", 401, `{"error":{"code":"invalid_token","message":"the bearer token is invalid or expired"}}`, true},
		{"GET", "/v/live/abc/index.m3u8", "", 200, "streams GET /v/live/abc/index.m3u8 anonymous", false},
		{"POST", "/v1/uploads", "ann-token", 200, "uploads POST /v1/uploads ann", false},
	} {
		req, _ := http.NewRequest(tc.method, url+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := strings.TrimSpace(string(b))
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if got := resp.Header.Get("Access-Control-Expose-Headers"); strings.Contains(got, "Location") != tc.cors {
			t.Errorf("%s %s: Access-Control-Expose-Headers %q", tc.method, tc.path, got)
		}
	}
}
