package listener

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/reelay/reelay/internal/testenv"
)

// server accepts on a Listener until it is closed, greeting every connection it accepts
// with "ok\n" and holding it open until the test ends or closeFrom closes it.
type server struct {
	mu    sync.Mutex
	conns map[string]net.Conn // by the client's address
}

func serve(t *testing.T, l *Listener) *server {
	t.Helper()
	s := &server{conns: map[string]net.Conn{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c.RemoteAddr().String()] = c
			s.mu.Unlock()
			c.Write([]byte("ok\n"))
			go func() { // answers each line heard with "heard\n"
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					c.Write([]byte("heard\n"))
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

// conn returns the server's end of the connection from the client at addr.
func (s *server) conn(t *testing.T, addr net.Addr) *Conn {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[addr.String()].(*Conn)
	if !ok {
		t.Fatalf("no connection from %s", addr)
	}
	return c
}

// closeFrom closes the server's end of the connection from the client at addr.
func (s *server) closeFrom(t *testing.T, addr net.Addr) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[addr.String()]
	if c == nil {
		t.Fatalf("no connection from %s", addr)
	}
	c.Close()
	delete(s.conns, addr.String())
}

// dial connects to l from the loopback address from and reports whether the server greeted
// the connection (admitted) or closed it (refused). An admitted connection then speaks: it
// sends a line and waits for the server to have heard it.
func dial(t *testing.T, l *Listener, from string) (net.Conn, bool) {
	t.Helper()
	c, ok := dialSilent(t, l, from)
	if ok {
		io.WriteString(c, "hello\n")
		if line, err := bufio.NewReader(c).ReadString('\n'); line != "heard\n" {
			t.Fatalf("speaking from %s: %q %v", from, line, err)
		}
	}
	return c, ok
}

// dialSilent is dial without the speaking: the connection sends nothing.
func dialSilent(t *testing.T, l *Listener, from string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case line == "ok\n":
		return c, true
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return c, false
	}
	t.Fatalf("dial from %s: %q %v", from, line, err)
	return nil, false
}

func listen(t *testing.T, cfg Config) (*Listener, *prometheus.Registry) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if cfg.Metrics, err = NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	return New(ln, cfg), reg
}

// metric returns the value of the metric name with the labels, 0 if it has none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestCaps(t *testing.T) {
	l, reg := listen(t, Config{Name: "test", Limits: Limits{MaxConns: 3, MaxConnsPerClient: 2}})
	srv := serve(t, l)

	a1, ok1 := dial(t, l, "127.0.0.1")
	_, ok2 := dial(t, l, "127.0.0.1")
	if _, ok := dial(t, l, "127.0.0.1"); !ok1 || !ok2 || ok {
		t.Fatalf("from one client: admitted %v %v %v, want the third refused", ok1, ok2, ok)
	}
	if _, ok := dial(t, l, "127.0.0.2"); !ok {
		t.Fatal("another client was refused while the listener had room")
	}
	if _, ok := dial(t, l, "127.0.0.3"); ok {
		t.Fatal("a fourth connection was admitted past MaxConns 3")
	}
	if all, one := l.Open(netip.MustParseAddr("127.0.0.1")); all != 3 || one != 2 {
		t.Errorf("open: %d in all, %d from 127.0.0.1; want 3 and 2", all, one)
	}
	if got := metric(t, reg, "reelay_listener_refused_connections_total", "listener", "test", "reason", ReasonClient); got != 1 {
		t.Errorf("refused for the client's cap: %v, want 1", got)
	}
	if got := metric(t, reg, "reelay_listener_refused_connections_total", "listener", "test", "reason", ReasonListener); got != 1 {
		t.Errorf("refused for the listener's cap: %v, want 1", got)
	}
	if got := metric(t, reg, "reelay_listener_connections", "listener", "test"); got != 3 {
		t.Errorf("connections gauge: %v, want 3", got)
	}

	// A closed connection makes room for the next one.
	srv.closeFrom(t, a1.LocalAddr())
	if _, ok := dial(t, l, "127.0.0.1"); !ok {
		t.Fatal("refused after a connection of the client closed")
	}
}

// TestSilentMakeRoom fills a listener with connections that send nothing, from as many
// clients: at its cap, each new connection takes the place of the oldest silent one, and
// never of one that has spoken. Without that, a flood of idle connections from many
// addresses kept every other client out until the header timeout.
func TestSilentMakeRoom(t *testing.T) {
	l, reg := listen(t, Config{Name: "test", Limits: Limits{MaxConns: 3, MaxConnsPerClient: 2}})
	srv := serve(t, l)

	spoke, _ := dial(t, l, "127.0.0.9")
	var silent []net.Conn
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		c, ok := dialSilent(t, l, from)
		if !ok {
			t.Fatalf("refused from %s while the listener had room", from)
		}
		silent = append(silent, c)
	}
	for i, from := range []string{"127.0.0.4", "127.0.0.5"} {
		if _, ok := dial(t, l, from); !ok {
			t.Fatalf("refused from %s at the cap, with %d silent connections open", from, 2-i)
		}
		silent[i].SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := silent[i].Read(make([]byte, 1)); err == nil {
			t.Fatalf("the silent connection %d is still open after a new one took its place", i+1)
		}
	}
	// Every connection open has spoken now: the next one is refused.
	if _, ok := dialSilent(t, l, "127.0.0.6"); ok {
		t.Fatal("admitted past MaxConns with no silent connection to close")
	}
	io.WriteString(spoke, "still here\n")
	if line, err := bufio.NewReader(spoke).ReadString('\n'); line != "heard\n" {
		t.Fatalf("the connection that spoke first was closed: %q %v", line, err)
	}

	// A connection that the server calls idle (kept alive between requests) is silent again
	// until it speaks or the server calls it busy.
	server := srv.conn(t, spoke.LocalAddr())
	server.Idle()
	server.Busy()
	if _, ok := dialSilent(t, l, "127.0.0.7"); ok {
		t.Fatal("admitted past MaxConns by closing a busy connection")
	}
	server.Idle()
	if _, ok := dial(t, l, "127.0.0.8"); !ok {
		t.Fatal("refused at the cap with an idle connection open")
	}
	spoke.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := bufio.NewReader(spoke).ReadString('\n'); err == nil {
		t.Fatal("the idle connection is still open after a new one took its place")
	}
	if got := metric(t, reg, "reelay_listener_refused_connections_total", "listener", "test", "reason", ReasonSilent); got != 3 {
		t.Errorf("silent connections closed: %v, want 3", got)
	}
	if all, _ := l.Open(netip.Addr{}); all != 3 {
		t.Errorf("open: %d, want 3", all)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 1}, "2001:db8:1:2::"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 1}, "2001:db8:1:3::"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"}, "fe80::"},
		{fakeAddr("[2001:db8::1]:80"), "2001:db8::"},
		{&net.UnixAddr{Name: "/run/reelay.sock", Net: "unix"}, "invalid IP"},
		{nil, "invalid IP"},
	} {
		if got := ClientKey(tc.addr).String(); got != tc.want {
			t.Errorf("ClientKey(%v) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// flakyListener fails its first accepts with errs, then accepts from the real listener.
type flakyListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

func TestAcceptRidesOutTemporaryErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyListener{Listener: ln, errs: []error{
		acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE), acceptErr(syscall.ECONNABORTED), acceptErr(syscall.EMFILE),
	}}
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	logs := &testenv.Buffer{}
	l := New(flaky, Config{Name: "test", Metrics: m, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	serve(t, l)
	if _, ok := dial(t, l, "127.0.0.1"); !ok {
		t.Fatal("not served after the accept errors")
	}
	if got := metric(t, reg, "reelay_listener_accept_errors_total", "listener", "test"); got != 4 {
		t.Errorf("accept errors counted: %v, want 4", got)
	}
	// Logged once, not once per error.
	if n := strings.Count(logs.String(), "accept failed"); n != 1 || !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

func TestAcceptReturnsFatalErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fatal := acceptErr(syscall.EINVAL)
	l := New(&flakyListener{Listener: ln, errs: []error{fatal}}, Config{})
	if c, err := l.Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Accept = %v, %v; want the EINVAL", c, err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

// TestCloseEndsBackoff checks that a Listener closed while it backs off returns at once.
func TestCloseEndsBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = acceptErr(syscall.EMFILE)
	}
	f := &flakyListener{Listener: ln, errs: errs}
	l := New(f, Config{})
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	// Wait until Accept is into its backoffs, then close.
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.errs)
		f.mu.Unlock()
		if n < 995 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Accept is not retrying")
		}
		time.Sleep(time.Millisecond)
	}
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept = %v, want net.ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}

func TestTemporary(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{acceptErr(syscall.EMFILE), true},
		{acceptErr(syscall.ENFILE), true},
		{acceptErr(syscall.ECONNABORTED), true},
		{acceptErr(syscall.ENOBUFS), true},
		{acceptErr(syscall.EINVAL), false},
		{acceptErr(syscall.EBADF), false},
		{net.ErrClosed, false},
		{fmt.Errorf("wrapped: %w", os.ErrDeadlineExceeded), true},
	} {
		if got := Temporary(tc.err); got != tc.want {
			t.Errorf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// recordingConn records the write deadlines set on it.
type recordingConn struct {
	net.Conn
	mu        sync.Mutex
	deadlines []time.Time
}

func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *recordingConn) Write(p []byte) (int, error) { return len(p), nil }

func (c *recordingConn) last() (time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.deadlines) == 0 {
		return time.Time{}, 0
	}
	return c.deadlines[len(c.deadlines)-1], len(c.deadlines)
}

func TestWriteDeadline(t *testing.T) {
	const timeout = time.Hour // a tenth of it does not pass during the test
	rc := &recordingConn{}
	l := New(nil, Config{Limits: Limits{WriteTimeout: timeout}})
	c := &Conn{Conn: rc, l: l, writeTimeout: timeout}

	before := time.Now()
	c.Write([]byte("a"))
	d, n := rc.last()
	if n != 1 || d.Before(before.Add(timeout)) || d.After(time.Now().Add(timeout)) {
		t.Fatalf("after the first write: %d deadlines, the last %v; want one, WriteTimeout from now", n, d)
	}
	c.Write([]byte("b"))
	if _, n := rc.last(); n != 1 {
		t.Errorf("the second write moved the deadline again within a tenth of WriteTimeout")
	}
	// A deadline set by the server, sooner than WriteTimeout, bounds the writes.
	soon := time.Now().Add(time.Minute)
	c.SetWriteDeadline(soon)
	c.Write([]byte("c"))
	if d, _ := rc.last(); !d.Equal(soon) {
		t.Errorf("with a server deadline in a minute, the write's deadline is %v, want %v", d, soon)
	}
	// Cleared, WriteTimeout applies again.
	c.SetWriteDeadline(time.Time{})
	c.Write([]byte("d"))
	if d, _ := rc.last(); d.Before(time.Now().Add(timeout - time.Minute)) {
		t.Errorf("after the server cleared its deadline, the write's deadline is %v, want WriteTimeout from now", d)
	}
}

func TestStalledClientIsCut(t *testing.T) {
	l, _ := listen(t, Config{Limits: Limits{WriteTimeout: 200 * time.Millisecond}})
	defer l.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for { // until the socket buffers are full and the write deadline passes
			if _, err := c.Write(buf); err != nil {
				errc <- err
				return
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // never read
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a client that does not read: %v, want a deadline error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("writes to a client that does not read never failed")
	}
}

func TestMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("the second NewMetrics on one registry: %v", err)
	}
	a.refuse("api", ReasonClient)
	b.refuse("edge", ReasonClient)
	if got := metric(t, reg, "reelay_listener_refused_connections_total", "listener", "edge"); got != 1 {
		t.Errorf("the second Metrics' count: %v, want 1", got)
	}
}
