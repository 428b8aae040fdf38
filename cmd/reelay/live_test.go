package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/reelay/reelay/live/livetest"
)

// liveGet GETs url and returns the status, the Cache-Status and the body.
func liveGet(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Cache-Status"), b
}

func liveMedia(t *testing.T, b []byte) *playlist.Media {
	t.Helper()
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		t.Fatalf("not a media playlist:\n%s", b)
	}
	return m
}

var liveLinkRE = regexp.MustCompile(`^<([^>]+)>; rel="alternate"; type="application/vnd\.apple\.mpegurl"$`)

// TestUpLive publishes over WHIP to `reelay up` and plays the stream through its edge: the Link
// names the edge, the edge serves the LL-HLS from the origin, and players blocked on the same
// next part share one origin request.
func TestUpLive(t *testing.T) {
	c := livetest.TestClip(t)
	urls, _ := startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	api, edgeURL := urls["api"], urls["edge"]
	postJSON(t, api+"/v1/users", "", `{"handle":"streamer","password":"correct horse"}`, 201)
	var session struct{ Token string }
	json.Unmarshal(postJSON(t, api+"/v1/sessions", "", `{"handle":"streamer","password":"correct horse"}`, 201), &session)

	p := livetest.NewPublisher(t, true)
	resp, body := livetest.WHIP(t, api+"/v1/live/whip", session.Token, "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", resp.StatusCode, body)
	}
	m := liveLinkRE.FindStringSubmatch(resp.Header.Get("Link"))
	if m == nil || !strings.HasPrefix(m[1], edgeURL+"/v/live/") {
		t.Fatalf("Link %q, want the edge %s", resp.Header.Get("Link"), edgeURL)
	}
	masterURL := m[1]
	base := strings.TrimSuffix(masterURL, "index.m3u8")
	p.Answer(t, body)
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() { p.Send(c, stop); close(sent) }()
	defer func() { close(stop); <-sent }()

	code, _, master := liveGet(t, masterURL)
	if code != http.StatusOK || !strings.Contains(string(master), "#EXT-X-STREAM-INF") {
		t.Fatalf("master through the edge: %d\n%s", code, master)
	}
	mv, _ := playlist.Unmarshal(master)
	mediaURL := base + mv.(*playlist.Multivariant).Variants[0].URI

	// Through the edge until a whole segment is there, by blocking reloads.
	code, _, raw := liveGet(t, mediaURL)
	if code != http.StatusOK {
		t.Fatalf("media playlist: %d %s", code, raw)
	}
	media := liveMedia(t, raw)
	deadline := time.Now().Add(30 * time.Second)
	for len(media.Segments) == 0 || media.Segments[len(media.Segments)-1].Gap {
		if time.Now().After(deadline) {
			t.Fatalf("no segment in time:\n%s", raw)
		}
		next := media.MediaSequence + len(media.Segments)
		code, _, raw = liveGet(t, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", mediaURL, next, len(media.Parts)))
		if code != http.StatusOK {
			t.Fatalf("blocking reload: %d %s", code, raw)
		}
		media = liveMedia(t, raw)
	}

	// 20 players block on the part after the next: one origin request answers them all.
	next := media.MediaSequence + len(media.Segments)
	want := fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", mediaURL, next, len(media.Parts)+1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, cs, b := liveGet(t, want)
			mu.Lock()
			defer mu.Unlock()
			if code != http.StatusOK {
				t.Errorf("blocked player: %d %s", code, b)
			}
			statuses[cs]++
		}()
	}
	wg.Wait()
	misses := 0
	for cs, n := range statuses {
		if strings.Contains(cs, "fwd=miss") && !strings.Contains(cs, "collapsed") {
			misses += n
		}
	}
	if misses != 1 {
		t.Errorf("Cache-Status of the 20 blocked players: %v; want one origin request", statuses)
	}

	// A part is fetched once, then a hit.
	part := base + media.Segments[len(media.Segments)-1].Parts[0].URI
	if code, cs, b := liveGet(t, part); code != http.StatusOK || len(b) < 8 || string(b[4:8]) != "moof" || !strings.Contains(cs, "fwd=miss") {
		t.Errorf("part: %d %q", code, cs)
	}
	if code, cs, _ := liveGet(t, part); code != http.StatusOK || !strings.HasSuffix(cs, "; hit") {
		t.Errorf("part again: %d %q, want a hit", code, cs)
	}
	// The origin serves the stream too.
	if code, _, _ := liveGet(t, urls["origin"]+strings.TrimPrefix(masterURL, edgeURL)); code != http.StatusOK {
		t.Errorf("master from the origin: %d", code)
	}

	req, _ := http.NewRequest(http.MethodDelete, api+resp.Header.Get("Location"), nil)
	req.Header.Set("Authorization", "Bearer "+session.Token)
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if del.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", del.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, _, _ := liveGet(t, masterURL); code == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream still plays after DELETE")
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline: the edge keeps playlists 250 ms
	}
}
