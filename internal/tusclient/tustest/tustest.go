// Package tustest runs reelay's real tus server (package ingest, behind the bearer-token
// middleware) on a loopback httptest server over a fresh SQLite database, for the tests of
// tus clients. It records every request the server answers and every upload handed over.
package tustest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/auth"
)

// Server is an ingest handler on a loopback server with one user.
type Server struct {
	URL      string          // base URL, e.g. http://127.0.0.1:40000
	Endpoint string          // where uploads are created: URL + ingest.Path
	Token    string          // bearer token of the user "alice"
	UserID   int64           // alice's id
	Mux      *http.ServeMux  // serves ingest.Path; tests may add handlers, e.g. /v1/videos/
	Ingest   *ingest.Handler // the tus handler
	DB       *db.DB

	mu        sync.Mutex
	requests  []Request
	completed []Completed
	accepted  []string
	received  int64 // PATCH body bytes read by the handler, all requests together
	inflight  int   // requests being served
	onBody    func(received int64)
	accept    func(context.Context, ingest.Upload) error
}

var _ ingest.Pipeline = (*Server)(nil)

// Accept is the server's pipeline accepting a finished upload: New's accept decides, and the
// accepted ones are recorded (Accepted).
func (s *Server) Accept(ctx context.Context, up ingest.Upload) error {
	if s.accept != nil {
		if err := s.accept(ctx, up); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, up.ID)
	s.mu.Unlock()
	return nil
}

// Accepted returns the ids of the uploads accepted so far: those whose last request was
// answered with success, which are handed over in the background after.
func (s *Server) Accepted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

// HandOver is the server's pipeline taking an accepted upload: it records it (Completed).
func (s *Server) HandOver(ctx context.Context, up ingest.Upload) error {
	sum := fileSHA256(up.Path)
	s.mu.Lock()
	s.completed = append(s.completed, Completed{Upload: up, SHA256: sum})
	s.mu.Unlock()
	return nil
}

// Request is a tus request the server answered.
type Request struct {
	Method   string
	Path     string
	Offset   int64  // the request's Upload-Offset; -1 when it had none
	Checksum string // the request's Upload-Checksum
	Body     int64  // body bytes the handler read
	Status   int    // the answer's status
	Answer   string // the answer's Upload-Offset
}

// Completed is an upload handed over by the handler (ingest.Pipeline.HandOver).
type Completed struct {
	Upload ingest.Upload
	SHA256 string // hex SHA-256 of the staged file at hand-over
}

// New starts a server with cfg, whose Dir defaults to a temporary directory. Finished uploads
// are accepted by accept (nil accepts all), and handed over to the server, which records them
// (Completed). Everything is closed when t ends.
func New(t testing.TB, cfg ingest.Config, accept func(context.Context, ingest.Upload) error) *Server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(dir, "reelay.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	accounts := feed.NewAccounts(d)
	u, err := accounts.CreateUser(ctx, "alice", "not a real hash")
	if err != nil {
		t.Fatal(err)
	}
	token, hash := auth.NewToken()
	if err := accounts.CreateToken(ctx, hash, u.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	s := &Server{Token: token, UserID: u.ID, DB: d, Mux: http.NewServeMux(), accept: accept}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(dir, "staging")
	}
	h, err := ingest.New(cfg, d, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Ingest = h
	tus := auth.NewAuthenticator(accounts, "", nil).Middleware(h.Handler())
	s.Mux.Handle(ingest.Path, s.record(tus))
	s.Mux.Handle("/v1/uploads", s.record(tus))
	srv := httptest.NewServer(s.Mux)
	t.Cleanup(srv.Close)
	s.URL, s.Endpoint = srv.URL, srv.URL+ingest.Path
	return s
}

// OnBody sets a function the server calls as it reads PATCH bodies, with the bytes read
// from all of them so far; nil removes it. It runs in the handler's goroutine.
func (s *Server) OnBody(f func(received int64)) {
	s.mu.Lock()
	s.onBody = f
	s.mu.Unlock()
}

// Requests returns the requests answered so far, in the order their answers were written.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Completed returns the uploads handed over so far.
func (s *Server) Completed() []Completed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Completed(nil), s.completed...)
}

// WaitCompleted waits until n uploads have been handed over, which happens in the background
// after the request that finished each was answered, and returns them; it fails t after 10s.
func (s *Server) WaitCompleted(t testing.TB, n int) []Completed {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if done := s.Completed(); len(done) >= n {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("tustest: %d uploads handed over after 10s, want %d", len(s.Completed()), n)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

// Received returns the PATCH body bytes the handler read so far.
func (s *Server) Received() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// WaitIdle waits until the server answered every request it received, failing t after 10s.
// A client that gave up on a request (its context was cancelled) may leave it running on the
// server for a while: the server stores what arrived before it lets the upload go.
func (s *Server) WaitIdle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := s.inflight
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tustest: %d requests still running after 10s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// record wraps h to log its requests and count their body bytes.
func (s *Server) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := Request{Method: r.Method, Path: r.URL.Path, Offset: -1, Checksum: r.Header.Get("Upload-Checksum")}
		if v, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64); err == nil {
			req.Offset = v
		}
		s.mu.Lock()
		s.inflight++
		s.mu.Unlock()
		body := &countingBody{ReadCloser: r.Body, s: s, patch: r.Method == http.MethodPatch}
		r.Body = body
		rw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		req.Body, req.Status, req.Answer = body.n, rw.status, w.Header().Get("Upload-Offset")
		s.requests = append(s.requests, req)
		s.inflight--
	})
}

type countingBody struct {
	io.ReadCloser
	s     *Server
	patch bool
	n     int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if b.patch && n > 0 {
		b.s.mu.Lock()
		b.s.received += int64(n)
		total, f := b.s.received, b.s.onBody
		b.s.mu.Unlock()
		if f != nil {
			f(total)
		}
	}
	return n, err
}

// statusWriter remembers the status written; Unwrap lets http.ResponseController reach the
// connection (ingest sets read deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SHA256 is the hex SHA-256 of b, to compare with Completed.SHA256.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
