package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/listener"
)

// rawConn opens a connection to url's host from the loopback address from.
func rawConn(t *testing.T, url, from string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, bufio.NewReader(c)
}

// TestLongHeaders sends headers as long as a browser's with many cookies: they are served, and
// only past MaxHeaderBytes answered 431.
func TestLongHeaders(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	_, prefix := newVideo()
	key := prefix + "720p/seg_00001.m4s"
	for _, tc := range []struct {
		cookie int
		want   int
	}{
		{4 << 10, 200},
		{20 << 10, 200},
		{DefaultMaxHeaderBytes - 1024, 200},
		{DefaultMaxHeaderBytes + 1024, 431},
	} {
		resp, body := do(t, "GET", e.url+key, "Cookie", "c="+strings.Repeat("x", tc.cookie))
		if resp.StatusCode != tc.want {
			t.Errorf("a cookie of %d bytes: %d %s, want %d", tc.cookie, resp.StatusCode, body, tc.want)
		}
		if tc.want == 431 && !strings.Contains(body, `"header_too_large"`) {
			t.Errorf("431 body %q, want the JSON error", body)
		}
	}
}

// TestBareLFAnsweredAtOnce sends request headers that end with bare LFs: each is answered 400
// at once, long before the header timeout (ten minutes here), on a new connection and on a
// kept-alive one; headers ended with CRLF are served.
func TestBareLFAnsweredAtOnce(t *testing.T) {
	e := startEdge(t, Config{Origin: newTestOrigin(t).URL, Limits: listener.Limits{HeaderTimeout: 10 * time.Minute}})
	for _, head := range []string{
		"GET /healthz HTTP/1.1\nHost: x\n\n",
		"GET /healthz HTTP/1.1\r\nHost: x\n\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\n",
		"GET /healthz HTTP/1.1\r\nHost: x\n\r\n",
		"\r\nGET /healthz HTTP/1.1\nHost: x\n\n",
	} {
		c, r := rawConn(t, e.url, "127.0.0.1")
		io.WriteString(c, head)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("%q: no answer: %v", head, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "bare LF") {
			t.Errorf("%q: %d %s, want 400", head, resp.StatusCode, b)
		}
	}

	// On a kept-alive connection, after a request ended right, and one at a time.
	c, r := rawConn(t, e.url, "127.0.0.1")
	for i, head := range []string{
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\n\r\n",
		"GET /healthz HTTP/1.1\nHost: x\n\n",
	} {
		// The header arrives in pieces, as a slow client sends it.
		for _, piece := range strings.SplitAfter(head, "\n") {
			io.WriteString(c, piece)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("request %d: no answer: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		want := 200
		if strings.HasSuffix(head, "\n\n") && !strings.HasSuffix(head, "\r\n\r\n") {
			want = 400
		}
		if resp.StatusCode != want {
			t.Errorf("request %d on one connection: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

// flakyListener fails Accept with EMFILE, as a process out of file descriptors does, a few
// times, then accepts.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// TestAcceptErrorsDoNotStopTheEdge checks that the edge rides out a process out of file
// descriptors: fasthttp alone treats EMFILE as permanent, and Run returned.
func TestAcceptErrorsDoNotStopTheEdge(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyListener{Listener: ln, fails: 5}
	e := startEdge(t, Config{Origin: newTestOrigin(t).URL, Listener: flaky})
	if resp, body := do(t, "GET", e.url+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz after the accept errors: %d %s", resp.StatusCode, body)
	}
	flaky.mu.Lock()
	defer flaky.mu.Unlock()
	if flaky.fails != 0 {
		t.Errorf("%d accept errors left: the edge served without meeting them", flaky.fails)
	}
}

// TestEdgeConnectionCaps opens more connections from one client address than it may hold:
// past the cap they are closed at once and counted, and another client is served.
func TestEdgeConnectionCaps(t *testing.T) {
	e := startEdge(t, Config{Origin: newTestOrigin(t).URL, MetricsToken: testMetricsToken, Limits: listener.Limits{MaxConnsPerClient: 3}})
	var conns []*bufio.Reader
	var cs []net.Conn
	for range 10 {
		c, r := rawConn(t, e.url, "127.0.0.2")
		cs, conns = append(cs, c), append(conns, r)
	}
	served := 0
	for i, c := range cs {
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(conns[i], nil); err == nil && resp.StatusCode == 200 {
			served++
		}
	}
	if served != 3 {
		t.Errorf("%d of 10 connections from one client served, want its cap, 3", served)
	}
	_, metrics := do(t, "GET", e.url+"/metrics", "Authorization", "Bearer "+testMetricsToken)
	if want := `reelay_listener_refused_connections_total{listener="edge",reason="client"} 7`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %q:\n%s", want, metrics)
	}
}

// TestEdgeIdleMakeRoom fills the edge's cap with kept-alive connections waiting for their
// next request, each from its own address: a new client takes the place of the one idle the
// longest, where it was refused before.
func TestEdgeIdleMakeRoom(t *testing.T) {
	e := startEdge(t, Config{Origin: newTestOrigin(t).URL, Limits: listener.Limits{MaxConns: 3}})
	const req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	answered := func(c net.Conn, r *bufio.Reader) bool {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == 200
	}
	var idle []net.Conn
	var idleR []*bufio.Reader
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		c, r := rawConn(t, e.url, from)
		io.WriteString(c, req)
		if !answered(c, r) {
			t.Fatalf("%s not served while the edge had room", from)
		}
		idle, idleR = append(idle, c), append(idleR, r)
	}
	// The edge marks a connection idle just after its answer is out: until then, a new
	// client is refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, r := rawConn(t, e.url, "127.0.0.5")
		io.WriteString(c, req)
		if answered(c, r) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a new client was refused with every place taken by idle connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// One idle connection made room, the one marked idle first (which is usually, not
	// always, the first served: each is marked just after its answer is out); the others
	// still serve.
	closed := 0
	for i, c := range idle {
		io.WriteString(c, req)
		if !answered(c, idleR[i]) {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d of the 3 idle connections closed to make room for one, want 1", closed)
	}
}
