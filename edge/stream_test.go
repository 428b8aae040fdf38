package edge

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// readN reads exactly n bytes of r.
func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// checkStreams checks that a client of node (and one of joiner, when set) receives the first
// half of key, a big object, while the origin holds back the second, and then all of it, the
// origin having been asked once.
func checkStreams(t *testing.T, o *testOrigin, key, node, joiner string) {
	want := objectBody(key)
	gate := o.hold()
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release)

	first := send(t, "GET", node+key)
	if first.StatusCode != 200 || first.ContentLength != bigBody {
		t.Fatalf("status %d, length %d", first.StatusCode, first.ContentLength)
	}
	if got := readN(t, first.Body, bigBody/2); !bytes.Equal(got, want[:bigBody/2]) {
		t.Fatal("the first half differs")
	}
	if joiner != "" {
		// A request arriving meanwhile joins the fill: a range of what has arrived is
		// answered at once, and a whole GET streams too.
		resp, body := do(t, "GET", joiner+key, "Range", "bytes=100-199")
		if resp.StatusCode != 206 || body != string(want[100:200]) {
			t.Fatalf("range of the arrived half: %d %q", resp.StatusCode, body)
		}
		second := send(t, "GET", joiner+key)
		if got := readN(t, second.Body, 1000); !bytes.Equal(got, want[:1000]) {
			t.Fatal("the joiner's first bytes differ")
		}
		defer func() {
			rest, err := io.ReadAll(second.Body)
			if err != nil || !bytes.Equal(rest, want[1000:]) {
				t.Errorf("the joiner's rest: %d bytes, %v", len(rest), err)
			}
		}()
	}
	release()
	rest, err := io.ReadAll(first.Body)
	if err != nil || !bytes.Equal(rest, want[bigBody/2:]) {
		t.Fatalf("the second half: %d bytes, %v", len(rest), err)
	}
	resp, body := do(t, "GET", node+key)
	if body != string(want) || !strings.HasSuffix(resp.Header.Get("Cache-Status"), "; hit") {
		t.Errorf("after the fill: %d bytes, Cache-Status %q", len(body), resp.Header.Get("Cache-Status"))
	}
	if n := o.count(key); n != 1 {
		t.Errorf("origin fetched %s %d times", key, n)
	}
}

func TestStreamsWhileFilling(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	_, prefix := newVideo()
	checkStreams(t, o, prefix+"big/seg_00001.m4s", e.url, e.url)

	// HEAD of an object still arriving announces its length.
	_, prefix = newVideo()
	defer close(o.hold())
	first := send(t, "GET", e.url+prefix+"big/init.mp4")
	readN(t, first.Body, 1)
	resp, _ := do(t, "HEAD", e.url+prefix+"big/init.mp4")
	if resp.StatusCode != 200 || resp.ContentLength != bigBody {
		t.Errorf("HEAD while filling: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestStreamsThroughTheOwner(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 2, o.URL)
	// A key the second node owns, for the first node to fill through it.
	_, key := ownedKey(nodes[0], nodes[1], "big/seg_00001.m4s")
	checkStreams(t, o, key, nodes[0].url, nodes[1].url)
	if s := nodes[0].Stats(); s.PeerFills == 0 {
		t.Errorf("the fill did not go through the owner: %+v", s)
	}
}

func TestStreamCutShort(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	_, prefix := newVideo()
	key := prefix + "big/seg_00001.m4s"
	o.cut.Store(true)
	resp := send(t, "GET", e.url+key)
	got, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) >= bigBody {
		t.Fatalf("a fill cut short gave the client %d bytes and %v, want a short body", len(got), err)
	}
	// Nothing was kept: the next request fetches again, whole.
	o.cut.Store(false)
	resp2, body := do(t, "GET", e.url+key)
	if resp2.StatusCode != 200 || body != string(objectBody(key)) || !strings.Contains(resp2.Header.Get("Cache-Status"), "fwd=uri-miss") {
		t.Errorf("after the cut: %d, %d bytes, Cache-Status %q", resp2.StatusCode, len(body), resp2.Header.Get("Cache-Status"))
	}
	if n := o.count(key); n != 2 {
		t.Errorf("origin fetched %s %d times, want 2", key, n)
	}
}

func TestObjectTooLarge(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, MaxObjectBytes: bigBody - 1})
	_, prefix := newVideo()
	resp, body := do(t, "GET", e.url+prefix+"big/seg_00001.m4s")
	if resp.StatusCode != 502 || !strings.Contains(body, "object_too_large") {
		t.Errorf("an object over MaxObjectBytes: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", e.url+prefix+"360p/seg_00001.m4s"); resp.StatusCode != 200 {
		t.Errorf("a small object: %d", resp.StatusCode)
	}
}
