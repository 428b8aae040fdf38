package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
)

// TestLogFFmpegToWhileTranscoding: a command that sends FFmpeg's logs somewhere while
// another command of the same process transcodes, as the in-process tests run reelay up side
// by side, does not race with it nor with FFmpeg's threads calling the log callback. The race
// detector (make test runs with -race) is what fails this test.
func TestLogFFmpegToWhileTranscoding(t *testing.T) {
	waitingTest(t)
	clip := makeTestClip(t, "320x240", "1")
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"transcode", "--in", clip, "--out", filepath.Join(t.TempDir(), "hls"),
			"--ladder", "240p:300k", "--log-level", "debug"}, &env{stdout: io.Discard, stderr: io.Discard, getenv: envOf(nil)})
	}()
	quiet := slog.New(slog.DiscardHandler)
	for {
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("reelay transcode exited %d", code)
			}
			return
		default: // no timer or channel here: either would order the two goroutines for the race detector
			logFFmpegTo(quiet)
			runtime.Gosched()
		}
	}
}
