package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/tusclient/tustest"
	"github.com/reelay/reelay/internal/videoid"
)

// runUpload runs `reelay upload args...` in-process.
func runUpload(ctx context.Context, args []string, e *env) int {
	return run(ctx, append([]string{"upload"}, args...), e)
}

// fakeVideos serves GET /v1/videos/{id} for the uploads the tus server handed over, as the
// status API will: processing for three polls, then ready, or failed when fail is set.
type fakeVideos struct {
	s    *tustest.Server
	fail string

	mu    sync.Mutex
	polls map[string]int
}

func newFakeVideos(s *tustest.Server, fail string) *fakeVideos {
	f := &fakeVideos{s: s, fail: fail, polls: map[string]int{}}
	s.Mux.Handle("GET /v1/videos/{id}", f)
	return f
}

func (f *fakeVideos) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("Authorization") != "Bearer "+f.s.Token {
		reply(http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": "unauthenticated", "message": "who are you?"}})
		return
	}
	id := r.PathValue("id")
	found := slices.Contains(f.s.Accepted(), id)
	if !found {
		reply(http.StatusNotFound, map[string]any{"error": map[string]string{"code": "not_found", "message": "no such video"}})
		return
	}
	f.mu.Lock()
	n := f.polls[id]
	f.polls[id]++
	f.mu.Unlock()
	v := map[string]any{"id": id, "creator": map[string]any{"handle": "alice", "display_name": "", "avatar_url": ""}, "status": "processing", "progress": n * 30, "error": nil,
		"renditions": []any{}, "playback_url": "", "poster_url": "", "created_at": time.Now().UTC()}
	switch {
	case n < 3:
	case f.fail != "":
		v["status"], v["error"] = "failed", map[string]string{"code": "transcode_failed", "message": f.fail}
	default:
		v["status"], v["progress"], v["playback_url"] = "ready", 100, "https://edge.example/v/"+id+"/master.m3u8"
	}
	reply(http.StatusOK, v)
}

func (f *fakeVideos) pollCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.polls {
		n += p
	}
	return n
}

// videoFile writes n pseudo-random bytes to DIR/clip.mp4 and returns its path and bytes.
func videoFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// uploadRun is one run of reelay upload and what it printed.
type uploadRun struct {
	code           int
	stdout, stderr string
}

func runUploadArgs(ctx context.Context, getenv map[string]string, args ...string) uploadRun {
	var stdout, stderr bytes.Buffer
	code := runUpload(ctx, args, &env{stdout: &stdout, stderr: &stderr, getenv: envOf(getenv)})
	return uploadRun{code, stdout.String(), stderr.String()}
}

// baseArgs are the flags of an upload of file to s, remembering state in DIR/uploads.json.
func baseArgs(t *testing.T, s *tustest.Server, file string) (args []string, state string) {
	state = filepath.Join(t.TempDir(), "uploads.json")
	return []string{"--file", file, "--api", s.URL, "--state", state, "--chunk-size", "64KiB", "--poll-interval", "5ms"}, state
}

func readStateFile(t *testing.T, path string) uploadState {
	t.Helper()
	s, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUploadWaitsUntilPlayable(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	videos := newFakeVideos(s, "")
	file, data := videoFile(t, 300<<10)
	args, state := baseArgs(t, s, file)
	r := runUploadArgs(t.Context(), map[string]string{"REELAY_TOKEN": s.Token},
		append(args, "--caption", "my #cat", "--visibility", "unlisted")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	done := s.WaitCompleted(t, 1)
	if len(done) != 1 {
		t.Fatalf("%d uploads handed over", len(done))
	}
	u := done[0].Upload
	if done[0].SHA256 != tustest.SHA256(data) || u.Filename != "clip.mp4" || u.Filetype != "video/mp4" ||
		u.Caption != "my #cat" || u.Visibility != "unlisted" || u.Owner != s.UserID {
		t.Errorf("handed over %+v, sha256 %s", u, done[0].SHA256)
	}
	if want := "https://edge.example/v/" + u.ID + "/master.m3u8\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	if videos.pollCount() != 4 {
		t.Errorf("%d status polls, want 4 (three processing, then ready)", videos.pollCount())
	}
	for _, want := range []string{"upload [", "300.0 KiB/300.0 KiB", "processing [", "100%"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if st := readStateFile(t, state); len(st.Uploads) != 0 {
		t.Errorf("the state file still holds %+v", st.Uploads)
	}
}

func TestUploadVideoFails(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	newFakeVideos(s, "the file holds no video stream")
	file, _ := videoFile(t, 100<<10)
	args, _ := baseArgs(t, s, file)
	r := runUploadArgs(t.Context(), nil, append(args, "--token", s.Token)...)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "failed: the file holds no video stream (transcode_failed)\n") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestUploadNoWait(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	videos := newFakeVideos(s, "")
	file, data := videoFile(t, 100<<10)
	args, _ := baseArgs(t, s, file)
	r := runUploadArgs(t.Context(), nil, append(args, "--token", s.Token, "--no-wait")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	done := s.WaitCompleted(t, 1)
	if len(done) != 1 || done[0].SHA256 != tustest.SHA256(data) {
		t.Fatalf("handed over %+v", done)
	}
	if id := strings.TrimSuffix(r.stdout, "\n"); id != done[0].Upload.ID || !videoid.Valid(id) || !strings.Contains(r.stderr, "/v1/videos/"+id) {
		t.Errorf("stdout %q, stderr %q; want the video id %s", r.stdout, r.stderr, done[0].Upload.ID)
	}
	if videos.pollCount() != 0 {
		t.Errorf("--no-wait polled the status %d times", videos.pollCount())
	}
}

// interrupt runs an upload of file that is cancelled, as Ctrl-C does, once the server has
// received more than cut bytes, and checks that it remembered the upload.
func interrupt(t *testing.T, s *tustest.Server, args []string, state string, cut int64) savedUpload {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s.OnBody(func(received int64) {
		if received > cut {
			cancel()
		}
	})
	r := runUploadArgs(ctx, nil, args...)
	s.OnBody(nil)
	s.WaitIdle(t)
	if r.code != 1 || !strings.Contains(r.stderr, "interrupted after") || !strings.Contains(r.stderr, "the same command resumes the upload\n") {
		t.Fatalf("interrupted run: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if len(s.Completed()) != 0 {
		t.Fatal("the interrupted upload was handed over")
	}
	st := readStateFile(t, state)
	if len(st.Uploads) != 1 || !strings.HasPrefix(st.Uploads[0].URL, s.Endpoint) {
		t.Fatalf("state after the interruption: %+v", st)
	}
	return st.Uploads[0]
}

func TestUploadResumesAfterInterruption(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	newFakeVideos(s, "")
	file, data := videoFile(t, 1<<20)
	args, state := baseArgs(t, s, file)
	args = append(args, "--token", s.Token)
	saved := interrupt(t, s, args, state, 300<<10)

	before := len(s.Requests())
	received := s.Received()
	r := runUploadArgs(t.Context(), nil, args...)
	if r.code != 0 || !strings.Contains(r.stderr, "resuming at ") {
		t.Fatalf("second run: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// The second run asked where the upload stood and went on from there.
	reqs := s.Requests()[before:]
	if len(reqs) < 2 || reqs[0].Method != http.MethodHead || reqs[1].Method != http.MethodPatch || "/v1/uploads/"+idOf(saved.URL) != reqs[0].Path {
		t.Fatalf("second run's requests: %+v", reqs)
	}
	offset, err := strconv.ParseInt(reqs[0].Answer, 10, 64)
	if err != nil || offset <= 0 || offset >= int64(len(data)) || reqs[1].Offset != offset {
		t.Fatalf("the second run resumed at %d after HEAD answered %q", reqs[1].Offset, reqs[0].Answer)
	}
	if got := s.Received() - received; got != int64(len(data))-offset {
		t.Errorf("the second run sent %d bytes, want the %d missing", got, int64(len(data))-offset)
	}
	done := s.WaitCompleted(t, 1)
	if len(done) != 1 || done[0].SHA256 != tustest.SHA256(data) || done[0].Upload.ID != idOf(saved.URL) {
		t.Fatalf("handed over %+v, want the saved upload with the file's bytes", done)
	}
	if r.stdout != "https://edge.example/v/"+done[0].Upload.ID+"/master.m3u8\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if st := readStateFile(t, state); len(st.Uploads) != 0 {
		t.Errorf("the state file still holds %+v", st.Uploads)
	}
}

func TestUploadStartsOverWhenTheUploadIsGone(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	newFakeVideos(s, "")
	file, data := videoFile(t, 512<<10)
	args, state := baseArgs(t, s, file)
	args = append(args, "--token", s.Token, "--no-wait")
	saved := interrupt(t, s, args, state, 100<<10)

	// The server loses the upload (here its owner deletes it).
	req, _ := http.NewRequest(http.MethodDelete, saved.URL, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()

	r := runUploadArgs(t.Context(), nil, args...)
	if r.code != 0 || !strings.Contains(r.stderr, "the server no longer has the earlier upload of this file; starting over\n") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	done := s.WaitCompleted(t, 1)
	if len(done) != 1 || done[0].SHA256 != tustest.SHA256(data) || done[0].Upload.ID == idOf(saved.URL) {
		t.Fatalf("handed over %+v, want a new upload with the file's bytes", done)
	}
	if st := readStateFile(t, state); len(st.Uploads) != 0 {
		t.Errorf("the state file still holds %+v", st.Uploads)
	}
}

// TestUploadStateKey checks that an upload is resumed only for the same file, API and
// metadata, and that the default state file is under XDG_STATE_HOME.
func TestUploadStateKey(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	newFakeVideos(s, "")
	file, data := videoFile(t, 512<<10)
	stateHome := t.TempDir()
	getenv := map[string]string{"XDG_STATE_HOME": stateHome, "REELAY_TOKEN": s.Token}
	args := []string{"--file", file, "--api", s.URL + "/", "--chunk-size", "64KiB", "--no-wait"}

	ctx, cancel := context.WithCancel(t.Context())
	s.OnBody(func(received int64) {
		if received > 100<<10 {
			cancel()
		}
	})
	if r := runUploadArgs(ctx, getenv, args...); r.code != 1 {
		t.Fatalf("interrupted run: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	s.OnBody(nil)
	s.WaitIdle(t)
	state := filepath.Join(stateHome, "reelay", "uploads.json")
	if st := readStateFile(t, state); len(st.Uploads) != 1 || st.Uploads[0].File != file || st.Uploads[0].API != s.URL {
		t.Fatalf("state %+v", st)
	}

	// Another caption is another upload; the first one stays for a run with its caption.
	posts := func() int {
		n := 0
		for _, r := range s.Requests() {
			if r.Method == http.MethodPost {
				n++
			}
		}
		return n
	}
	if r := runUploadArgs(t.Context(), getenv, append(args, "--caption", "other")...); r.code != 0 || strings.Contains(r.stderr, "resuming") || posts() != 2 {
		t.Fatalf("run with another caption: exit %d, %d uploads created, stderr:\n%s", r.code, posts(), r.stderr)
	}
	if st := readStateFile(t, state); len(st.Uploads) != 1 {
		t.Fatalf("state %+v", st)
	}
	// A file that changed since is another upload too.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	if r := runUploadArgs(t.Context(), getenv, args...); r.code != 0 || strings.Contains(r.stderr, "resuming") || posts() != 3 {
		t.Fatalf("run after the file changed: exit %d, %d uploads created, stderr:\n%s", r.code, posts(), r.stderr)
	}
	for _, c := range s.WaitCompleted(t, 2) { // the interrupted one is not finished
		if c.SHA256 != tustest.SHA256(data) {
			t.Errorf("upload %s: wrong bytes", c.Upload.ID)
		}
	}
}

func TestUploadServerErrorIsOneLine(t *testing.T) {
	s := tustest.New(t, ingest.Config{MaxSize: 100 << 10}, nil)
	file, _ := videoFile(t, 200<<10)
	args, state := baseArgs(t, s, file)
	r := runUploadArgs(t.Context(), nil, append(args, "--token", s.Token)...)
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "the server refused the upload: the upload would be larger than its Upload-Length or the server's Tus-Max-Size (413 upload_too_large)\n") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if st := readStateFile(t, state); len(st.Uploads) != 0 {
		t.Errorf("a refused upload is remembered: %+v", st.Uploads)
	}
	r = runUploadArgs(t.Context(), nil, append(args, "--token", "not-a-token")...)
	if r.code != 1 || !strings.Contains(r.stderr, "(401 invalid_token)") {
		t.Fatalf("bad token: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestUploadRefusedIsForgotten has the server refuse a finished upload (the pipeline's Accept
// does so for a file that is not a video): the reason is shown and the upload not resumed.
func TestUploadRefusedIsForgotten(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, func(context.Context, ingest.Upload) error {
		return apierr.New(http.StatusUnprocessableEntity, "not_video", "not a recognised media container")
	})
	file, _ := videoFile(t, 200<<10)
	args, state := baseArgs(t, s, file)
	r := runUploadArgs(t.Context(), nil, append(args, "--token", s.Token)...)
	if r.code != 1 || !strings.HasSuffix(r.stderr, "\nreelay upload: the server refused the upload: not a recognised media container (422 not_video)\n") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if st := readStateFile(t, state); len(st.Uploads) != 0 {
		t.Errorf("a refused upload is remembered: %+v", st.Uploads)
	}
}

func TestUploadBadInputExits2(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.mp4")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file, _ := videoFile(t, 1000)
	api := "http://127.0.0.1:1" // never reached
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"--api", api, "--token", "t"}, "which file? reelay upload FILE"},
		{"missing file", []string{"--file", filepath.Join(dir, "nope.mp4"), "--api", api, "--token", "t"}, "nope.mp4: no such file"},
		{"directory", []string{"--file", dir, "--api", api, "--token", "t"}, "is a directory, not a video file"},
		{"empty file", []string{"--file", empty, "--api", api, "--token", "t"}, "empty.mp4 is empty"},
		{"no token", []string{"--file", file, "--api", api}, "a token is required: --token or REELAY_TOKEN"},
		{"no api", []string{"--file", file, "--token", "t"}, "--api is required"},
		{"bad api", []string{"--file", file, "--token", "t", "--api", "ftp://x"}, `invalid --api "ftp://x"`},
		{"api with a query", []string{"--file", file, "--token", "t", "--api", "http://x/?a=b"}, "without user, query"},
		{"bad visibility", []string{"--file", file, "--token", "t", "--api", api, "--visibility", "friends"}, `invalid --visibility "friends"`},
		{"tiny chunks", []string{"--file", file, "--token", "t", "--api", api, "--chunk-size", "1KiB"}, "invalid --chunk-size"},
		{"negative timeout", []string{"--file", file, "--token", "t", "--api", api, "--timeout", "-1s"}, "invalid --timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runUploadArgs(t.Context(), nil, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestUploadFileArgument runs `reelay upload FILE`: the file as a positional argument.
func TestUploadFileArgument(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	file, data := videoFile(t, 100<<10)
	state := filepath.Join(t.TempDir(), "uploads.json")
	r := runUploadArgs(t.Context(), map[string]string{"REELAY_TOKEN": s.Token}, "--api", s.URL, file, "--state", state, "--no-wait")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if done := s.WaitCompleted(t, 1); len(done) != 1 || done[0].SHA256 != tustest.SHA256(data) {
		t.Fatalf("handed over %+v", done)
	}
	for name, args := range map[string][]string{
		"two files":         {file, file},
		"argument and flag": {file, "--file", file},
	} {
		r := runUploadArgs(t.Context(), map[string]string{"REELAY_TOKEN": s.Token}, append([]string{"--api", s.URL}, args...)...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want a usage error", name, r.code, r.stderr)
		}
	}
}

func TestUploadStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "uploads.json")
	now := time.Now().UTC()
	a := savedUpload{File: "/a.mp4", Size: 1, ModTime: now, API: "http://x", URL: "http://x/v1/uploads/a", CreatedAt: now}
	old := savedUpload{File: "/old.mp4", Size: 1, ModTime: now, API: "http://x", URL: "http://x/v1/uploads/o", CreatedAt: now.Add(-stateRetention - time.Hour)}
	if err := updateState(path, func(s *uploadState) { s.Uploads = append(s.Uploads, a, old) }); err != nil {
		t.Fatal(err)
	}
	if st := readStateFile(t, path); st.find(a) != a.URL || st.find(old) != old.URL {
		t.Fatalf("state %+v", st)
	}
	b := a
	b.File = "/b.mp4"
	if err := updateState(path, func(s *uploadState) { s.drop(b) }); err != nil {
		t.Fatal(err)
	}
	st := readStateFile(t, path)
	if st.find(a) != a.URL || st.find(old) != "" {
		t.Fatalf("after drop: %+v; want a kept and the old entry gone", st)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode: %v %v", fi, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	// A torn or foreign file is an error to read, and replaced by the next update.
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readState(path); err == nil {
		t.Error("a torn state file read without error")
	}
	if err := updateState(path, func(s *uploadState) { s.Uploads = append(s.Uploads, a) }); err != nil {
		t.Fatal(err)
	}
	if st := readStateFile(t, path); st.find(a) != a.URL {
		t.Fatalf("state %+v", st)
	}
}

func idOf(url string) string { return url[strings.LastIndexByte(url, '/')+1:] }
