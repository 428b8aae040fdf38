package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// start serves cfg until the test ends. It returns the server, a func that begins the
// graceful stop, and a channel closed when Serve has returned, after which *serveErr is set.
func start(t *testing.T, cfg Config) (s *Server, stop context.CancelFunc, done <-chan struct{}, serveErr *error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := make(chan struct{})
	serveErr = new(error)
	go func() { *serveErr = s.Serve(ctx); close(d) }()
	t.Cleanup(func() { cancel(); <-d })
	return s, cancel, d, serveErr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const metricsToken = "metrics-0123456789"

// getMetrics returns what url's /metrics answers to the bearer token tok.
func getMetrics(t *testing.T, url, tok string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestHealthReadyMetrics(t *testing.T) {
	var notReady error = errors.New("database down")
	s, _, _, _ := start(t, Config{
		Name:         "api",
		Handler:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }),
		Ready:        func(context.Context) error { return notReady },
		MetricsToken: metricsToken,
	})
	if code, _ := get(t, s.URL()+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get(t, s.URL()+"/readyz"); code != 503 || !strings.Contains(body, "database down") {
		t.Errorf("/readyz = %d %s, want 503", code, body)
	}
	notReady = nil
	if code, _ := get(t, s.URL()+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d once ready", code)
	}
	if code, body := get(t, s.URL()+"/v1/x"); code != 500 || !strings.Contains(body, `"internal"`) {
		t.Errorf("panicking handler = %d %s, want a 500 JSON error", code, body)
	}
	for _, auth := range []string{"", "Bearer wrong", metricsToken} {
		req, _ := http.NewRequest("GET", s.URL()+"/metrics", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("/metrics with Authorization %q: %d, want 403", auth, resp.StatusCode)
		}
	}
	metrics := getMetrics(t, s.URL(), metricsToken)
	for _, want := range []string{
		`reelay_http_requests_total{code="500",listener="api",method="GET"} 1`,
		`reelay_http_requests_total{code="503",listener="api",method="GET"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// keepAlive opens a connection to addr, makes one request on it and reads the answer whole,
// so that the connection is left idle, kept alive for the next request. It returns the
// connection's reader.
func keepAlive(t *testing.T, addr string) *bufio.Reader {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.Close || resp.StatusCode != http.StatusOK {
		t.Fatalf("the keep-alive connection's request: %d, close %v, %v", resp.StatusCode, resp.Close, err)
	}
	resp.Body.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // for closed
	return r
}

// closed reads from a connection that keepAlive left idle: the server closing it, the read
// ends with io.EOF (or its reset); within the read deadline, or it returns the error.
func closed(r *bufio.Reader) error {
	_, err := r.ReadByte()
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	if err == nil {
		return errors.New("the server sent data")
	}
	return err
}

// TestGracefulStopFinishesInFlight begins the graceful stop while a request is in flight and
// a kept-alive connection waits idle: the idle one is closed at once, and Serve returns once
// the request in flight is answered.
func TestGracefulStopFinishesInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s, cancel, done, serveErr := start(t, Config{
		Name: "api",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			io.WriteString(w, "finished")
		}),
	})
	idle := keepAlive(t, s.Addr().String())
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(s.URL() + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	<-entered
	cancel() // begin the graceful stop while the request is in flight
	if err := closed(idle); err != nil {
		t.Fatalf("the idle keep-alive connection once the stop began: %v, want it closed", err)
	}
	select {
	case <-done:
		t.Fatalf("Serve returned %v before the in-flight request finished", *serveErr)
	default:
	}
	close(release)
	if r := <-res; r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	<-done
	if *serveErr != nil {
		t.Fatalf("Serve: %v", *serveErr)
	}
	if _, err := http.Get(s.URL() + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after stop")
	}
}
