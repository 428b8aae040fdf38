package live

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerClosedWhileRowWritten stops the server while a session's row is being written
// (the database busy with another writer): the session's end must still reach its row, so
// that the stream is not listed as live once the server has stopped, nor left unhanded.
//
// The database is held longer than directoryTimeout, which bounds the session's end: were
// the end written on its own, it would give up before the row exists.
func TestServerClosedWhileRowWritten(t *testing.T) {
	testClip(t) // skips without ffmpeg, as the other sessions' tests
	d, _ := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "reelay.db"), 1)
	dir, err := NewDirectory(d, DirectoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, ts := newTestServer(t, Config{Directory: dir})

	held, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- d.Tx(t.Context(), func(*sql.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	p := newPublisher(t, false)
	posted := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+Path, strings.NewReader(p.Offer))
		req.Header.Set("Authorization", "Bearer token-alice")
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			posted <- 0
			return
		}
		resp.Body.Close()
		posted <- resp.StatusCode
	}()
	// Its offer is answered and its stream served: its row is being written, behind the
	// other writer.
	var stream string
	for deadline := time.Now().Add(10 * time.Second); stream == ""; time.Sleep(5 * time.Millisecond) { // polling, with a deadline
		srv.mu.Lock()
		if sess := srv.byCreator[users["token-alice"].UserID]; sess != nil && srv.streams.Live(sess.stream) {
			stream = sess.stream
		}
		srv.mu.Unlock()
		if stream == "" && time.Now().After(deadline) {
			t.Fatal("the session's stream was never served")
		}
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	// The server stops; the database stays busy beyond the end's own bound.
	select {
	case <-closed:
	case <-time.After(directoryTimeout + time.Second):
	}
	close(release)
	released = true
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	<-closed
	if code := <-posted; code != http.StatusServiceUnavailable {
		t.Errorf("POST answered %d while the server stopped, want 503", code)
	}

	var ended int64
	if err := d.SQL().QueryRowContext(t.Context(), `SELECT ended_at FROM live_streams WHERE id = $1`, stream).Scan(&ended); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	} else if err == nil && ended == 0 {
		t.Errorf("stream %s: its row is not ended after the server stopped", stream)
	}
	if got := streamIDs(t, dir); len(got) != 0 {
		t.Errorf("streams live after the server stopped: %v", got)
	}
}

// TestServerClosesSessionsTogether stops a server of two sessions while the database hangs:
// the sessions end together, each waiting out its own write of its end, rather than one after
// the other (with a hung database, a stop of MaxSessions sessions took MaxSessions times
// directoryTimeout).
func TestServerClosesSessionsTogether(t *testing.T) {
	testClip(t)
	d, _ := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "reelay.db"), 2)
	dir, err := NewDirectory(d, DirectoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, ts := newTestServer(t, Config{Directory: dir})
	var sessions []*session
	for _, token := range []string{"token-alice", "token-bob"} {
		p := newPublisher(t, false)
		if resp, body := whip(t, ts.URL+Path, token, "application/sdp", p.Offer); resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST as %s: %d %s", token, resp.StatusCode, body)
		}
		srv.mu.Lock()
		sessions = append(sessions, srv.byCreator[users[token].UserID])
		srv.mu.Unlock()
	}

	held, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- d.Tx(t.Context(), func(*sql.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	ending := func(sess *session) bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return sess.ended
	}
	for deadline := time.Now().Add(30 * time.Second); !ending(sessions[0]) || !ending(sessions[1]); time.Sleep(5 * time.Millisecond) { // polling, with a deadline
		if time.Now().After(deadline) {
			t.Fatal("the sessions did not begin to end")
		}
	}
	// Both are ending; neither is done, as the database still hangs.
	for i, sess := range sessions {
		select {
		case <-sess.done:
			t.Errorf("session %d was done before the other began to end: the sessions end one after the other", i)
		default:
		}
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	<-closed
}
