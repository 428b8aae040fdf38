package ingest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
)

// TestTusJSClient uploads a file with the real tus-js-client (e2e/tus/upload.mjs in Node),
// which aborts and resumes the upload ten times, and checks that the server ends up with the
// file's exact bytes. It needs node and `npm ci` at the repository root.
func TestTusJSClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node is not installed: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "tus-js-client", "package.json")); err != nil {
		testenv.Require(t, "tus-js-client is not installed (run `npm ci` at the repository root): %v", err)
	}

	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{})
	src := make([]byte, 4<<20+12345)
	fillPattern(src, 2024)
	file := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "e2e", "tus", "upload.mjs"),
		"--caption", "Resumed #tus upload", e.srv.URL+Path, file)
	cmd.Env = append(os.Environ(), "REELAY_TOKEN="+e.alice)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("upload.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("upload.mjs: %s", strings.TrimSpace(stderr.String()))

	loc := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(loc, e.srv.URL+Path) || !videoid.Valid(idOf(loc)) {
		t.Fatalf("upload.mjs printed %q, want an upload URL", loc)
	}
	e.waitState(loc, stateComplete)
	u := e.record(loc)
	if u.State != stateComplete || u.Offset != int64(len(src)) || u.UserID != e.aliceID {
		t.Errorf("stored upload: %+v", u)
	}
	ups, hashes := e.completed.waitCalls(t, 1)
	if len(ups) != 1 || ups[0].Filename != "clip.mp4" || ups[0].Filetype != "video/mp4" ||
		ups[0].Caption != "Resumed #tus upload" || hashes[0] != bytesSHA256(src) {
		t.Errorf("handed over: %+v", ups)
	}
}
