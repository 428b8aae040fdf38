package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const adminToken = "admin-token-for-tests"

// env is an ingest handler behind the auth middleware on a loopback server, over a real
// database with two users, alice and bob.
type env struct {
	t          *testing.T
	dsn        string
	cfg        Config
	d          *db.DB
	h          *Handler
	srv        *httptest.Server
	alice, bob string // bearer tokens
	aliceID    int64
	completed  *recorder
}

// forEachDB runs fn against an env on SQLite and on PostgreSQL.
func forEachDB(t *testing.T, cfg Config, fn func(t *testing.T, e *env)) {
	testenv.ForEachDSN(t, func(t *testing.T, dsn string) { fn(t, newEnv(t, dsn, cfg)) })
}

// newEnv opens dsn, creates the users and starts the handler with cfg. A cfg without Dir
// stages in a temporary directory. The pipeline is e.completed, which records the uploads it
// accepts and is handed over.
func newEnv(t *testing.T, dsn string, cfg Config) *env {
	t.Helper()
	e := &env{t: t, dsn: dsn, cfg: cfg, completed: &recorder{}}
	if e.cfg.Dir == "" {
		e.cfg.Dir = filepath.Join(t.TempDir(), "staging")
	}
	e.open()
	ctx := t.Context()
	for _, who := range []struct {
		handle string
		token  *string
		id     *int64
	}{{"alice", &e.alice, &e.aliceID}, {"bob", &e.bob, nil}} {
		accounts := feed.NewAccounts(e.d)
		u, err := accounts.CreateUser(ctx, who.handle, "not a real hash")
		if err != nil {
			t.Fatal(err)
		}
		token, hash := auth.NewToken()
		if err := accounts.CreateToken(ctx, hash, u.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		*who.token = token
		if who.id != nil {
			*who.id = u.ID
		}
	}
	t.Cleanup(e.close)
	return e
}

// open opens the database and starts the handler and its server.
func (e *env) open() {
	e.t.Helper()
	d, err := db.Open(context.Background(), e.dsn, db.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := New(e.cfg, d, e.completed)
	if err != nil {
		d.Close()
		e.t.Fatal(err)
	}
	e.d, e.h = d, h
	e.srv = httptest.NewServer(auth.NewAuthenticator(feed.NewAccounts(d), adminToken, nil).Middleware(h.Handler()))
}

// close stops the server and closes the database, as a crash would (minus the bytes in flight).
func (e *env) close() {
	if e.srv != nil {
		e.srv.Close()
		e.d.Close()
		e.srv, e.d, e.h = nil, nil, nil
	}
}

// newServer serves h behind the auth middleware over e's database until t ends.
func newServer(t *testing.T, e *env, h *Handler) *httptest.Server {
	srv := httptest.NewServer(auth.NewAuthenticator(feed.NewAccounts(e.d), adminToken, nil).Middleware(h.Handler()))
	t.Cleanup(srv.Close)
	return srv
}

// restart closes everything and starts a new handler on the same directory and database.
func (e *env) restart() {
	e.close()
	e.open()
}

func (e *env) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return e.srv.URL + path
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errCode() string {
	var v struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(r.body, &v)
	return v.Error.Code
}

func (r response) get(name string) string { return r.header.Get(name) }

// do sends a request with Tus-Resumable: 1.0.0 and the given headers (name, value pairs; an
// empty value removes the header). body may be nil, a []byte, a string or an io.Reader; with
// a body, Content-Type is the tus chunk type unless the headers say otherwise.
func (e *env) do(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	r, err := e.send(method, path, token, body, headers...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// send is do for other goroutines than the test's: it returns its errors.
func (e *env) send(method, path, token string, body any, headers ...string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	}
	req, err := http.NewRequest(method, e.url(path), rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if body != nil {
		req.Header.Set("Content-Type", offsetStream)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("reading the response: %w", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// create makes an upload of length bytes (-1: deferred) for token and returns its URL: its
// Location resolved against the server's.
func (e *env) create(token string, length int64, headers ...string) string {
	e.t.Helper()
	l := []string{"Upload-Length", itoa(length)}
	if length < 0 {
		l = []string{"Upload-Defer-Length", "1"}
	}
	r := e.do("POST", Path, token, nil, append(l, headers...)...)
	if r.status != http.StatusCreated || r.get("Location") == "" {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	return e.url(r.get("Location"))
}

// patch sends chunk at offset and expects 204 with the new offset.
func (e *env) patch(url, token string, offset int64, chunk []byte, headers ...string) response {
	e.t.Helper()
	r := e.do("PATCH", url, token, chunk, append([]string{"Upload-Offset", itoa(offset)}, headers...)...)
	if r.status != http.StatusNoContent || r.get("Upload-Offset") != itoa(offset+int64(len(chunk))) {
		e.t.Fatalf("PATCH at %d: %d %q %s", offset, r.status, r.get("Upload-Offset"), r.body)
	}
	return r
}

// offset asks for url's offset with HEAD.
func (e *env) offset(url, token string) string {
	e.t.Helper()
	r := e.do("HEAD", url, token, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("HEAD %s: %d", url, r.status)
	}
	return r.get("Upload-Offset")
}

// record returns the stored state of the upload at url.
func (e *env) record(url string) upload {
	e.t.Helper()
	u, err := e.h.uploads.get(e.t.Context(), idOf(url))
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// waitState waits until the upload at url is in state, as it is once its hand-over, which runs
// in the background, is done.
func (e *env) waitState(url, state string) {
	e.t.Helper()
	waitFor(e.t, "upload "+idOf(url)+" "+state, func() bool { return e.record(url).State == state })
}

// waitStagedGone waits until the staged file of the upload at url is gone: its state changes
// first (the tombstone, or complete), and the bytes go just after, so that a crash in between
// leaves bytes that a restart sweeps, never a record whose bytes are missing.
func (e *env) waitStagedGone(url string) {
	e.t.Helper()
	waitFor(e.t, "the staged file of "+idOf(url)+" to go", func() bool {
		_, err := os.Stat(e.staged(url))
		return errors.Is(err, os.ErrNotExist)
	})
}

func (e *env) staged(url string) string { return filepath.Join(e.cfg.Dir, idOf(url)) }

func idOf(url string) string { return url[strings.LastIndexByte(url, '/')+1:] }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func bytesSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// recorder is a Pipeline that records what it is handed over and answers Accept with err and
// HandOver with handOverErr.
type recorder struct {
	mu          sync.Mutex
	accepted    []Upload
	uploads     []Upload // handed over
	err         error
	handOverErr error
	hashes      []string // SHA-256 of the staged file at each hand-over
	// stall, when set, makes HandOver wait for its context to end, then fail with its error.
	stall bool
	// stalled receives the id of each upload whose hand-over stalls, and unstalled each one
	// whose stalled hand-over gave up.
	stalled, unstalled chan string
}

var _ Pipeline = (*recorder)(nil)

func (c *recorder) Accept(ctx context.Context, u Upload) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accepted = append(c.accepted, u)
	return c.err
}

func (c *recorder) HandOver(ctx context.Context, u Upload) error {
	c.mu.Lock()
	stall := c.stall
	c.mu.Unlock()
	if stall {
		c.stalled <- u.ID
		<-ctx.Done()
		c.unstalled <- u.ID
		return ctx.Err()
	}
	sum := "unreadable"
	if f, err := os.Open(u.Path); err == nil {
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			sum = hex.EncodeToString(h.Sum(nil))
		}
		f.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.uploads = append(c.uploads, u)
	c.hashes = append(c.hashes, sum)
	return c.handOverErr
}

// setErr sets what Accept answers.
func (c *recorder) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// setStall makes HandOver stall until its context ends (see recorder.stall), or not.
func (c *recorder) setStall(stall bool) {
	c.mu.Lock()
	c.stall = stall
	if c.stalled == nil {
		c.stalled, c.unstalled = make(chan string, 16), make(chan string, 16)
	}
	c.mu.Unlock()
}

// setHandOverErr sets what HandOver answers.
func (c *recorder) setHandOverErr(err error) {
	c.mu.Lock()
	c.handOverErr = err
	c.mu.Unlock()
}

// calls returns the uploads handed over so far and the hashes of their files.
func (c *recorder) calls() ([]Upload, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Upload(nil), c.uploads...), append([]string(nil), c.hashes...)
}

// waitCalls waits until at least n uploads have been handed over (in the background, after
// the request that finished them) and returns them as calls does.
func (c *recorder) waitCalls(t *testing.T, n int) ([]Upload, []string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d hand-overs", n), func() bool { ups, _ := c.calls(); return len(ups) >= n })
	return c.calls()
}

// waitFor polls cond every 10ms until it holds, failing t after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// handedOver is the SHA-256 of upload loc's bytes as the pipeline was handed them over, once
// it has been (in the background, after the request that finished the upload), or "" if it
// was not within 10s.
func (e *env) handedOver(loc string) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ups, hashes := e.completed.calls()
		for i, u := range ups {
			if u.ID == idOf(loc) {
				return hashes[i]
			}
		}
		if time.Now().After(deadline) {
			return ""
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}
