package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/listener"
)

// rawRequest sends head (and what follows it) on a new connection to s from the loopback
// address from, and returns the connection and a reader of the answer.
func rawRequest(t *testing.T, s *Server, from, head string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// closedWithin reports whether the server closes c (after whatever answer it sends) before
// the client gives up after wait.
func closedWithin(c net.Conn, r *bufio.Reader, wait time.Duration) (answer string, closed bool) {
	c.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), false
	}
	return string(b), err == nil || errors.Is(err, syscall.ECONNRESET)
}

// TestStalledBodyIsCut sends bodies that stop short of their Content-Length: the server cuts
// each connection after BodyTimeout, whether the handler reads the body or answers without
// reading it (net/http then reads what is left before it answers).
func TestStalledBodyIsCut(t *testing.T) {
	s, _, _, _ := start(t, Config{
		Name:   "api",
		Limits: listener.Limits{BodyTimeout: 200 * time.Millisecond},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/read" {
				if _, err := io.ReadAll(r.Body); err != nil {
					http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
					return
				}
			}
			http.Error(w, "no", http.StatusUnauthorized)
		}),
	})
	for _, path := range []string{"/read", "/unread"} {
		t.Run(path, func(t *testing.T) {
			c, r := rawRequest(t, s, "127.0.0.1", "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
			answer, closed := closedWithin(c, r, 30*time.Second)
			if !closed {
				t.Fatalf("the connection is still open after 30 s, BodyTimeout 200 ms; answer so far %q", answer)
			}
			if !strings.HasPrefix(answer, "HTTP/1.1 4") {
				t.Errorf("answer %q, want a 4xx", answer)
			}
		})
	}
}

// TestBodyThatKeepsComingIsRead sends a body for longer than BodyTimeout, a piece at a time,
// each well within it: the handler reads it whole.
func TestBodyThatKeepsComingIsRead(t *testing.T) {
	const timeout = 2 * time.Second
	s, _, _, _ := start(t, Config{
		Name:   "api",
		Limits: listener.Limits{BodyTimeout: timeout},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
		}),
	})
	pr, pw := io.Pipe()
	const pieces, size = 30, 1000
	go func() {
		tick := time.NewTicker(timeout / 20)
		defer tick.Stop()
		for range pieces {
			<-tick.C
			pw.Write(make([]byte, size))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", s.URL()+"/upload", pr)
	req.ContentLength = pieces * size
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("%d <nil>", pieces*size); string(b) != want {
		t.Fatalf("handler read %q, want %q", b, want)
	}
	if d := time.Since(start); d < timeout {
		t.Logf("the body took %v, less than BodyTimeout %v: the test proved little", d, timeout)
	}
}

// TestHandlerTakesOverReadDeadline checks that a handler that sets its own read deadline (as
// ingest's tus PATCH does) is not cut by BodyTimeout.
func TestHandlerTakesOverReadDeadline(t *testing.T) {
	const timeout = 100 * time.Millisecond
	took := make(chan struct{})
	s, _, _, _ := start(t, Config{
		Name:   "api",
		Limits: listener.Limits{BodyTimeout: timeout},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetReadDeadline: %v", err)
			}
			close(took)
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
		}),
	})
	c, r := rawRequest(t, s, "127.0.0.1", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\na")
	<-took
	// The client pauses for many BodyTimeouts before the rest of its body.
	time.Sleep(10 * timeout)
	io.WriteString(c, "b")
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "2 <nil>" {
		t.Fatalf("handler read %q, want all 2 bytes", b)
	}
}

// TestConnectionCaps floods the listener from one client address: past its cap the
// connections are closed at once and counted in /metrics, those within it are served, and so
// is another client.
func TestConnectionCaps(t *testing.T) {
	s, _, _, _ := start(t, Config{
		Name: "api", MetricsToken: metricsToken,
		Limits: listener.Limits{MaxConnsPerClient: 5, HeaderTimeout: time.Minute},
	})
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	var conns []conn
	for range 20 {
		c, r := rawRequest(t, s, "127.0.0.2", "")
		conns = append(conns, conn{c, r})
	}
	const want = `reelay_listener_refused_connections_total{listener="api",reason="client"} 15`
	deadline := time.Now().Add(30 * time.Second)
	for m := ""; !strings.Contains(m, want); m = getMetrics(t, s.URL(), metricsToken) {
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", want, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
	served := 0
	for _, c := range conns {
		io.WriteString(c.c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if resp, err := http.ReadResponse(c.r, nil); err == nil && resp.StatusCode == 200 {
			served++
		}
	}
	if served != 5 {
		t.Errorf("%d of 20 connections from one client served, want its cap, 5", served)
	}
	if code, _ := get(t, s.URL()+"/healthz"); code != 200 {
		t.Errorf("another client: /healthz %d", code)
	}
}

// TestIdleMakeRoom fills the listener's cap with kept-alive connections waiting for their
// next request, each from its own address: a new client takes the place of the one idle the
// longest (of three), where it was refused before. (That connections in the middle of a request are
// never closed for it is internal/listener's TestSilentMakeRoom.)
func TestIdleMakeRoom(t *testing.T) {
	s, _, _, _ := start(t, Config{Name: "api", Limits: listener.Limits{MaxConns: 3, HeaderTimeout: time.Minute}})
	const req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	answered := func(c net.Conn, r *bufio.Reader) bool {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
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
		c, r := rawRequest(t, s, from, req)
		if !answered(c, r) {
			t.Fatalf("%s not served while the listener had room", from)
		}
		idle, idleR = append(idle, c), append(idleR, r)
	}
	// The server marks a connection idle just after its answer is out: until then, a new
	// client is refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, r := rawRequest(t, s, "127.0.0.5", req)
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
