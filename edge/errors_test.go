package edge

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// statusOrigin answers every object with status, after headers and part of a body when
// stall is set, which then never comes.
func statusOrigin(t *testing.T, status int, stall bool) string {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stall {
			w.Header().Set("Content-Length", "1000")
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			w.WriteHeader(status)
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			select {
			case <-done:
			case <-r.Context().Done():
			}
			return
		}
		http.Error(w, http.StatusText(status), status)
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv.URL
}

// TestErrorMapping checks the answer to each way a fill fails, against real upstreams: slow,
// unreachable, failing, or serving what the edge refuses.
func TestErrorMapping(t *testing.T) {
	held := newHeldOrigin(t) // never released before the test ends: slower than any timeout
	unreachable := "http://" + freeAddr(t)
	const timeout = 300 * time.Millisecond
	_, prefix := newVideo()
	seg := prefix + "360p/seg_00001.m4s"
	for _, tc := range []struct {
		name   string
		cfg    Config
		path   string
		status int
		code   string
	}{
		{"origin times out", Config{Origin: held.URL}, seg, 504, "gateway_timeout"},
		{"origin sends half a body, then nothing", Config{Origin: statusOrigin(t, 200, true)}, seg, 504, "gateway_timeout"},
		{"origin unreachable", Config{Origin: unreachable}, seg, 502, "bad_gateway"},
		{"origin answers 504", Config{Origin: statusOrigin(t, 504, false)}, seg, 504, "gateway_timeout"},
		{"origin answers 503", Config{Origin: statusOrigin(t, 503, false)}, seg, 502, "bad_gateway"},
		{"origin answers 500", Config{Origin: statusOrigin(t, 500, false)}, seg, 502, "bad_gateway"},
		{"origin answers 404", Config{Origin: newTestOrigin(t).URL}, prefix + "360p/seg_99999.m4s", 404, "not_found"},
		{"path that names nothing", Config{Origin: held.URL}, prefix + "360p/nothing.txt", 404, "not_found"},
		{"too large, announced", Config{Origin: newTestOrigin(t).URL, MaxObjectBytes: bigBody - 1}, prefix + "big/seg_00001.m4s", 502, "object_too_large"},
		{"too large, read whole", Config{Origin: newTestOrigin(t).URL, MaxObjectBytes: 999}, seg, 502, "object_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.FetchTimeout = timeout
			e := startEdge(t, tc.cfg)
			resp, body := do(t, "GET", e.url+tc.path)
			checkError(t, resp, body, tc.status, tc.code)
		})
	}
}

// checkError fails t unless resp is status with the API error code in body, not to be cached.
func checkError(t *testing.T, resp *http.Response, body string, status int, code string) {
	t.Helper()
	var apiErr struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &apiErr); err != nil || resp.StatusCode != status || apiErr.Error.Code != code {
		t.Fatalf("%d %s, want %d %s", resp.StatusCode, strings.TrimSpace(body), status, code)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on an error", cc)
	}
}

// TestErrorMappingThroughPeer checks the answer when the owner and then the origin fail: a
// non-owner asks the owner, which times out on the origin and answers 504, then the origin
// itself, which times out again.
func TestErrorMappingThroughPeer(t *testing.T) {
	held := newHeldOrigin(t)
	nodes := startClusterWith(t, 2, Config{Origin: held.URL, FetchTimeout: 300 * time.Millisecond})
	_, key := ownedKey(nodes[0], nodes[1], "360p/seg_00001.m4s")
	resp, body := do(t, "GET", nodes[0].url+key)
	checkError(t, resp, body, 504, "gateway_timeout")
	if s := nodes[0].Stats(); s.PeerErrors != 1 || s.OriginFetches != 1 {
		t.Errorf("peer errors %d, origin fetches %d; want 1 and 1", s.PeerErrors, s.OriginFetches)
	}
	held.mu.Lock()
	defer held.mu.Unlock()
	if n := held.fetches[key]; n != 2 {
		t.Errorf("the origin was asked %d times, want 2: by the owner, then by the node", n)
	}
}

// TestClientGoneGetsNothing sends a request and closes its end of the connection while the
// edge waits on upstream: the edge writes nothing, neither the object nor the error, and
// still keeps what it filled. A client that stays gets its answer.
func TestClientGoneGetsNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout bool // the fill fails: the origin does not answer in time
	}{
		{"fill fails", true},
		{"fill succeeds", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newHeldOrigin(t)
			cfg := Config{Origin: o.URL, FetchTimeout: 10 * time.Second}
			if tc.timeout {
				cfg.FetchTimeout = 300 * time.Millisecond
			}
			e := startEdge(t, cfg)
			_, prefix := newVideo()
			gone := rawGet(t, e, prefix+"360p/seg_00001.m4s")
			stays := rawGet(t, e, prefix+"360p/seg_00002.m4s")
			gone.(*net.TCPConn).CloseWrite() // the client is done: it reads, but sends no more
			waitFor(t, 10*time.Second, "both fills to reach the origin", func() bool {
				_, n := o.snapshot()
				return n == 2
			})
			if !tc.timeout {
				o.releaseAll()
			}
			gone.SetReadDeadline(time.Now().Add(20 * time.Second))
			if b, err := io.ReadAll(gone); err != nil || len(b) != 0 {
				t.Errorf("the client that went away got %q, %v; want nothing and the end of the stream", b, err)
			}
			stays.SetReadDeadline(time.Now().Add(20 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(stays), nil)
			if err != nil {
				t.Fatalf("the client that stayed: %v", err)
			}
			resp.Body.Close()
			if want := map[bool]int{true: 504, false: 200}[tc.timeout]; resp.StatusCode != want {
				t.Errorf("the client that stayed: %d, want %d", resp.StatusCode, want)
			}
			if s := e.Stats(); s.ClientGone != 1 {
				t.Errorf("ClientGone = %d, want 1", s.ClientGone)
			}
			if _, ok := e.mem.Get(prefix + "360p/seg_00001.m4s"); ok == tc.timeout {
				t.Errorf("cached after the client went away: %v, want %v", ok, !tc.timeout)
			}
		})
	}
}

// rawGet sends a GET of path to e on a connection of its own, and returns the connection.
func rawGet(t *testing.T, e *testEdge, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: edge\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}
