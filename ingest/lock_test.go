package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// refs reports how many requests hold or wait for upload id's lock.
func (l *locks) refs(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[id]; e != nil {
		return e.refs
	}
	return 0
}

func TestLocks(t *testing.T) {
	var l locks
	unlock, err := l.lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.tryLock("a"); ok {
		t.Fatal("tryLock of a held lock succeeded")
	}
	other, ok := l.tryLock("b")
	if !ok {
		t.Fatal("tryLock of another upload failed")
	}
	other()

	// A waiter gives up when its context ends, and leaves nothing behind.
	ctx, cancel := context.WithCancel(t.Context())
	gaveUp := make(chan error)
	go func() {
		_, err := l.lock(ctx, "a")
		gaveUp <- err
	}()
	waitFor(t, "the waiter", func() bool { return l.refs("a") == 2 })
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter: err = %v, want context.Canceled", err)
	}

	// A waiter gets the lock when it is released.
	got := make(chan func())
	go func() {
		u, err := l.lock(t.Context(), "a")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	waitFor(t, "the second waiter", func() bool { return l.refs("a") == 2 })
	unlock()
	(<-got)()
	if n := len(l.m); n != 0 {
		t.Errorf("%d lock entries left", n)
	}
}

// TestConcurrentPatch sends a second PATCH while a first is streaming: the second waits, then
// finds the offset moved (409), and the upload is free for the next request at once.
func TestConcurrentPatch(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, e *env) {
		loc := e.create(e.alice, 8)
		id := idOf(loc)
		pr, pw := io.Pipe()
		first := make(chan response, 1)
		go func() {
			r, err := e.send("PATCH", loc, e.alice, pr, "Upload-Offset", "0")
			if err != nil {
				t.Error(err)
			}
			first <- r
		}()
		if _, err := pw.Write([]byte("ab")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first PATCH to hold the lock", func() bool { return e.h.locks.refs(id) == 1 })

		second := make(chan response, 1)
		go func() {
			r, err := e.send("PATCH", loc, e.alice, "ABCD", "Upload-Offset", "0")
			if err != nil {
				t.Error(err)
			}
			second <- r
		}()
		waitFor(t, "the second PATCH to wait", func() bool { return e.h.locks.refs(id) == 2 })
		pw.Write([]byte("cd"))
		pw.Close()

		if r := <-first; r.status != http.StatusNoContent || r.get("Upload-Offset") != "4" {
			t.Errorf("first PATCH: %d %q %s", r.status, r.get("Upload-Offset"), r.body)
		}
		if r := <-second; r.status != http.StatusConflict || r.errCode() != "offset_mismatch" {
			t.Errorf("second PATCH: %d %s", r.status, r.body)
		}
		if n := e.h.locks.refs(id); n != 0 {
			t.Errorf("%d requests still hold or wait for the lock", n)
		}
		e.patch(loc, e.alice, 4, []byte("efgh"))
		if got := e.handedOver(loc); got != bytesSHA256([]byte("abcdefgh")) {
			t.Error("the staged file is not the first PATCH's bytes then the third's")
		}
	})
}

// TestStalledClient checks that a client that stops sending mid-body loses the lock after
// ChunkIdleTimeout, keeps the bytes it sent, and that the upload then resumes.
func TestStalledClient(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{ChunkIdleTimeout: 300 * time.Millisecond})
	loc := e.create(e.alice, 10)
	id := idOf(loc)

	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 10\r\n\r\nabcd",
		Path, id, e.srv.Listener.Addr(), e.alice)
	waitFor(t, "the stalled PATCH to hold the lock", func() bool { return e.h.locks.refs(id) == 1 })

	// HEAD waits for the lock, which the stalled request gives up after the idle timeout,
	// having stored what it received.
	if got := e.offset(loc, e.alice); got != "4" {
		t.Fatalf("HEAD after the stall: offset %s, want 4", got)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the stalled client got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Upload-Offset") != "4" {
		t.Errorf("stalled PATCH: %d, Upload-Offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	e.patch(loc, e.alice, 4, []byte("efghij"))
	if got := e.handedOver(loc); got != bytesSHA256([]byte("abcdefghij")) {
		t.Errorf("handed over sha256 %q, want that of abcdefghij", got)
	}
	// The hand-over holds the lock until it has recorded the upload complete; then nobody does.
	waitFor(t, "nobody to hold or wait for the lock", func() bool { return e.h.locks.refs(id) == 0 })
}

// TestClientGoesAway checks that the bytes of a body that breaks off are kept.
func TestClientGoesAway(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{})
	loc := e.create(e.alice, 10)
	id := idOf(loc)
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 10\r\n\r\nabcdef",
		Path, id, e.alice)
	waitFor(t, "the PATCH to hold the lock", func() bool { return e.h.locks.refs(id) == 1 })
	conn.Close()
	if got := e.offset(loc, e.alice); got != "6" {
		t.Fatalf("HEAD after the client went away: offset %s, want 6", got)
	}
	e.patch(loc, e.alice, 6, []byte("ghij"))
}
