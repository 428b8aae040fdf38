package ingest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
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

// apiNode is a handler on an env's database with a NodeURL of its own, as another API node.
type apiNode struct {
	h   *Handler
	srv *httptest.Server
}

func startNode(t *testing.T, e *env, cfg Config) apiNode {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg.Dir, cfg.NodeURL = t.TempDir(), "http://"+srv.Listener.Addr().String()
	h, err := New(cfg, e.d, e.completed)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = auth.NewAuthenticator(feed.NewAccounts(e.d), adminToken, nil).Middleware(h.Handler())
	srv.Start()
	t.Cleanup(srv.Close)
	return apiNode{h, srv}
}

// TestForwardToStagingNode: an upload created on node a takes its requests on node b, which
// passes them to a; a client that stalls mid-chunk on b loses its request after the idle
// timeout, with the bytes it sent stored on a, and resumes through b; the bytes only ever
// reach a's staging directory. b answers 502 when a is gone, and refuses to pass on a request
// that another node passed to it.
func TestForwardToStagingNode(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{})
	cfg := Config{ChunkIdleTimeout: 300 * time.Millisecond}
	a, b := startNode(t, e, cfg), startNode(t, e, cfg)
	r := e.do("POST", a.srv.URL+Path, e.alice, nil, "Upload-Length", "10")
	if r.status != http.StatusCreated {
		t.Fatalf("create on a: %d %s", r.status, r.body)
	}
	loc := r.get("Location")
	onB := b.srv.URL + loc

	conn, err := net.Dial("tcp", b.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 10\r\n\r\nabcd",
		loc, b.srv.Listener.Addr(), e.alice)
	waitFor(t, "the stalled PATCH to hold the lock on a", func() bool { return a.h.locks.refs(idOf(loc)) == 1 })
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // many idle timeouts
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the stalled client got no answer from b: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Errorf("stalled PATCH through b: %d, want a 5xx", resp.StatusCode)
	}
	if got := e.offset(onB, e.alice); got != "4" {
		t.Fatalf("HEAD through b after the stall: offset %s, want 4", got)
	}
	e.patch(onB, e.alice, 4, []byte("efghij"))
	if got := e.handedOver(loc); got != bytesSHA256([]byte("abcdefghij")) {
		t.Errorf("handed over sha256 %q, want that of abcdefghij", got)
	}
	if entries, _ := os.ReadDir(b.h.cfg.Dir); len(entries) > 0 {
		t.Errorf("b staged %v", entries)
	}

	second := e.do("POST", a.srv.URL+Path, e.alice, nil, "Upload-Length", "10").get("Location")
	if r := e.do("PATCH", b.srv.URL+second, e.alice, []byte("0123456789"), "Upload-Offset", "0", forwardedHeader, "http://elsewhere"); r.status != http.StatusBadGateway ||
		!strings.Contains(string(r.body), "upload_node_misconfigured") {
		t.Errorf("PATCH on b passed on by another node: %d %s, want 502 upload_node_misconfigured", r.status, r.body)
	}
	a.srv.Close()
	if r := e.do("PATCH", b.srv.URL+second, e.alice, []byte("0123456789"), "Upload-Offset", "0"); r.status != http.StatusBadGateway ||
		!strings.Contains(string(r.body), "upload_node_unavailable") {
		t.Errorf("PATCH on b of an upload staged on the stopped a: %d %s, want 502 upload_node_unavailable", r.status, r.body)
	}
}
