package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// TestUpEndToEnd is a creator's and a player's view of `reelay up`: register and log in, upload
// a clip with tus-js-client in 256 KiB chunks while cutting the connection 10 times, wait until
// the video is ready, check the kept source byte for byte, and play the HLS with FFmpeg.
func TestUpEndToEnd(t *testing.T) {
	waitingTest(t)
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node is not installed: %v", err)
	}
	root, _ := filepath.Abs("../..")
	if _, err := os.Stat(filepath.Join(root, "node_modules", "tus-js-client")); err != nil {
		testenv.Require(t, "tus-js-client is not installed (npm ci): %v", err)
	}
	testenv.RequireCommand(t, "ffmpeg")
	data := t.TempDir()
	urls, _ := startUp(t, "--data", data, "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	api := urls["api"]

	clip := filepath.Join(t.TempDir(), "clip.mp4")
	// Noise makes the clip big for its length (about 5 MB, 20 chunks of 256 KiB): room for 10 cuts.
	gen := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=360x640:rate=30,noise=alls=30:allf=t+u",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
		"-c:v", "libx264", "-preset", "ultrafast", "-qp", "26", "-c:a", "aac", "-shortest", clip)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("making the clip: %v\n%s", err, out)
	}
	src, _ := os.ReadFile(clip)

	postJSON(t, api+"/v1/users", "", `{"handle":"creator","password":"correct horse"}`, 201)
	var session struct{ Token string }
	json.Unmarshal(postJSON(t, api+"/v1/sessions", "", `{"handle":"creator","password":"correct horse"}`, 201), &session)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "e2e", "tus", "upload.mjs"),
		"--aborts", "10", "--caption", "first #clip", api+"/v1/uploads/", clip)
	cmd.Env = append(os.Environ(), "REELAY_TOKEN="+session.Token)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("upload.mjs: %v\n%s", err, stderrOf(err))
	}
	id := filepath.Base(strings.TrimSpace(string(out)))

	var v struct {
		Status, PlaybackURL, PosterURL string
		Creator                        struct{ Handle string }
		Progress                       int
		Error                          *struct{ Code, Message string }
		Hashtags                       []string
		DurationMS                     int64 `json:"duration_ms"`
		Width, Height                  int
	}
	deadline := time.Now().Add(2 * time.Minute)
	for v.Status != "ready" {
		if time.Now().After(deadline) || v.Status == "failed" {
			t.Fatalf("video %s: %+v", id, v)
		}
		time.Sleep(100 * time.Millisecond)
		body := getJSON(t, api+"/v1/videos/"+id, session.Token)
		v.Error = nil
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		v.PlaybackURL = jsonField(body, "playback_url")
		v.PosterURL = jsonField(body, "poster_url")
	}
	if v.Creator.Handle != "creator" || len(v.Hashtags) != 1 || v.Hashtags[0] != "clip" || v.DurationMS < 2900 || v.Width != 360 || v.Height != 640 {
		t.Errorf("ready video: %+v", v)
	}
	if !strings.HasPrefix(v.PlaybackURL, urls["edge"]+"/v/"+id+"/") {
		t.Errorf("playback_url %q is not on the edge %s", v.PlaybackURL, urls["edge"])
	}

	kept, err := os.ReadFile(filepath.Join(data, "objects", "objects", "sources", id))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := sha256.Sum256(kept), sha256.Sum256(src); a != b {
		t.Errorf("kept source sha256 %s, uploaded %s", hex.EncodeToString(a[:]), hex.EncodeToString(b[:]))
	}
	play := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", v.PlaybackURL, "-map", "0", "-f", "null", "-")
	if out, err := play.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("ffmpeg playing %s: %v\n%s", v.PlaybackURL, err, out)
	}
	resp, err := http.Get(v.PosterURL)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("poster: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	// Everyone sees a ready public video, without a token. (That others do not see it before it
	// is ready is feed's TestVideoResource.)
	if body := getJSON(t, api+"/v1/videos/"+id, ""); jsonField(body, "status") != "ready" {
		t.Errorf("anonymous view of a ready public video: %s", body)
	}
}

func postJSON(t *testing.T, url, token, body string, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doJSON(t, req, want)
}

func getJSON(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doJSON(t, req, 200)
}

// doJSON does req, a request of the JSON API, and returns the body of its answer, which must
// have the status want; the exchange must agree with the OpenAPI document (checkOpenAPI).
func doJSON(t *testing.T, req *http.Request, want int) []byte {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	checkOpenAPI(t, req, resp, b)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", req.Method, req.URL, resp.StatusCode, b, want)
	}
	return b
}

func jsonField(body []byte, name string) string {
	var m map[string]any
	json.Unmarshal(body, &m)
	s, _ := m[name].(string)
	return s
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
