package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/tusclient/tustest"
)

// startFeedAPI runs the feed's API in-process on SQLite, behind the real auth middleware,
// with the user ann (password "correct horse"), and returns its URL.
func startFeedAPI(t *testing.T, cfg feed.Config) string {
	t.Helper()
	d, err := db.Open(t.Context(), filepath.Join(t.TempDir(), "meta.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cfg.PlaybackURL = "http://edge.test"
	s, err := feed.New(cfg, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(auth.NewAuthenticator(s.Tokens(), "", nil).Middleware(s.Handler()))
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/v1/users", "application/json", strings.NewReader(`{"handle":"ann","password":"correct horse"}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("register: %v %v", resp, err)
	}
	resp.Body.Close()
	return srv.URL
}

// cliRun is one run of a reelay command and what it printed.
type cliRun struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) cliRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: envOf(vars)})
	return cliRun{code, stdout.String(), stderr.String()}
}

func meStatus(t *testing.T, api, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", api+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestLoginLogout(t *testing.T) {
	api := startFeedAPI(t, feed.Config{})
	config := filepath.Join(t.TempDir(), "config")
	vars := map[string]string{"XDG_CONFIG_HOME": config, "HOME": t.TempDir()}
	path := filepath.Join(config, "reelay", "credentials.json")

	r := runCLI(t, vars, "correct horse\n", "login", "--api", api+"/", "--handle", "Ann")
	if r.code != 0 || !strings.Contains(r.stderr, "as ann") {
		t.Fatalf("login: exit %d, stderr %q", r.code, r.stderr)
	}
	cred, err := readCredentials(path)
	if err != nil || cred.API != api || cred.Handle != "ann" || cred.Token == "" || cred.DeviceToken == "" {
		t.Fatalf("stored %+v, %v", cred, err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode(), err, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the credentials' directory holds %d files, want 1 (no temporary file left)", len(entries))
	}
	if s := meStatus(t, api, cred.Token); s != 200 {
		t.Fatalf("the stored token: GET /v1/me %d", s)
	}

	// Logging in again replaces the login.
	if r := runCLI(t, vars, "correct horse", "login", "--api", api, "--handle", "ann"); r.code != 0 {
		t.Fatalf("second login: exit %d, stderr %q", r.code, r.stderr)
	}
	second, _ := readCredentials(path)
	if second.Token == cred.Token {
		t.Error("the second login kept the first token")
	}

	r = runCLI(t, vars, "", "logout")
	if r.code != 0 || !strings.Contains(r.stderr, "logged out") {
		t.Fatalf("logout: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("credentials still there after logout: %v", err)
	}
	if s := meStatus(t, api, second.Token); s != 401 {
		t.Errorf("the token after logout: GET /v1/me %d, want 401", s)
	}
	if r := runCLI(t, vars, "", "logout"); r.code != 0 || !strings.Contains(r.stderr, "not logged in") {
		t.Errorf("logout when logged out: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestLoginFails(t *testing.T) {
	api := startFeedAPI(t, feed.Config{LoginBurst: 1, LoginAddrBurst: 1, LoginDelay: time.Minute})
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"a wrong password", "wrong horse\n", []string{"--api", api, "--handle", "ann"}, 1, "the handle or the password is wrong"},
		{"throttled", "wrong horse\n", []string{"--api", api, "--handle", "ann"}, 1, "try again in 60 seconds"},
		{"an unreachable API", "correct horse\n", []string{"--api", closed, "--handle", "ann"}, 1, "cannot reach the API at 127.0.0.1:"},
		{"no handle, not on a terminal", "correct horse\n", []string{"--api", api}, 2, "--handle is required"},
		{"no password", "", []string{"--api", api, "--handle", "ann"}, 2, "a handle and a password are required"},
		{"no api", "correct horse\n", []string{"--handle", "ann"}, 2, "--api is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := t.TempDir()
			r := runCLI(t, map[string]string{"XDG_CONFIG_HOME": config}, tc.stdin, append([]string{"login"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d and one line with %q", r.code, r.stderr, tc.code, tc.want)
			}
			if _, err := os.Stat(filepath.Join(config, "reelay", "credentials.json")); !os.IsNotExist(err) {
				t.Errorf("a failed login stored credentials: %v", err)
			}
		})
	}
}

// TestLogoutUnreachable: logging out forgets the token even when the API cannot be told.
func TestLogoutUnreachable(t *testing.T) {
	home := t.TempDir() // no XDG_CONFIG_HOME: ~/.config
	path := filepath.Join(home, ".config", "reelay", "credentials.json")
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	if err := writeCredentials(path, credentials{API: closed, Handle: "ann", Token: "t0k3n"}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, map[string]string{"HOME": home}, "", "logout")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: the session could not be ended") || !strings.Contains(r.stderr, "logged out") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("credentials still there: %v", err)
	}
}

// TestUploadUsesLogin: without --token or REELAY_TOKEN, reelay upload takes the token and the
// API that reelay login stored.
func TestUploadUsesLogin(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	newFakeVideos(s, "")
	file, _ := videoFile(t, 100<<10)
	config := t.TempDir()
	vars := map[string]string{"XDG_CONFIG_HOME": config}
	if err := writeCredentials(filepath.Join(config, "reelay", "credentials.json"), credentials{API: s.URL, Handle: "ann", Token: s.Token}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "uploads.json")
	r := runUploadArgs(t.Context(), vars, "--file", file, "--state", state, "--no-wait", "--chunk-size", "64KiB")
	if r.code != 0 || !strings.Contains(r.stderr, "as ann, logged in to "+s.URL) {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if done := s.WaitCompleted(t, 1); len(done) != 1 {
		t.Fatalf("handed over %+v", done)
	}
	r = runUploadArgs(t.Context(), vars, "--file", file, "--state", state, "--api", "http://elsewhere.test")
	if r.code != 2 || !strings.Contains(r.stderr, "not of --api http://elsewhere.test") {
		t.Errorf("another --api: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runUploadArgs(t.Context(), map[string]string{"XDG_CONFIG_HOME": t.TempDir()}, "--file", file, "--state", state)
	if r.code != 2 || !strings.Contains(r.stderr, "a token is required: --token or REELAY_TOKEN, or log in first with reelay login") {
		t.Errorf("not logged in: exit %d, stderr %q", r.code, r.stderr)
	}
}
