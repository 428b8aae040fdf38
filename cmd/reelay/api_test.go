package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// apiNode is one `reelay api` process of TestAPINodesShareUploads.
type apiNode struct {
	*reelayProc
	dir string // its --upload-dir
}

// startAPINodes starts n `reelay api` processes on one PostgreSQL and one MinIO, as the
// README's "Scaling out" runs them, each with its --node-url; the first creates the schema.
func startAPINodes(t *testing.T, n int, playback string) []apiNode {
	testenv.RequireCommand(t, "ffprobe")
	dsn := testenv.Postgres(t)
	minio := testenv.MinIO(t)
	t.Setenv("REELAY_S3_ACCESS_KEY", minio.AccessKey)
	t.Setenv("REELAY_S3_SECRET_KEY", minio.SecretKey)
	store := "s3://" + minio.Bucket(t) + "/reelay?endpoint=http://" + minio.Endpoint
	var nodes []apiNode
	for i := range n {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		dir := t.TempDir()
		p := startProc(t, t, fmt.Sprintf("api-%d", i+1), "api", "--addr", addr, "--node-url", "http://"+addr,
			"--db", dsn, "--store", store, "--upload-dir", dir, "--playback-url", playback)
		nodes = append(nodes, apiNode{p, dir})
	}
	return nodes
}

// tusDo sends one tus request and returns the answer, its body read.
func tusDo(t *testing.T, method, url, token string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestAPINodesShareUploads: two `reelay api` nodes behind what a plain round-robin balancer
// does. A tus upload created on one node takes its chunks on both, alternately; the node
// that did not create it passes them to the one that did (--node-url), whose staging
// directory alone ever holds the bytes; the finished upload becomes a video that either node
// reports. When the staging node is gone, the other answers 502 for its uploads, which tus
// clients retry, and serves the rest of /v1 on its own.
func TestAPINodesShareUploads(t *testing.T) {
	nodes := startAPINodes(t, 2, "http://127.0.0.1:9/")
	a, b := nodes[0], nodes[1]

	postJSON(t, a.url+"/v1/users", "", `{"handle":"creator","password":"correct horse"}`, 201)
	var session struct{ Token string }
	json.Unmarshal(postJSON(t, b.url+"/v1/sessions", "", `{"handle":"creator","password":"correct horse"}`, 201), &session)

	clip, err := os.ReadFile(makeTestClip(t, "160x284", "1"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := tusDo(t, "POST", b.url+"/v1/uploads/", session.Token,
		map[string]string{"Upload-Length": strconv.Itoa(len(clip)), "Upload-Metadata": "filename Y2xpcC5tcDQ="}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create on %s: %s %s", b.name, resp.Status, body)
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	path := "/v1/uploads/" + id

	// Chunks alternate between the nodes, starting with the one that did not create it; a
	// HEAD on each in between.
	chunk := (len(clip) + 4) / 5
	for i, off := 0, 0; off < len(clip); i++ {
		n := nodes[i%2]
		end := min(off+chunk, len(clip))
		resp, body := tusDo(t, "PATCH", n.url+path, session.Token,
			map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.Itoa(off)}, clip[off:end])
		if resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != strconv.Itoa(end) {
			t.Fatalf("PATCH %d-%d on %s: %s %s (Upload-Offset %q)", off, end, n.name, resp.Status, body, resp.Header.Get("Upload-Offset"))
		}
		if vs := resp.Header.Values("Tus-Resumable"); len(vs) != 1 {
			t.Errorf("PATCH on %s: Tus-Resumable %q, want one", n.name, vs)
		}
		off = end
		other := nodes[(i+1)%2]
		if resp, body := tusDo(t, "HEAD", other.url+path, session.Token, nil, nil); resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != strconv.Itoa(off) {
			t.Fatalf("HEAD on %s after %d bytes: %s %s (Upload-Offset %q)", other.name, off, resp.Status, body, resp.Header.Get("Upload-Offset"))
		}
		if _, err := os.Stat(filepath.Join(a.dir, id)); err == nil {
			t.Fatalf("%s, which did not create the upload, staged its bytes", a.name)
		}
	}

	// The finished upload is a video, which both nodes report, handed over to the store.
	for _, n := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := jsonField(getJSON(t, n.url+"/v1/videos/"+id, session.Token), "status")
			if st == "processing" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("video %s on %s: status %q, want processing (no worker runs)", id, n.name, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := os.Stat(filepath.Join(b.dir, id)); err == nil {
		// The hand-over deletes the staged file once the store has it; poll for it.
		waitGone(t, filepath.Join(b.dir, id))
	}

	// A second upload, staged on b; b dies; a answers 502 for it and still serves the feed.
	resp, body = tusDo(t, "POST", b.url+"/v1/uploads/", session.Token, map[string]string{"Upload-Length": "10"}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create on %s: %s %s", b.name, resp.Status, body)
	}
	loc = resp.Header.Get("Location")
	b.kill()
	resp, body = tusDo(t, "PATCH", a.url+"/v1/uploads/"+loc[strings.LastIndex(loc, "/")+1:], session.Token,
		map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}, []byte("0123456789"))
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "upload_node_unavailable") {
		t.Errorf("PATCH on %s of an upload staged on the dead %s: %s %s, want 502 upload_node_unavailable", a.name, b.name, resp.Status, body)
	}
	if st := jsonField(getJSON(t, a.url+"/v1/videos/"+id, session.Token), "status"); st != "processing" {
		t.Errorf("video on %s after %s died: %q", a.name, b.name, st)
	}
}

// waitGone polls until path does not exist, for at most 30 seconds.
func waitGone(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still there", path)
		}
	}
}

func TestAPIBadConfigExits2(t *testing.T) {
	base := []string{"api", "--db", "postgres://x@127.0.0.1:1/x", "--store", "/tmp/x", "--playback-url", "http://edge"}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no store":              {[]string{"api", "--db", "x.db", "--playback-url", "http://edge"}, "--store is required"},
		"no playback URL":       {[]string{"api", "--db", "x.db", "--store", "/tmp/x"}, "--playback-url is required"},
		"node URL with a path":  {append(base, "--node-url", "http://10.0.0.1:8080/v1?x"), "invalid --node-url"},
		"node URL not a URL":    {append(base, "--node-url", "10.0.0.1:8080"), "invalid --node-url"},
		"no unfinished uploads": {append(base, "--upload-quota-unfinished", "0"), "invalid --upload-quota-unfinished"},
		"bad prefetch edge":     {append(base, "--prefetch-edges", "edge:1"), "prefetch"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr strings.Builder
			if code := run(t.Context(), tc.args, &env{stdout: io.Discard, stderr: &stderr, getenv: envOf(nil)}); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}
