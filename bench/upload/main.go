// Command upload measures tus upload throughput over loopback against writing the same bytes to
// the same disk, and the server's peak RSS. The server is the ingest tier, `reelay ingest`, in
// a process of its own (with -tier up, all of `reelay up`, without transcode workers); a
// `reelay feed` on the same SQLite database registers the user and logs in, and exits. It
// uploads a file of random bytes with reelay's tus client, alternating with a plain write of
// the same bytes into the same directory (fsync at the end, as the server fsyncs every chunk).
// It prints a Markdown table of medians. With -tier tusd the server is the reference tus
// server instead, tusd's handler staging on disk (bench/tusd, a module of its own), and with
// -tier tusd-s3 tusd's s3store staging in S3 as multipart uploads (-s3-endpoint, -s3-bucket).
//
//	go build -o bin/reelay ./cmd/reelay && go run ./bench/upload -mib 1024 -runs 5
//	(cd bench/tusd && go build -o ../../bin/tusd-bench .) && go run ./bench/upload -tier tusd
package main

import (
	"context"
	"crypto/rand"
	"errors"
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
	"github.com/reelay/reelay/internal/tusclient"
)

func main() {
	sizeMiB := flag.Int64("mib", 1024, "upload size in MiB")
	runs := flag.Int("runs", 3, "runs of each contender")
	chunk := flag.Int64("chunk-mib", 64, "tus chunk size in MiB")
	reelay := flag.String("reelay", "bin/reelay", "reelay binary")
	dir := flag.String("dir", "", "directory on the disk under test; empty is a new temporary directory")
	tier := flag.String("tier", "ingest", "server under test: ingest (reelay ingest), up (reelay up), tusd (tusd's filestore) or tusd-s3 (tusd's s3store)")
	tusd := flag.String("tusd", "bin/tusd-bench", "bench/tusd binary, for -tier tusd and tusd-s3")
	s3Endpoint := flag.String("s3-endpoint", "", "for -tier tusd-s3: the S3 endpoint, e.g. http://127.0.0.1:9000 (credentials in REELAY_S3_ACCESS_KEY, REELAY_S3_SECRET_KEY)")
	s3Bucket := flag.String("s3-bucket", "", "for -tier tusd-s3: an existing bucket")
	flag.Parse()
	size := *sizeMiB << 20

	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "bench-upload-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(work)
	}
	src := filepath.Join(work, "source.bin")
	writeRandom(src, size)

	data := filepath.Join(work, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		log.Fatal(err)
	}
	dbPath := filepath.Join(data, "reelay.db")
	var srv *exec.Cmd
	var api, token string
	switch *tier {
	case "ingest":
		feed, feedAPI := reelayproc.Start(*reelay, "feed", "--db", dbPath, "--addr", "127.0.0.1:0",
			"--playback-url", "http://127.0.0.1:1", "--log-level", "warn")
		token = reelayproc.Login(feedAPI)
		reelayproc.Stop(feed)
		srv, api = reelayproc.Start(*reelay, "ingest", "--db", dbPath, "--store", filepath.Join(data, "objects"),
			"--upload-dir", filepath.Join(data, "uploads"), "--addr", "127.0.0.1:0", "--max-upload", strconv.FormatInt(size+1, 10), "--log-level", "error")
	case "up":
		srv, api = reelayproc.Start(*reelay, "up", "--data", data, "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
			"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0",
			"--workers", "0", "--max-upload", strconv.FormatInt(size+1, 10), "--log-level", "warn")
		token = reelayproc.Login(api)
	case "tusd":
		srv, api = reelayproc.Start(*tusd, "-dir", filepath.Join(data, "uploads"), "-max-size", strconv.FormatInt(size+1, 10))
		token = "unused"
	case "tusd-s3":
		srv, api = reelayproc.Start(*tusd, "-bucket", *s3Bucket, "-endpoint", *s3Endpoint, "-max-size", strconv.FormatInt(size+1, 10))
		token = "unused"
	default:
		log.Fatalf("-tier %q: want ingest, up, tusd or tusd-s3", *tier)
	}
	// reelay refuses random bytes once they are all in (422 not_video): that is the end of the
	// upload, and what a creator's client waits for; tusd takes them (204).
	end := http.StatusUnprocessableEntity
	if strings.HasPrefix(*tier, "tusd") {
		end = http.StatusNoContent
	}
	defer reelayproc.Stop(srv)

	client := &tusclient.Client{Endpoint: api + "/v1/uploads/", Token: token, ChunkSize: *chunk << 20, NoChecksum: true}
	f, err := os.Open(src)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	var upload, raw, disk []float64 // MiB/s
	for i := range *runs {
		d := timed(func() { copyToDisk(f, filepath.Join(work, "copy.bin"), size) })
		disk = append(disk, float64(*sizeMiB)/d.Seconds())
		os.Remove(filepath.Join(work, "copy.bin"))

		d = timed(func() {
			loc, err := client.Create(context.Background(), size, map[string]string{"filename": "random.bin"})
			if err != nil {
				log.Fatal(err)
			}
			err = client.Upload(context.Background(), loc, f, size, 0, nil)
			var se *tusclient.ServerError
			if err != nil && !(errors.As(err, &se) && se.Status == end) {
				log.Fatal(err)
			}
		})
		upload = append(upload, float64(*sizeMiB)/d.Seconds())

		d = timed(func() { sendfileUpload(client, src, size, end) })
		raw = append(raw, float64(*sizeMiB)/d.Seconds())
		fmt.Fprintf(os.Stderr, "run %d: disk %.0f MiB/s, tus client %.0f MiB/s, sendfile client %.0f MiB/s\n", i+1, disk[i], upload[i], raw[i])
	}
	mem := procStatus(srv.Process.Pid)
	u, r, dk := median(upload), median(raw), median(disk)
	fmt.Printf("| contender | median throughput | ratio to disk |\n|---|---|---|\n")
	fmt.Printf("| write to disk (same directory, fsync) | %.0f MiB/s | 1.00× |\n", dk)
	fmt.Printf("| upload to %s, reelay's tus client (%d MiB chunks) | %.0f MiB/s | %.2f× |\n", *tier, *chunk, u, u/dk)
	fmt.Printf("| upload to %s, one PATCH sent with sendfile | %.0f MiB/s | %.2f× |\n\n", *tier, r, r/dk)
	fmt.Printf("server memory after the runs: peak RSS (VmHWM) %d MiB; now %d MiB anonymous + %d MiB file-backed (shared libraries)\n",
		mem["VmHWM"]>>10, mem["RssAnon"]>>10, mem["RssFile"]>>10)
}

// sendfileUpload uploads the file at src, size bytes, in one tus PATCH whose body is the file
// itself, which net/http sends with sendfile(2), as tus-js-client sends a file (its default
// chunk size is unbounded): a load generator that costs the machine's two cores next to
// nothing, leaving them to the server.
func sendfileUpload(c *tusclient.Client, src string, size int64, end int) {
	loc, err := c.Create(context.Background(), size, map[string]string{"filename": "random.bin"})
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		log.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPatch, loc, f) // closed by the transport
	if err != nil {
		log.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != end {
		log.Fatalf("PATCH: %s", resp.Status)
	}
}

func writeRandom(path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 4<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		rand.Read(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			log.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// copyToDisk writes size bytes of src into a new file at dst and fsyncs it.
func copyToDisk(src *os.File, dst string, size int64) {
	f, err := os.Create(dst)
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 256<<10) // the server's copy buffer
	if _, err := io.CopyBuffer(f, io.NewSectionReader(src, 0, size), buf); err != nil {
		log.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	f.Close()
}

// procStatus returns the kB figures of /proc/PID/status by name (VmHWM, RssAnon, ...).
func procStatus(pid int) map[string]int64 {
	m := map[string]int64{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, rest, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(rest, " kB") {
			m[name], _ = strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
		}
	}
	return m
}

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
