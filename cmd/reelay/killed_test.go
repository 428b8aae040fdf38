package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

// killedWorkers is `reelay up --workers 0` with its transcodes done by `reelay transcode
// --worker` processes, which the tests kill with SIGKILL mid-transcode.
type killedWorkers struct {
	urls  map[string]string
	data  string
	token string
	n     int
}

func newKilledWorkers(t *testing.T) *killedWorkers {
	data := t.TempDir()
	urls, _ := startUp(t, "--data", data, "--workers", "0", "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	return &killedWorkers{urls: urls, data: data, token: createCreator(t, urls["api"])}
}

// worker starts a transcode worker process on the same database and store.
func (k *killedWorkers) worker(t *testing.T) *reelayProc {
	k.n++
	name := "worker-" + strconv.Itoa(k.n)
	return startProc(t, t, name, "transcode", "--worker", "--name", name, "--db", filepath.Join(k.data, "reelay.db"),
		"--store", filepath.Join(k.data, "objects"), "--addr", "127.0.0.1:0", "--lease", "3s",
		"--scratch", t.TempDir(), "--ladder", "360p:600k,240p:300k")
}

// upload uploads clip without waiting for the transcode and returns the video's id.
func (k *killedWorkers) upload(t *testing.T, clip string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"upload", clip, "--api", k.urls["api"], "--token", k.token, "--no-wait",
		"--state", filepath.Join(t.TempDir(), "state.json")}, &env{stdout: &stdout, stderr: &stderr, getenv: envOf(nil)}); code != 0 {
		t.Fatalf("reelay upload: exit %d\n%s", code, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	return out[strings.LastIndex(out, "\n")+1:]
}

// status is the part of GET /v1/videos/{id} that these tests read.
type status struct {
	Status     string
	Playable   bool
	Error      *struct{ Code string }
	Renditions []struct{ Playlist string }
}

func (k *killedWorkers) status(t *testing.T, id string) status {
	t.Helper()
	var s status
	json.Unmarshal(getJSON(t, k.urls["api"]+"/v1/videos/"+id, k.token), &s)
	return s
}

// waitStatus polls the video's status until ok accepts it.
func (k *killedWorkers) waitStatus(t *testing.T, id string, ok func(status) bool) status {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		s := k.status(t, id)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %s: %+v", id, s)
		}
	}
}

// waitGeneration polls master.m3u8 at base (an origin or an edge) until it names a generation
// that not is not in seen, and returns it.
func waitGeneration(t *testing.T, base, id string, seen map[string]bool) string {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if code, body := get(t, base+layout.Path(id, layout.Master)); code == 200 {
			if uris := playlistURIs(body); len(uris) > 0 {
				if gen, _, _ := strings.Cut(uris[0], "/"); layout.ValidGeneration(gen) && !seen[gen] {
					return gen
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("master.m3u8 of %s at %s never named a new generation (seen %v)", id, base, seen)
		}
	}
}

// TestWorkerKilledMidTranscode kills the worker of a video once it is playable and a player has
// fetched its first segments through the edge; another worker makes the video. Every name the
// edge then serves for the video, every playlist and every segment they list, has the bytes the
// playlists describe: the second attempt wrote new names instead of new bytes under the names
// the edge had cached.
func TestWorkerKilledMidTranscode(t *testing.T) {
	busyTest(t)
	k := newKilledWorkers(t)
	edge, origin := k.urls["edge"], k.urls["origin"]
	id := k.upload(t, makeTestClip(t, "360x640", "40"))
	w1 := k.worker(t)
	first := waitGeneration(t, origin, id, nil)
	// A player starts: master, every playlist, init segments and the segments so far.
	before := fetchPresentation(t, edge, id)
	w1.kill()
	if s := k.status(t, id); s.Status != "processing" {
		t.Fatalf("video after its worker was killed: %+v", s)
	}

	k.worker(t)
	s := k.waitStatus(t, id, func(s status) bool { return s.Status != "processing" })
	if s.Status != "ready" || len(s.Renditions) == 0 {
		t.Fatalf("video after the second worker: %+v", s)
	}
	gen, _, _ := strings.Cut(s.Renditions[0].Playlist, "/")
	if gen == first || !layout.ValidGeneration(gen) {
		t.Fatalf("the second attempt published generation %q, the first %q", gen, first)
	}
	if got := waitGeneration(t, edge, id, map[string]bool{first: true}); got != gen {
		t.Fatalf("the edge's master.m3u8 names generation %s, the video %s", got, gen)
	}
	after := fetchPresentation(t, edge, id)
	// The edge's bytes are the store's (through the origin, which does not cache).
	for p, b := range after {
		if code, want := get(t, origin+p); code != 200 || !bytes.Equal(b, want) {
			t.Errorf("%s: the edge serves %d bytes, the origin %d (status %d)", p, len(b), len(want), code)
		}
	}
	// No name changed its bytes between the two attempts.
	shared := 0
	for p, b := range before {
		if a, ok := after[p]; ok && !strings.HasSuffix(p, ".m3u8") {
			shared++
			if !bytes.Equal(a, b) {
				t.Errorf("%s changed its bytes between the attempts", p)
			}
		}
	}
	if shared != 0 {
		t.Errorf("%d segment names of the killed attempt are in the final presentation", shared)
	}
	// The killed attempt's objects are gone from the store.
	k.wantObjects(t, id, func(name string) bool { return name == layout.Master || strings.HasPrefix(name, gen+"/") })
}

// TestWorkerKilledOnEveryAttempt kills the worker of a video on every attempt, each time after
// it has published the video progressively: the next worker fails the video and withdraws it.
func TestWorkerKilledOnEveryAttempt(t *testing.T) {
	waitingTest(t)
	k := newKilledWorkers(t)
	origin := k.urls["origin"]
	id := k.upload(t, makeTestClip(t, "360x640", "60"))
	seen := map[string]bool{}
	for range 3 { // pipeline.DefaultMaxAttempts
		w := k.worker(t)
		seen[waitGeneration(t, origin, id, seen)] = true
		w.kill()
	}
	if s := k.status(t, id); s.Status != "processing" || !s.Playable {
		t.Fatalf("video after its last attempt was killed: %+v", s)
	}
	k.worker(t)
	s := k.waitStatus(t, id, func(s status) bool { return s.Status != "processing" })
	if s.Status != "failed" || s.Playable || s.Error == nil || s.Error.Code != "transcode_failed" {
		t.Fatalf("video after every attempt was killed: %+v", s)
	}
	if code, _ := get(t, origin+layout.Path(id, layout.Master)); code != 404 {
		t.Errorf("master.m3u8 of the failed video: %d, want 404", code)
	}
	k.wantObjects(t, id, func(string) bool { return false })
}

// wantObjects checks that every object of video id left in the store is one that keep accepts.
func (k *killedWorkers) wantObjects(t *testing.T, id string, keep func(name string) bool) {
	t.Helper()
	store, err := storage.NewFS(filepath.Join(k.data, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	prefix := layout.VideoPrefix(id)
	store.List(t.Context(), prefix, func(info storage.Info) error {
		if name := strings.TrimPrefix(info.Key, prefix); !keep(name) {
			t.Errorf("%s is left in the store", info.Key)
		}
		return nil
	})
}

// fetchPresentation fetches video id's presentation from base as a player would: master.m3u8,
// every playlist it names, and every init segment and segment those list, checking the I-frame
// playlists' byte ranges against the segments. It returns the bodies by path; master.m3u8 is
// left out.
func fetchPresentation(t *testing.T, base, id string) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	fetch := func(p string) []byte {
		if b, ok := got[p]; ok {
			return b
		}
		code, b := get(t, base+p)
		if code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
		got[p] = b
		return b
	}
	code, master := get(t, base+layout.Path(id, layout.Master))
	if code != 200 {
		t.Fatalf("master.m3u8 of %s: %d", id, code)
	}
	for _, uri := range playlistURIs(master) {
		pl := layout.Path(id, uri)
		dir := path.Dir(pl) + "/"
		lines := strings.Split(string(fetch(pl)), "\n")
		for i, line := range lines {
			if _, uri, ok := strings.Cut(line, `#EXT-X-MAP:URI="`); ok {
				fetch(dir + uri[:strings.IndexByte(uri, '"')])
			}
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			seg := fetch(dir + line)
			if r, ok := strings.CutPrefix(lines[i-1], "#EXT-X-BYTERANGE:"); ok {
				n, off, _ := strings.Cut(r, "@")
				length, _ := strconv.Atoi(n)
				offset, _ := strconv.Atoi(off)
				if length <= 0 || offset+length > len(seg) {
					t.Errorf("%s: byte range %s of %s, which has %d bytes", pl, r, line, len(seg))
				}
			}
		}
	}
	return got
}

// playlistURIs returns the URIs of the playlists that a master playlist names: its variants',
// its audio renditions' and its I-frame playlists'.
func playlistURIs(master []byte) []string {
	var uris []string
	for _, line := range strings.Split(string(master), "\n") {
		if _, uri, ok := strings.Cut(line, `URI="`); ok && strings.HasPrefix(line, "#") {
			uris = append(uris, uri[:strings.IndexByte(uri, '"')])
		} else if line != "" && !strings.HasPrefix(line, "#") {
			uris = append(uris, line)
		}
	}
	return uris
}

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
