package transcoder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/reelay/reelay/packager"
)

// rssChildEnv names the clip that TestRunReturnsFreedMemory's child process transcodes.
const rssChildEnv = "REELAY_TEST_RSS_CHILD_CLIP"

// TestRunReturnsFreedMemory runs transcodes one after the other in a fresh process, as a worker
// does, and checks that its resident memory does not grow from one to the next: what FFmpeg and
// libx264 free stays in the C heap's arenas unless Run gives it back. Without that, the process
// grew by over 100 MiB from the first transcode to the sixth, nearly all of it free memory
// (bench/soak has the curve, and the malloc figures that tell it from a leak). A fresh process,
// since the test binary's own earlier transcodes have already grown its heap.
func TestRunReturnsFreedMemory(t *testing.T) {
	const transcodes = 6
	if path := os.Getenv(rssChildEnv); path != "" {
		tr, err := New(Config{Preset: "ultrafast"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range transcodes {
			if _, err := tr.Run(context.Background(), Input{Path: path}, discardSink{}, nil); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			fmt.Printf("rss %d %d\n", i+1, residentMiB(t))
		}
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunReturnsFreedMemory$", "-test.count=1")
	cmd.Env = append(os.Environ(), rssChildEnv+"="+clip(t, "medium.mp4"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
	}
	var rss []int
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "rss" {
			v, _ := strconv.Atoi(f[2])
			rss = append(rss, v)
		}
	}
	if len(rss) != transcodes {
		t.Fatalf("child printed %d figures, want %d:\n%s", len(rss), transcodes, out)
	}
	t.Logf("resident MiB after each transcode: %v", rss)
	// The first transcode sets the level: its own buffers, the libraries' code and tables. Those
	// after it should need no more; 48 MiB leaves room for the heap's fragmentation.
	if grown := rss[len(rss)-1] - rss[0]; grown > 48 {
		t.Errorf("resident memory grew by %d MiB from the first transcode to the last: %v MiB", grown, rss)
	}
}

// discardSink takes the renditions and drops them: it keeps no memory of its own.
type discardSink struct{}

func (discardSink) AddVideo(string, packager.VideoTrack, int) (SampleWriter, error) {
	return discardSink{}, nil
}
func (discardSink) AddAudio(string, packager.AudioTrack, int) (SampleWriter, error) {
	return discardSink{}, nil
}
func (discardSink) WritePoster(context.Context, []byte) error          { return nil }
func (discardSink) WriteSample(context.Context, packager.Sample) error { return nil }

// residentMiB returns the process's resident set (VmRSS) in MiB.
func residentMiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmRSS: %q", v)
			}
			return kb >> 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
