package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// testClips are the clips that makeTestClip has made, by size and length, in one directory that
// TestMain removes: the tests only read a clip, so those that want the same one share it instead
// of each encoding it again.
var testClips = struct {
	mu   sync.Mutex
	dir  string
	made map[string]*testClip
}{made: map[string]*testClip{}}

type testClip struct {
	once sync.Once
	path string
	err  error
	out  []byte // FFmpeg's output when err
}

// makeTestClip returns a clip of the given size and seconds from FFmpeg's lavfi sources (a
// test pattern, and a sine tone as AAC), made on the first call for that size and length and
// shared by later ones. Callers must not change the file.
func makeTestClip(t *testing.T, size, seconds string) string {
	t.Helper()
	key := size + "-" + seconds + "s"
	testClips.mu.Lock()
	if testClips.dir == "" {
		dir, err := os.MkdirTemp("", "reelay-clips-")
		if err != nil {
			testClips.mu.Unlock()
			t.Fatal(err)
		}
		testClips.dir = dir
	}
	c := testClips.made[key]
	if c == nil {
		c = &testClip{path: filepath.Join(testClips.dir, key+".mp4")}
		testClips.made[key] = c
	}
	testClips.mu.Unlock()
	c.once.Do(func() {
		c.out, c.err = exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", seconds,
			"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", c.path).CombinedOutput()
	})
	if c.err != nil {
		t.Fatalf("making the clip: %v\n%s", c.err, c.out)
	}
	return c.path
}

// removeTestClips removes the clips that makeTestClip made.
func removeTestClips() {
	testClips.mu.Lock()
	defer testClips.mu.Unlock()
	if testClips.dir != "" {
		os.RemoveAll(testClips.dir)
	}
}
