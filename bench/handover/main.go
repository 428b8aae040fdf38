// Command handover measures what a creator waits for once an upload's bytes are all sent: how
// long the last PATCH (of the upload's last MiB) takes to be answered, how long until the
// video is playable, and until it is ready. It compares reelay binaries side by side (for
// example the one before a change and the one after), alternating them round by round, each
// as `reelay up` on a fresh data directory, and prints a Markdown table of medians.
//
//	go build -o bin/reelay ./cmd/reelay && go run ./bench/handover -reelay old/reelay,bin/reelay
//
// With -mib, the upload is a large video of about that size (MPEG-4 Part 2 at a high bit rate,
// made once with the FFmpeg CLI) and no worker runs: what is measured is the hand-over alone,
// until the source is in the store (-store, for example an S3 bucket; the bench reads it with
// reelay's storage package to see the source arrive).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reelay/reelay/bench/internal/reelayproc"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

func main() {
	binaries := flag.String("reelay", "bin/reelay", "comma-separated reelay binaries to compare")
	runs := flag.Int("runs", 5, "rounds; each runs every binary once")
	seconds := flag.Int("seconds", 10, "length of the 1080x1920 clip uploaded (without -mib)")
	mib := flag.Int("mib", 0, "upload a large video of about this many MiB, with no worker, and measure the hand-over only")
	storeURL := flag.String("store", "", "object store of reelay up (--store); empty is its data directory")
	flag.Parse()

	work, err := os.MkdirTemp("", "bench-handover-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	clip := filepath.Join(work, "clip.mp4")
	if *mib > 0 {
		makeLarge(clip, *mib)
	} else {
		makeClip(clip, *seconds)
	}
	fi, err := os.Stat(clip)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "upload: %s, %.1f MiB\n", clip, float64(fi.Size())/(1<<20))

	var store storage.Store
	if *storeURL != "" {
		if store, err = storage.Open(context.Background(), *storeURL); err != nil {
			log.Fatal(err)
		}
	}
	names := strings.Split(*binaries, ",")
	results := make([][]result, len(names))
	for round := range *runs {
		for k := range names {
			i := (k + round) % len(names) // alternate which goes first
			r := measure(names[i], filepath.Join(work, fmt.Sprintf("data-%d-%d", round, i)), clip, *mib > 0, *storeURL, store)
			fmt.Fprintf(os.Stderr, "round %d %s: last PATCH %v, stored %v, playable %v, ready %v\n",
				round+1, names[i], r.patch, r.stored, r.playable, r.ready)
			results[i] = append(results[i], r)
		}
	}
	fmt.Printf("| reelay | last PATCH answered | source stored | playable | ready |\n|---|---|---|---|---|\n")
	for i, name := range names {
		col := func(f func(result) time.Duration) string {
			var xs []time.Duration
			for _, r := range results[i] {
				if d := f(r); d > 0 {
					xs = append(xs, d)
				}
			}
			if len(xs) == 0 {
				return "-"
			}
			slices.Sort(xs)
			return xs[len(xs)/2].Round(time.Millisecond).String()
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", name, col(func(r result) time.Duration { return r.patch }),
			col(func(r result) time.Duration { return r.stored }), col(func(r result) time.Duration { return r.playable }),
			col(func(r result) time.Duration { return r.ready }))
	}
	fmt.Printf("\nMedians of %d rounds. The last PATCH sends the upload's last MiB; the last three columns count from the moment it was answered.\n", *runs)
}

// result is one upload: how long its last PATCH took, and the times from its answer until the
// source was stored, the video playable and ready (0 when not measured).
type result struct {
	patch, stored, playable, ready time.Duration
}

// measure starts `reelay up` with binary on data, uploads clip in one PATCH and follows the video.
func measure(binary, data, clip string, handOverOnly bool, storeURL string, store storage.Store) result {
	args := []string{"up", "--data", data, "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edges", "0", "--log-level", "warn", "--max-upload", "8GiB"}
	if handOverOnly {
		args = append(args, "--workers", "0")
	}
	if storeURL != "" {
		args = append(args, "--store", storeURL)
	}
	srv, api := reelayproc.Start(binary, args...)
	defer reelayproc.Stop(srv)
	token := reelayproc.Login(api)
	b, err := os.ReadFile(clip)
	if err != nil {
		log.Fatal(err)
	}
	loc := create(api, token, int64(len(b)))
	id := loc[strings.LastIndexByte(loc, '/')+1:]

	// All but the last MiB first, then the last MiB: the time of that last PATCH is what the
	// creator waits for once the bytes are sent, not how long sending them takes.
	last := max(int64(len(b))-1<<20, 0)
	patch(loc, token, b[:last], 0)
	start := time.Now()
	patch(loc, token, b[last:], last)
	answered := time.Now()
	r := result{patch: answered.Sub(start)}

	deadline := answered.Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		if store != nil && r.stored == 0 {
			if _, err := store.Stat(context.Background(), layout.SourceKey(id)); err == nil {
				r.stored = time.Since(answered)
			}
		}
		if handOverOnly {
			if store == nil || r.stored > 0 {
				return r
			}
		} else {
			playable, status := videoStatus(api, token, id)
			if playable && r.playable == 0 {
				r.playable = time.Since(answered)
			}
			switch status {
			case "ready":
				r.ready = time.Since(answered)
				return r
			case "failed":
				log.Fatalf("video %s failed", id)
			}
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	log.Fatalf("video %s: not done after 10 minutes", id)
	return r
}

// patch sends body as the PATCH of upload loc at offset, and fails unless it is answered 204.
func patch(loc, token string, body []byte, offset int64) {
	req, _ := http.NewRequest(http.MethodPatch, loc, bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		log.Fatalf("PATCH at %d: %s", offset, resp.Status)
	}
}

func videoStatus(api, token, id string) (playable bool, status string) {
	req, _ := http.NewRequest(http.MethodGet, api+"/v1/videos/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Status   string
		Playable bool
	}
	json.NewDecoder(resp.Body).Decode(&v)
	return v.Playable, v.Status
}

func create(api, token string, size int64) string {
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "filename Y2xpcC5tcDQ=") // clip.mp4
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		log.Fatalf("creating the upload: %s", resp.Status)
	}
	loc, err := req.URL.Parse(resp.Header.Get("Location")) // relative without --public-url
	if err != nil {
		log.Fatalf("creating the upload: Location: %v", err)
	}
	return loc.String()
}

// makeClip writes a 1080x1920 30 fps clip with AAC audio, as a phone would upload.
func makeClip(path string, seconds int) {
	ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1080x1920:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "veryfast", "-b:v", "8M", "-c:a", "aac", "-shortest", path)
}

// makeLarge writes a video of about mib MiB: 720p MPEG-4 Part 2 at 200 Mbit/s, fast to make.
func makeLarge(path string, mib int) {
	seconds := max(1, mib*8/200)
	ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", strconv.Itoa(seconds),
		"-c:v", "mpeg4", "-b:v", "200M", "-maxrate", "200M", "-minrate", "200M", "-bufsize", "200M", path)
}

func ffmpeg(args ...string) {
	out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		log.Fatalf("ffmpeg: %v\n%s", err, out)
	}
}
