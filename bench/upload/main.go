// Command upload measures tus upload throughput over loopback against writing the same bytes to
// the same disk, and the server's peak RSS. It starts `reelay up` as a separate process (no
// transcode workers), registers a user, and uploads a file of random bytes with reelay's tus
// client, alternating with a plain write of the same bytes into the same directory (fsync at
// the end, as the server fsyncs every chunk). It prints a Markdown table of medians.
//
//	go build -o bin/reelay ./cmd/reelay && go run ./bench/upload -size 1GiB -runs 3
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
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

	"github.com/reelay/reelay/internal/tusclient"
)

func main() {
	sizeMiB := flag.Int64("mib", 1024, "upload size in MiB")
	runs := flag.Int("runs", 3, "runs of each contender")
	chunk := flag.Int64("chunk-mib", 64, "tus chunk size in MiB")
	reelay := flag.String("reelay", "bin/reelay", "reelay binary")
	dir := flag.String("dir", "", "directory on the disk under test; empty is a new temporary directory")
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
	srv := exec.Command(*reelay, "up", "--data", data, "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--workers", "0", "--max-upload", strconv.FormatInt(size+1, 10), "--log-level", "warn")
	out, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	api := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if name, url, _ := strings.Cut(sc.Text(), " "); name == "api" {
			api = url
			break
		}
	}
	go io.Copy(io.Discard, out)
	token := login(api)

	client := &tusclient.Client{Endpoint: api + "/v1/uploads/", Token: token, ChunkSize: *chunk << 20, NoChecksum: true}
	f, err := os.Open(src)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	var upload, disk []float64 // MiB/s
	for i := range *runs {
		d := timed(func() { copyToDisk(f, filepath.Join(work, "copy.bin"), size) })
		disk = append(disk, float64(*sizeMiB)/d.Seconds())
		os.Remove(filepath.Join(work, "copy.bin"))

		d = timed(func() {
			loc, err := client.Create(context.Background(), size, map[string]string{"filename": "random.bin"})
			if err != nil {
				log.Fatal(err)
			}
			// The server refuses random bytes once they are all in (422 not_video): that is the
			// end of the upload, and what a creator's client waits for.
			err = client.Upload(context.Background(), loc, f, size, 0, nil)
			var se *tusclient.ServerError
			if err != nil && !(errors.As(err, &se) && se.Status == 422) {
				log.Fatal(err)
			}
		})
		upload = append(upload, float64(*sizeMiB)/d.Seconds())
		fmt.Fprintf(os.Stderr, "run %d: disk %.0f MiB/s, upload %.0f MiB/s\n", i+1, disk[i], upload[i])
	}
	mem := procStatus(srv.Process.Pid)
	u, dk := median(upload), median(disk)
	fmt.Printf("| contender | median throughput |\n|---|---|\n")
	fmt.Printf("| write to disk (same directory, fsync) | %.0f MiB/s |\n", dk)
	fmt.Printf("| tus upload over loopback (%d MiB chunks) | %.0f MiB/s |\n", *chunk, u)
	fmt.Printf("| ratio upload/disk | %.2f× |\n\n", u/dk)
	fmt.Printf("server memory after the runs: peak RSS (VmHWM) %d MiB; now %d MiB anonymous + %d MiB file-backed (shared libraries)\n",
		mem["VmHWM"]>>10, mem["RssAnon"]>>10, mem["RssFile"]>>10)
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

func login(api string) string {
	body := `{"handle":"bench","password":"correct horse"}`
	for _, path := range []string{"/v1/users", "/v1/sessions"} {
		resp, err := http.Post(api+path, "application/json", bytes.NewBufferString(body))
		if err != nil {
			log.Fatal(err)
		}
		var s struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if s.Token != "" {
			return s.Token
		}
	}
	log.Fatal("login failed")
	return ""
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
