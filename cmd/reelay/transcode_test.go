package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTranscodeProgressive runs `reelay transcode --progressive` as a process of its own. Its
// master.m3u8 must appear while the transcode is still running, as EVENT playlists listing
// only segments already written; at the end the tree must be a complete VOD presentation that
// FFmpeg decodes, and the command must report the video playable before it was complete (an
// order of events, not a ratio of wall-clock times).
func TestTranscodeProgressive(t *testing.T) {
	busyTest(t)
	clip := makeTestClip(t, "360x640", "30")
	out := filepath.Join(t.TempDir(), "hls")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exe, "transcode", "--in", clip, "--out", out, "--progressive", "--ladder", "360p:600k,240p:300k")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Early: master.m3u8 while the process runs, with EVENT playlists of written segments.
	var early bool
	for !early {
		select {
		case err := <-done:
			t.Fatalf("transcode ended (%v) before master.m3u8 was seen\n%s", err, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
		if _, err := os.Stat(filepath.Join(out, "master.m3u8")); err == nil {
			early = true
		}
	}
	// The process turned transparent huge pages off for itself, as a transcoding process does
	// unless --huge-pages.
	if thp, ok := thpEnabled(t, cmd.Process.Pid); ok && thp {
		t.Error("transparent huge pages are on in reelay transcode")
	}
	for _, r := range []string{"360p", "240p", "audio"} {
		pl, err := os.ReadFile(filepath.Join(out, r, "index.m3u8"))
		if err != nil {
			t.Fatalf("%s playlist of a playable tree: %v", r, err)
		}
		s := string(pl)
		if !strings.Contains(s, "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(s, "#EXT-X-ENDLIST") ||
			!strings.Contains(s, "#EXT-X-START:TIME-OFFSET=0\n") {
			t.Errorf("%s playlist while transcoding:\n%s", r, s)
		}
		segs := regexp.MustCompile(`(?m)^seg_\d+\.m4s$`).FindAllString(s, -1)
		if len(segs) == 0 {
			t.Errorf("%s playlist lists no segment:\n%s", r, s)
		}
		for _, seg := range segs {
			if _, err := os.Stat(filepath.Join(out, r, seg)); err != nil {
				t.Errorf("%s playlist lists %s: %v", r, seg, err)
			}
		}
	}

	if err := <-done; err != nil {
		t.Fatalf("transcode: %v\n%s", err, stderr.String())
	}
	for _, r := range []string{"360p", "240p", "audio"} {
		pl, _ := os.ReadFile(filepath.Join(out, r, "index.m3u8"))
		if !strings.Contains(string(pl), "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n") {
			t.Errorf("final %s playlist:\n%s", r, pl)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(out, ".reelay", "tmp", "*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	m := regexp.MustCompile(`playable after (\S+), complete after (\S+) `).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no time to playable in the output:\n%s", stdout.String())
	}
	playable, err1 := time.ParseDuration(m[1])
	complete, err2 := time.ParseDuration(m[2])
	if err1 != nil || err2 != nil || playable <= 0 || playable >= complete {
		t.Errorf("playable after %s, complete after %s: want playable before complete", m[1], m[2])
	}
	if b, err := exec.Command("ffmpeg", "-v", "error", "-i", filepath.Join(out, "master.m3u8"), "-map", "0", "-f", "null", "-").CombinedOutput(); err != nil {
		t.Errorf("ffmpeg decoding the tree: %v\n%s", err, b)
	}
}

// thpEnabled reads whether transparent huge pages are enabled for process pid, as Linux tells
// in /proc/{pid}/status; ok is false when it does not tell.
func thpEnabled(t *testing.T, pid int) (enabled, ok bool) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, false
	}
	m := regexp.MustCompile(`(?m)^THP_enabled:\s*(\d)$`).FindSubmatch(b)
	if m == nil {
		return false, false
	}
	return string(m[1]) == "1", true
}
