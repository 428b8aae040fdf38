package main

import (
	"bytes"
	"context"
	"image"
	pngenc "image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// TestUpDeleteVideo deletes a ready video through reelay up's API once the edge has cached it:
// the edge then answers 404 for its playlist and its poster (cached for a year before the
// purge), and the store holds nothing of it.
func TestUpDeleteVideo(t *testing.T) {
	waitingTest(t)
	testenv.RequireCommand(t, "ffmpeg")
	data := t.TempDir()
	urls, _ := startUp(t, "--data", data, "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	api, edge := urls["api"], urls["edge"]
	token := createCreator(t, api)

	// The feed has the store: avatars are kept in it and served.
	var png bytes.Buffer
	if err := pngenc.Encode(&png, image.NewGray(image.Rect(0, 0, 40, 30))); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", api+"/v1/me/avatar", &png)
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Authorization", "Bearer "+token)
	avatar := jsonField(doJSON(t, req, 200), "avatar_url")
	if resp, err := http.Get(api + avatar); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET %s: %v %v", avatar, resp, err)
	} else {
		resp.Body.Close()
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	playback := uploadClip(t, ctx, api, token, "public", makeTestClip(t, "360x640", "2"))
	if !strings.HasPrefix(playback, edge+"/v/") {
		t.Fatalf("playback URL %q is not on the edge %s", playback, edge)
	}
	id := strings.Split(strings.TrimPrefix(playback, edge+"/v/"), "/")[0]
	poster := jsonField(getJSON(t, api+"/v1/videos/"+id, token), "poster_url")

	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, url := range []string{playback, poster, playback, poster} { // the second time from the edge's cache
		if code := status(url); code != 200 {
			t.Fatalf("GET %s: %d before the deletion", url, code)
		}
	}

	other := createUser(t, api, "other")
	for _, tc := range []struct {
		token string
		want  int
	}{{other, 403}, {"", 401}, {token, 204}, {token, 404}} {
		req, _ := http.NewRequest("DELETE", api+"/v1/videos/"+id, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		doJSON(t, req, tc.want)
	}

	for _, url := range []string{playback, poster} {
		if code := status(url); code != 404 {
			t.Errorf("GET %s: %d after the deletion, want 404", url, code)
		}
	}
	req, _ = http.NewRequest("GET", api+"/v1/videos/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	doJSON(t, req, 404)
	filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(path, id) && !strings.Contains(path, string(filepath.Separator)+"edge-") {
			t.Errorf("%s is left", path)
		}
		return nil
	})
}

// createUser registers handle on the API at api and returns a session token.
func createUser(t *testing.T, api, handle string) string {
	t.Helper()
	postJSON(t, api+"/v1/users", "", `{"handle":"`+handle+`","password":"correct horse"}`, 201)
	return jsonField(postJSON(t, api+"/v1/sessions", "", `{"handle":"`+handle+`","password":"correct horse"}`, 201), "token")
}
