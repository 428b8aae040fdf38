package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// noFileEnv, set for a child started with runMainEnv, is the open files limit (soft and hard)
// the child runs reelay under: a flood exhausts a few hundred descriptors as it would exhaust
// a production limit, without opening tens of thousands of sockets.
const noFileEnv = "REELAY_TEST_NOFILE"

// childNoFile applies noFileEnv in a child process, before it runs reelay.
func childNoFile() {
	n, err := strconv.ParseUint(os.Getenv(noFileEnv), 10, 64)
	if err != nil {
		return
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", noFileEnv, err)
		os.Exit(2)
	}
}

// floodMetricsToken opens the flooded processes' /metrics.
const floodMetricsToken = "metrics-0123456789"

// floodFiles is the open files limit of the flooded processes: the flood opens more
// connections than that, but a few hundred at most.
const floodFiles = 256

// startUpProc runs `reelay up args...` as a child process with an open files limit of files,
// and returns it with the listener URLs it printed (api, edge, origin). The process is
// killed when the test ends, or if the test process dies.
func startUpProc(t *testing.T, files int, args ...string) (*reelayProc, map[string]string) {
	t.Helper()
	args = append([]string{"up", "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--metrics-token", floodMetricsToken}, args...)
	p, pr := spawn(t, t, "reelay up", []string{noFileEnv + "=" + strconv.Itoa(files)}, args...)
	lines := make(chan map[string]string, 1)
	go func() {
		urls := map[string]string{}
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			name, url, _ := strings.Cut(sc.Text(), " ")
			urls[name] = url
			if name == "origin" {
				lines <- urls
				break
			}
		}
		close(lines)
		io.Copy(io.Discard, pr)
	}()
	select {
	case urls, ok := <-lines:
		if !ok {
			<-p.done
			t.Fatalf("reelay up exited (%v) without printing its listeners:\n%s", p.cmd.ProcessState, p.stderr)
		}
		return p, urls
	case <-time.After(time.Minute):
		t.Fatalf("reelay up printed no listeners within a minute:\n%s", p.stderr)
	}
	return nil, nil
}

// alive fails t if the process has exited.
func (p *reelayProc) alive(t *testing.T, when string) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("reelay up exited %s: %v", when, p.cmd.ProcessState)
	default:
	}
}

// flood holds the connections a test opened to a listener, bounded in number, from
// loopback addresses other than 127.0.0.1, which the normal client keeps.
type flood struct {
	mu    sync.Mutex
	conns []net.Conn
}

// open opens n connections to the host of url, from 127.0.0.2 upwards, each source address
// taking perAddr of them, and sends head on each. It does not wait for the server to accept
// them: a connection the server has not accepted yet waits in its backlog.
func (f *flood) open(t *testing.T, url string, n, perAddr int, head string) {
	t.Helper()
	host := strings.TrimPrefix(url, "http://")
	for i := range n {
		from := net.IPv4(127, 0, 0, byte(2+i/perAddr))
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", host)
		if err != nil {
			t.Fatalf("flood connection %d from %s: %v", i+1, from, err)
		}
		if head != "" {
			io.WriteString(c, head)
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
	}
}

// close closes every connection of the flood.
func (f *flood) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// served polls url with a normal client from 127.0.0.1, a fresh connection each time, until
// it answers want, for at most a minute, and fails t otherwise.
func served(t *testing.T, method, url, body string, want int) {
	t.Helper()
	servedWithin(t, time.Minute, method, url, body, want)
}

// servedWithin is served, polling for at most d.
func servedWithin(t *testing.T, d time.Duration, method, url, body string, want int) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %s after %v of tries, want %d", method, url, last, d, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counted polls url's /metrics, for at most a minute, until the counter named (with its
// labels, as /metrics writes them) is above zero.
func counted(t *testing.T, url, counter string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequest("GET", url+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+floodMetricsToken)
		var b []byte
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, counter+" "); ok {
				if n, _ := strconv.ParseFloat(v, 64); n > 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/metrics has no %s above 0 after a minute", url, counter)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits until the process has logged want, for at most a minute.
func waitLog(t *testing.T, p *reelayProc, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.stderr.String(), want) {
		p.alive(t, "while waiting for its log "+strconv.Quote(want))
		if time.Now().After(deadline) {
			t.Fatalf("reelay up has not logged %q after a minute", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionFlood opens more idle connections to the edge of `reelay up` than the process
// has file descriptors (it runs with a limit of floodFiles). Before the fix, the edge's accept
// failed with EMFILE, fasthttp took that as permanent, and the process stopped every tier.
func TestConnectionFlood(t *testing.T) {
	waitingTest(t)
	// With the caps fitted to the open files limit (64 connections per listener, 6 per
	// client), the flood's connections past its client's cap are closed at once: the
	// process never runs out of descriptors, and a normal client is served throughout.
	t.Run("Capped", func(t *testing.T) {
		p, urls := startUpProc(t, floodFiles)
		waitLog(t, p, "limit="+strconv.Itoa(floodFiles))
		var f flood
		defer f.close()
		f.open(t, urls["edge"], 300, 300, "")
		waitLog(t, p, "connection refused: too many open")
		served(t, "GET", urls["edge"]+"/healthz", "", 200)
		served(t, "GET", urls["api"]+"/healthz", "", 200)
		served(t, "POST", urls["api"]+"/v1/users", `{"handle":"ann","password":"correct horse"}`, 201)
		counted(t, urls["edge"], `reelay_listener_refused_connections_total{listener="edge",reason="client"}`)
		p.alive(t, "during the flood")
		f.close()
		served(t, "GET", urls["edge"]+"/healthz", "", 200)
		p.alive(t, "after the flood")
	})

	// A flood from many addresses, each within its client's cap, fills the listener's cap
	// with connections that send nothing, and keeps opening more: each new one, the normal
	// client's included, takes the place of the oldest silent one, so the normal client is
	// served long before the header timeout (30 s here) would have cut the flood's.
	t.Run("ManyClients", func(t *testing.T) {
		p, urls := startUpProc(t, floodFiles, "--header-timeout", "30s")
		waitLog(t, p, "limit="+strconv.Itoa(floodFiles))
		var f flood
		defer f.close()
		f.open(t, urls["edge"], 200, 5, "")
		servedWithin(t, 15*time.Second, "GET", urls["edge"]+"/healthz", "", 200)
		counted(t, urls["edge"], `reelay_listener_refused_connections_total{listener="edge",reason="silent"}`)
		p.alive(t, "during the flood")
	})

	// With the caps lifted past the limit, as an operator may set them, the flood does
	// exhaust the descriptors: accept fails with EMFILE, which the listeners ride out; the
	// header timeout closes the flood's idle connections, the next ones are accepted, and a
	// normal client waiting in the backlog among them is served in its turn.
	t.Run("OutOfFiles", func(t *testing.T) {
		p, urls := startUpProc(t, floodFiles, "--max-conns", "-1", "--max-conns-per-client", "-1", "--header-timeout", "2s")
		waitLog(t, p, "limit="+strconv.Itoa(floodFiles))
		var f flood
		defer f.close()
		f.open(t, urls["edge"], 300, 300, "")
		waitLog(t, p, "too many open files")
		served(t, "GET", urls["edge"]+"/healthz", "", 200)
		served(t, "GET", urls["api"]+"/healthz", "", 200)
		counted(t, urls["edge"], `reelay_listener_accept_errors_total{listener="edge"}`)
		p.alive(t, "during the flood")
		f.close()
		served(t, "POST", urls["api"]+"/v1/users", `{"handle":"ann","password":"correct horse"}`, 201)
		p.alive(t, "after the flood")
	})
}

// TestSlowBodyFlood sends the API of `reelay up` (with an open files limit of floodFiles)
// more requests than it has descriptors, each with a body that stops after its first byte.
// Before the fix, each held its connection for minutes (only the header had a timeout) and
// the API could accept no one else. Now the clients' caps bound what they hold, each stalled
// body is cut after --body-timeout, and a normal client is served throughout.
func TestSlowBodyFlood(t *testing.T) {
	waitingTest(t)
	p, urls := startUpProc(t, floodFiles, "--body-timeout", "1s")
	const head = "POST /v1/users HTTP/1.1\r\nHost: reelay\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	var f flood
	defer f.close()
	f.open(t, urls["api"], 300, 75, head) // from 4 addresses
	served(t, "POST", urls["api"]+"/v1/users", `{"handle":"ann","password":"correct horse"}`, 201)
	served(t, "GET", urls["edge"]+"/healthz", "", 200)
	counted(t, urls["api"], `reelay_listener_refused_connections_total{listener="api",reason="client"}`)
	p.alive(t, "during the flood")

	// Every flood connection is closed by the server: at once past its client's cap, or
	// after the body timeout, answered.
	answered := 0
	f.mu.Lock()
	for i, c := range f.conns {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		b, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("flood connection %d still open after a minute (body timeout 1s); read %q", i+1, b)
		}
		if strings.HasPrefix(string(b), "HTTP/1.1 ") {
			answered++
		}
	}
	f.mu.Unlock()
	if answered == 0 {
		t.Error("no flood connection was answered: none was admitted, or the body timeout closed them unanswered")
	}
	f.close()
	served(t, "GET", urls["api"]+"/healthz", "", 200)
	p.alive(t, "after the flood")
}

// TestBigUploadOutlastsBodyTimeout uploads 1 GiB in one tus PATCH to `reelay up` with a body
// timeout of one second, the client pausing for several of them halfway: the PATCH sets its
// own per-read deadline (ingest's ChunkIdleTimeout, 30 s), which the server's BodyTimeout
// leaves alone, and however long the body takes, it arrives whole.
func TestBigUploadOutlastsBodyTimeout(t *testing.T) {
	waitingTest(t)
	const size, bodyTimeout = 1 << 30, time.Second
	urls, _ := startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edges", "0", "--body-timeout", bodyTimeout.String())
	api := urls["api"]
	postJSON(t, api+"/v1/users", "", `{"handle":"ann","password":"correct horse"}`, 201)
	token := jsonField(postJSON(t, api+"/v1/sessions", "", `{"handle":"ann","password":"correct horse"}`, 201), "token")

	// One byte more is declared than sent: the upload stays unfinished, without a probe.
	req, _ := http.NewRequest("POST", api+"/v1/uploads/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(size+1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %d, Location %v", resp.StatusCode, err)
	}

	body := &pausingReader{left: size, pauseAt: size / 2, pause: 3 * bodyTimeout}
	req, _ = http.NewRequest("PATCH", loc.String(), body)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	start := time.Now()
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PATCH of 1 GiB: %v after %v", err, time.Since(start))
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != strconv.Itoa(size) {
		t.Fatalf("PATCH of 1 GiB: %d, Upload-Offset %q; want 204 and %d", resp.StatusCode, resp.Header.Get("Upload-Offset"), size)
	}
	t.Logf("1 GiB in %v", time.Since(start).Round(time.Millisecond))
}

// pausingReader yields left zero bytes, pausing once when pauseAt of them are left, as a
// client on a network that stalls for a while.
type pausingReader struct {
	left, pauseAt int64
	pause         time.Duration
	paused        bool
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if !r.paused && r.left <= r.pauseAt {
		r.paused = true
		time.Sleep(r.pause)
	}
	n := int(min(int64(len(p)), r.left))
	clear(p[:n])
	r.left -= int64(n)
	return n, nil
}

func TestListenerLimitsFitOpenFiles(t *testing.T) {
	for _, tc := range []struct {
		name                string
		maxConns, perClient int
		files               uint64
		listeners           int
		want, wantPerClient int
	}{
		{"a high limit", 0, 0, 1 << 20, 3, 10000, 1000},
		{"this machine's", 0, 0, 20000, 3, 5000, 500},
		{"Debian's soft default", 0, 0, 1024, 3, 256, 25},
		{"a tiny limit", 0, 0, 16, 18, 1, 1},
		{"unknown", 0, 0, 0, 3, 10000, 1000},
		{"set by the operator", 50000, 0, 1024, 3, 50000, 5000},
		{"no cap", -1, 0, 1024, 3, -1, 1000},
		{"no client cap", 0, -1, 1 << 20, 1, 10000, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := listening{maxConns: tc.maxConns, maxConnsPerClient: tc.perClient}
			got := l.limits(tc.files, tc.listeners)
			if got.MaxConns != tc.want || got.MaxConnsPerClient != tc.wantPerClient {
				t.Errorf("limits(%d files, %d listeners) = %d per listener, %d per client; want %d and %d",
					tc.files, tc.listeners, got.MaxConns, got.MaxConnsPerClient, tc.want, tc.wantPerClient)
			}
		})
	}
}

func TestBadListenerFlagsExit2(t *testing.T) {
	for _, cmd := range []string{"up", "api", "edge", "origin", "feed", "ingest"} {
		for _, flag := range []string{"--header-timeout", "--body-timeout", "--write-timeout", "--idle-timeout"} {
			var stderr strings.Builder
			code := run(t.Context(), []string{cmd, flag, "0s"}, &env{stdout: io.Discard, stderr: &stderr, getenv: envOf(nil)})
			if code != 2 || !strings.Contains(stderr.String(), "invalid "+flag) {
				t.Errorf("reelay %s %s 0s: exit %d, %q", cmd, flag, code, stderr.String())
			}
		}
	}
}
