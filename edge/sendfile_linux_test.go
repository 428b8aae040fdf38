package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

// memFiles counts this process's open memory files of bodies (cache.File).
func memFiles(t *testing.T) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, de := range des {
		if l, err := os.Readlink("/proc/self/fd/" + de.Name()); err == nil && strings.HasPrefix(l, "/memfd:reelay-body") {
			n++
		}
	}
	return n
}

// etagOf is the ETag that testOrigin gives body.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// TestSegmentHitsFromFile: a segment kept in a memory file is answered byte for byte, whole,
// by range, to HEAD and to a revalidation; evicted while a client is slow to take it, its file
// stays open until that response has ended, and is closed then.
func TestSegmentHitsFromFile(t *testing.T) {
	// Only references close files here, not the garbage collector (os.File's cleanup).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := memFiles(t)
	o := newTestOrigin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Origin: o.URL, Listener: smallSendBuffers{ln}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		testClient.CloseIdleConnections()
		cancel()
		<-done
	})
	_, prefix := newVideo()
	key := prefix + "big/seg_00001.m4s"
	want := objectBody(key)
	if _, body := do(t, "GET", e.URL()+key); body != string(want) { // the fill
		t.Fatalf("fill: %d bytes, want %d", len(body), len(want))
	}
	if ent, ok := e.mem.Get(key); !ok || ent.File == nil || ent.Body != nil {
		t.Fatalf("the segment is not cached in a memory file: %v", ok)
	}
	if n := memFiles(t); n != before+1 {
		t.Fatalf("%d memory files open, want %d", n, before+1)
	}

	for _, c := range []struct {
		name, method string
		header       []string
		status       int
		body         []byte
		length       string
	}{
		{"whole", "GET", nil, 200, want, fmt.Sprint(len(want))},
		{"range", "GET", []string{"Range", "bytes=1000-200999"}, 206, want[1000:201000], "200000"},
		{"small range", "GET", []string{"Range", "bytes=-100"}, 206, want[len(want)-100:], "100"},
		{"range to the end", "GET", []string{"Range", "bytes=70000-"}, 206, want[70000:], fmt.Sprint(len(want) - 70000)},
		{"head", "HEAD", nil, 200, nil, fmt.Sprint(len(want))},
		{"revalidation", "GET", []string{"If-None-Match", `"x", ` + etagOf(want)}, 304, nil, ""},
		{"unsatisfiable", "GET", []string{"Range", "bytes=99999999-"}, 416, nil, ""},
	} {
		resp, body := do(t, c.method, e.URL()+key, c.header...)
		if resp.StatusCode != c.status || body != string(c.body) {
			t.Errorf("%s: %d, %d bytes, want %d and %d bytes", c.name, resp.StatusCode, len(body), c.status, len(c.body))
		}
		if c.length != "" && resp.Header.Get("Content-Length") != c.length {
			t.Errorf("%s: Content-Length %q, want %s", c.name, resp.Header.Get("Content-Length"), c.length)
		}
	}

	// A client that asks for the segment, reads the start, and stops (see TestSegmentHitsInTurns).
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		if err == nil {
			err = serr
		}
		return err
	}}
	c, err := d.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", key)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1<<10), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stalled client: %v %v", resp, err)
	}
	start := make([]byte, 1<<10)
	if _, err := io.ReadFull(resp.Body, start); err != nil {
		t.Fatal(err)
	}

	// The video is purged while the response waits for its client: the file stays open.
	if n := e.mem.DeletePrefix(prefix); n != 1 {
		t.Fatalf("purged %d entries, want 1", n)
	}
	if n := memFiles(t); n != before+1 {
		t.Fatalf("%d memory files open while an evicted segment is being sent, want %d", n, before+1)
	}

	// The client reads on, gets every byte, and the file closes once the response has ended.
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(start, rest...); !bytes.Equal(got, want) {
		t.Fatalf("stalled client got %d bytes, want the %d of the segment", len(got), len(want))
	}
	waitFor(t, 10*time.Second, "the evicted segment's file to close", func() bool { return memFiles(t) == before })
}

// TestMemFileLimit: past Edge.memFiles entries, segments are cached as []byte, and served as
// well.
func TestMemFileLimit(t *testing.T) {
	o := newTestOrigin(t)
	e, err := New(Config{Origin: o.URL, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	e.memFiles = 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		testClient.CloseIdleConnections()
		cancel()
		<-done
	})
	_, prefix := newVideo()
	for i, inFile := range []bool{true, false} {
		key := fmt.Sprintf("%sbig/seg_%05d.m4s", prefix, i+1)
		want := string(objectBody(key))
		for range 2 { // the fill, then a hit
			if resp, body := do(t, "GET", e.URL()+key); resp.StatusCode != 200 || body != want {
				t.Fatalf("%s: %d, %d bytes, want 200 and %d", key, resp.StatusCode, len(body), len(want))
			}
		}
		if ent, ok := e.mem.Get(key); !ok || (ent.File != nil) != inFile || (ent.Body != nil) == inFile {
			t.Fatalf("%s: cached %v, in a file %v, want %v", key, ok, ent.File != nil, inFile)
		}
	}
}

// TestClosedFileNotServed: a request that finds a segment whose file is closed finds it again,
// and answers 503 instead of looping if the file stays closed (it cannot while cached, unless
// references are miscounted, as here on purpose).
func TestClosedFileNotServed(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	_, prefix := newVideo()
	key := prefix + "big/seg_00001.m4s"
	do(t, "GET", e.url+key) // the fill
	ent, ok := e.mem.Get(key)
	if !ok || ent.File == nil {
		t.Fatal("the segment is not cached in a memory file")
	}
	ent.File.Release() // one release too many: the file closes while cached
	if resp, _ := do(t, "GET", e.url+key); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	e.mem.Delete(key) // out of the cache, the next request fills it again
	if resp, body := do(t, "GET", e.url+key); resp.StatusCode != 200 || body != string(objectBody(key)) {
		t.Fatalf("after the delete: %d, %d bytes", resp.StatusCode, len(body))
	}
}
