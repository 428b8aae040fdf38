package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// TestUpPrivateVideo uploads a private video through reelay up, with an edge and without
// (players then reach the origin): its creator gets signed playback URLs that FFmpeg plays, and
// the tier that serves them refuses the same URLs unsigned, signed for another video, or with a
// forged signature, and never calls the private objects public.
func TestUpPrivateVideo(t *testing.T) {
	waitingTest(t)
	testenv.RequireCommand(t, "ffmpeg")
	for _, edges := range []string{"1", "0"} {
		t.Run("edges="+edges, func(t *testing.T) { testUpPrivateVideo(t, edges) })
	}
}

func testUpPrivateVideo(t *testing.T, edges string) {
	data := t.TempDir()
	urls, _ := startUp(t, "--data", data, "--edges", edges, "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	api, player := urls["api"], urls["edge"]
	if edges == "0" {
		player = urls["origin"]
	}
	token := createCreator(t, api)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	playback := uploadClip(t, ctx, api, token, "private", makeTestClip(t, "360x640", "2"))
	if !strings.HasPrefix(playback, player+"/v/") || !strings.Contains(playback, "/master.m3u8?exp=") || !strings.Contains(playback, "&sig=") {
		t.Fatalf("playback URL %q is not a signed URL of %s", playback, player)
	}
	id := strings.Split(strings.TrimPrefix(playback, player+"/v/"), "/")[0]

	// The status API gives the creator the same, and nobody else anything.
	body := getJSON(t, api+"/v1/videos/"+id, token)
	poster := jsonField(body, "poster_url")
	if !strings.Contains(poster, "/poster.jpg?exp=") {
		t.Errorf("poster_url %q is not signed", poster)
	}
	poster, _, _ = strings.Cut(poster, "?")
	req, _ := http.NewRequest("GET", api+"/v1/videos/"+id, nil)
	doJSON(t, req, 404)
	if _, err := os.Stat(filepath.Join(data, "signing.key")); err != nil {
		t.Errorf("the generated signing key was not kept: %v", err)
	}

	play := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", playback, "-map", "0", "-f", "null", "-")
	if out, err := play.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("ffmpeg playing %s: %v\n%s", playback, err, out)
	}
	unsigned := playback[:strings.IndexByte(playback, '?')]
	query := playback[strings.IndexByte(playback, '?'):]
	for name, url := range map[string]string{
		"unsigned master":  unsigned,
		"unsigned segment": strings.TrimSuffix(poster, "poster.jpg") + "360p/init.mp4", // in the poster's generation
		"unsigned poster":  poster,
		"another video":    player + "/v/" + strings.Repeat("a", len(id)) + "/master.m3u8" + query,
		"forged signature": unsigned + "?exp=1&sig=garbage",
		"other expiry":     unsigned + "?exp=1&" + query[strings.Index(query, "sig="):],
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
	}
	// Signed, a segment is the player's, not any shared cache's.
	resp, err := http.Get(strings.TrimSuffix(poster, "poster.jpg") + "360p/init.mp4" + query)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || !strings.HasPrefix(cc, "private") || strings.Contains(cc, "public") {
		t.Errorf("signed segment: %d, Cache-Control %q", resp.StatusCode, cc)
	}
}

// createCreator registers a user on the API at api and returns a session token.
func createCreator(t *testing.T, api string) string {
	t.Helper()
	postJSON(t, api+"/v1/users", "", `{"handle":"creator","password":"correct horse"}`, 201)
	var session struct{ Token string }
	json.Unmarshal(postJSON(t, api+"/v1/sessions", "", `{"handle":"creator","password":"correct horse"}`, 201), &session)
	return session.Token
}

// uploadClip uploads clip with `reelay upload` and returns the playback URL it prints once the
// video is ready.
func uploadClip(t *testing.T, ctx context.Context, api, token, visibility, clip string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"upload", clip, "--api", api, "--token", token, "--visibility", visibility,
		"--state", filepath.Join(t.TempDir(), "state.json"), "--poll-interval", "100ms"},
		&env{stdout: &stdout, stderr: &stderr, getenv: envOf(nil)})
	if code != 0 {
		t.Fatalf("reelay upload: exit %d\n%s", code, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	return out[strings.LastIndex(out, "\n")+1:]
}
