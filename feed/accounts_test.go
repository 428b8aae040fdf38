package feed

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// forEachDB runs fn against a service on SQLite and on PostgreSQL.
func forEachDB(t *testing.T, cfg Config, fn func(t *testing.T, api *client)) {
	forEachService(t, cfg, func(t *testing.T, _ *Service, api *client) { fn(t, api) })
}

// forEachService is forEachDB for tests that look inside the service too.
func forEachService(t *testing.T, cfg Config, fn func(t *testing.T, s *Service, api *client)) {
	forEachStore(t, func(t *testing.T, d *db.DB) {
		if cfg.PlaybackURL == "" {
			cfg.PlaybackURL = "http://edge.test"
		}
		s, err := New(cfg, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(fromHeader(auth.NewAuthenticator(s.Tokens(), "admin-token-for-tests", nil).Middleware(s.Handler())))
		t.Cleanup(srv.Close)
		fn(t, s, &client{t: t, base: srv.URL})
	})
}

// fromHeader stands in for the clients of many addresses, which one loopback test cannot
// have: a request's X-Test-Remote-Addr, when set, is its RemoteAddr.
func fromHeader(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("X-Test-Remote-Addr"); a != "" {
			r.RemoteAddr = a
		}
		h.ServeHTTP(w, r)
	})
}

type client struct {
	t    *testing.T
	base string
	addr string // the client's "ip:port"; "" for the loopback address it has
}

// from returns c as a client at address ip.
func (c *client) from(ip string) *client {
	return &client{t: c.t, base: c.base, addr: net.JoinHostPort(ip, "40000")}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (r response) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (c *client) do(method, path, token, body string) response {
	c.t.Helper()
	r, err := c.send(method, path, token, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// send is do for other goroutines than the test's: it returns its errors. Every exchange is
// held against the OpenAPI document (checkOpenAPI).
func (c *client) send(method, path, token, body string) (response, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.addr != "" {
		req.Header.Set("X-Test-Remote-Addr", c.addr)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	checkOpenAPI(c.t, req, body, resp, b)
	r := response{status: resp.StatusCode, header: resp.Header}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.body); err != nil {
			return response{}, fmt.Errorf("non-JSON body %q", b)
		}
	}
	return r, nil
}

func (c *client) login(handle, password string) string {
	c.t.Helper()
	r := c.do("POST", "/v1/sessions", "", `{"handle":"`+handle+`","password":"`+password+`"}`)
	if r.status != 201 {
		c.t.Fatalf("login %s: %d %v", handle, r.status, r.body)
	}
	return r.body["token"].(string)
}

func TestAccounts(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, api *client) {
		r := api.do("POST", "/v1/users", "", `{"handle":"Ann_1","password":"correct horse"}`)
		if r.status != 201 || r.body["handle"] != "ann_1" || r.header.Get("Location") == "" {
			t.Fatalf("register: %d %v", r.status, r.body)
		}
		for _, tc := range []struct {
			body   string
			status int
			code   string
		}{
			{`{"handle":"ANN_1","password":"another one"}`, 409, "handle_taken"},
			{`{"handle":"a","password":"correct horse"}`, 400, "invalid_handle"},
			{`{"handle":"ann..x","password":"correct horse"}`, 400, "invalid_handle"},
			{`{"handle":"../etc","password":"correct horse"}`, 400, "invalid_handle"},
			{`{"handle":"bob","password":"short"}`, 400, "invalid_password"},
			{`{"handle":"bob","password":"correct horse","admin":true}`, 400, "invalid_json"},
			{`{"handle":"bob"`, 400, "invalid_json"},
			{`{"handle":"bob","password":"correct horse","handle":"ann_1"}`, 400, "invalid_json"},
		} {
			if r := api.do("POST", "/v1/users", "", tc.body); r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("register %s: %d %q, want %d %q", tc.body, r.status, r.errCode(), tc.status, tc.code)
			}
		}

		token := api.login("ann_1", "correct horse")
		if r := api.do("GET", "/v1/me", token, ""); r.status != 200 || r.body["handle"] != "ann_1" {
			t.Fatalf("me: %d %v", r.status, r.body)
		}
		if r := api.do("GET", "/v1/me", "", ""); r.status != 401 || r.errCode() != "unauthenticated" {
			t.Fatalf("me without a token: %d %v", r.status, r.body)
		}
		if r := api.do("GET", "/v1/me", "admin-token-for-tests", ""); r.status != 200 || r.body["admin"] != true {
			t.Fatalf("me as admin: %d %v", r.status, r.body)
		}

		wrongPw := api.do("POST", "/v1/sessions", "", `{"handle":"ann_1","password":"wrong horse"}`)
		noUser := api.do("POST", "/v1/sessions", "", `{"handle":"nobody","password":"wrong horse"}`)
		if wrongPw.status != 401 || noUser.status != 401 || wrongPw.body["error"].(map[string]any)["message"] != noUser.body["error"].(map[string]any)["message"] {
			t.Fatalf("wrong password %d %v / unknown handle %d %v: want the same 401", wrongPw.status, wrongPw.body, noUser.status, noUser.body)
		}

		if r := api.do("DELETE", "/v1/sessions/current", token, ""); r.status != 204 {
			t.Fatalf("logout: %d %v", r.status, r.body)
		}
		if r := api.do("GET", "/v1/me", token, ""); r.status != 401 || r.errCode() != "invalid_token" {
			t.Fatalf("me after logout: %d %v", r.status, r.body)
		}
	})
}

// TestTokenExpires checks a session token against the accounts' clock: alive when issued,
// and until its TTL has passed, dead after.
func TestTokenExpires(t *testing.T) {
	forEachService(t, Config{TokenTTL: time.Hour}, func(t *testing.T, s *Service, api *client) {
		var mu sync.Mutex
		now := time.Now()
		s.accounts.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		at := func(d time.Duration) { mu.Lock(); now = time.Now().Add(d); mu.Unlock() }
		api.do("POST", "/v1/users", "", `{"handle":"dave","password":"correct horse"}`)
		token := api.login("dave", "correct horse")
		for _, tc := range []struct {
			after  time.Duration
			status int
		}{{0, 200}, {59 * time.Minute, 200}, {61 * time.Minute, 401}} {
			at(tc.after)
			if r := api.do("GET", "/v1/me", token, ""); r.status != tc.status {
				t.Errorf("token %v after its login: %d, want %d", tc.after, r.status, tc.status)
			}
		}
	})
}

func FuzzNormalizeHandle(f *testing.F) {
	for _, s := range []string{"ann", "Ann_1", "a", "ann..x", "../etc", "x.", " bob ", "émile", strings.Repeat("a", 31)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n, err := NormalizeHandle(h)
		if err != nil {
			return
		}
		if !handleRE.MatchString(n) || strings.Contains(n, "..") || strings.ContainsAny(n, "/\\ \x00") {
			t.Fatalf("NormalizeHandle(%q) = %q", h, n)
		}
		if again, _ := NormalizeHandle(n); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", h, n, again)
		}
	})
}
