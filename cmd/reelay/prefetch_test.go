package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// TestUpPrefetchesNextSwipe runs reelay up with two edges and no --admin-token: after a
// viewer's play of their For You page's first video, the second video's first segment is a
// hit on the edge of the playback URL, as hls.js would fetch it.
func TestUpPrefetchesNextSwipe(t *testing.T) {
	waitingTest(t)
	testenv.RequireCommand(t, "ffmpeg")
	urls, _ := startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--edges", "2", "--metrics-token", floodMetricsToken)
	api, asked := urls["api"], urls["edge-1"]
	creator := createCreator(t, api)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	clip := makeTestClip(t, "180x320", "1")
	for range 3 {
		uploadClip(t, ctx, api, creator, "public", clip)
	}
	var page struct {
		Items []struct {
			ID          string `json:"id"`
			PlaybackURL string `json:"playback_url"`
		}
	}
	// The recommender reads the catalogue every few seconds: the new videos come in then. A
	// visitor waits for them (visitors get no hints), so that the viewer is served one page of
	// all three: pages of one or two, as the videos came in one by one, would spend the
	// viewer's hints on other positions.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		err := json.Unmarshal(getJSON(t, api+"/v1/feed/foryou", ""), &page)
		if err == nil && len(page.Items) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("For You: %+v %v, want 3 videos", page, err)
		}
	}
	viewer := createUser(t, api, "viewer")
	if err := json.Unmarshal(getJSON(t, api+"/v1/feed/foryou", viewer), &page); err != nil || len(page.Items) != 3 {
		t.Fatalf("the viewer's For You: %+v %v, want the 3 videos", page, err)
	}
	postJSON(t, api+"/v1/events", viewer, fmt.Sprintf(`{"events":[{"video":%q,"type":"play","position":0,"at":%q}]}`,
		page.Items[0].ID, time.Now().UTC().Format(time.RFC3339)), 202)
	// The page's first two videos were hinted as it was served, the third once the first played.
	waitMetric(t, api, `reelay_prefetch_hints_total{result="sent"}`, 3)

	next := page.Items[1].PlaybackURL
	if !strings.HasPrefix(next, asked+"/v/") {
		t.Fatalf("playback URL %s is not on %s", next, asked)
	}
	// As hls.js starts the video: the master playlist, the first variant's media playlist and
	// the audio rendition's, then of each the init segment and the first segment.
	dir := func(u string) string { return u[:strings.LastIndex(u, "/")+1] }
	_, master := get(t, next)
	var audio, variant string
	for _, uri := range playlistURIs(master) {
		switch {
		case strings.HasSuffix(uri, "/audio/index.m3u8"):
			audio = uri
		case variant == "" && strings.HasSuffix(uri, "/index.m3u8"):
			variant = uri
		}
	}
	if audio == "" || variant == "" {
		t.Fatalf("master playlist without a variant or audio:\n%s", master)
	}
	playlists := []string{dir(next) + variant, dir(next) + audio}
	for _, media := range playlists {
		code, playlist := get(t, media)
		uris := playlistURIs(playlist) // the init segment, then the segments
		if code != 200 || len(uris) < 2 {
			t.Fatalf("GET %s: %d\n%s", media, code, playlist)
		}
		get(t, dir(media)+uris[0])
		resp, err := http.Get(dir(media) + uris[1])
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if cs := resp.Header.Get("Cache-Status"); resp.StatusCode != 200 || !strings.HasPrefix(cs, "edge-1; hit") {
			t.Errorf("%s: %d, Cache-Status %q; want 200, a hit on edge-1", resp.Request.URL.Path, resp.StatusCode, cs)
		}
	}
}

// waitMetric polls url's /metrics, for at most a minute, until the metric named (with its
// labels, as /metrics writes them) is at least want.
func waitMetric(t *testing.T, url, metric string, want float64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for {
		req, _ := http.NewRequest("GET", url+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+floodMetricsToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, metric+" "); ok {
					last = v
					if n, _ := strconv.ParseFloat(v, 64); n >= want {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/metrics: %s is %q after a minute, want %v", url, metric, last, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
