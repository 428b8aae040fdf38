// Command soak runs many transcodes of one short clip in one process, one after the other as a
// worker does (pipeline.Transcode into a file store), and prints the process's memory every
// -every transcodes, as a Markdown table: the resident set (VmRSS), the Go heap in use, and
// glibc malloc's own account (mallinfo2, over all its arenas): the memory it has taken from the
// system, how much of that is allocated, and how much it holds free. Resident memory that grows
// while malloc's allocated bytes stay flat is memory that malloc keeps, not a leak; allocated
// bytes that grow from transcode to transcode are a leak. glibc's MALLOC_ARENA_MAX environment
// variable bounds its number of arenas (one per thread that allocates, up to 8 per core).
//
//	go run ./bench/soak -n 200 -every 10
//	go run ./bench/soak -n 60 -size 1080x1920
//	MALLOC_ARENA_MAX=2 go run ./bench/soak -n 200
//
// Like reelay's transcoding commands, it turns transparent huge pages off for the process
// unless -huge-pages.
package main

/*
#include <malloc.h>
*/
import "C"

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 200, "transcodes to run")
	every := flag.Int("every", 10, "print the memory every this many transcodes")
	src := flag.String("src", "", "source clip; empty generates a 30 fps clip with audio")
	size := flag.String("size", "720x1280", "size of the generated clip (720x1280: three rungs)")
	seconds := flag.Float64("seconds", 2, "length of the generated clip")
	preset := flag.String("preset", "ultrafast", "libx264 preset")
	hugePages := flag.Bool("huge-pages", false, "keep transparent huge pages (reelay turns them off)")
	flag.Parse()

	if !*hugePages {
		if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
			log.Printf("could not turn transparent huge pages off: %v", err)
		}
	}
	astiav.SetLogLevel(astiav.LogLevelError)
	work, err := os.MkdirTemp("", "bench-soak-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	desc := *src
	if *src == "" {
		desc = fmt.Sprintf("a generated %s %ss clip", *size, strconv.FormatFloat(*seconds, 'f', -1, 64))
		*src = filepath.Join(work, "src.mp4")
		d := strconv.FormatFloat(*seconds, 'f', -1, 64)
		gen := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+*size+":rate=30:duration="+d,
			"-f", "lavfi", "-i", "sine=frequency=440:duration="+d, "-c:v", "libx264", "-preset", "ultrafast",
			"-c:a", "aac", "-shortest", *src)
		if out, err := gen.CombinedOutput(); err != nil {
			log.Fatalf("making the clip: %v\n%s", err, out)
		}
	}
	tc, err := transcoder.New(transcoder.Config{Preset: *preset})
	if err != nil {
		log.Fatal(err)
	}
	store, err := storage.NewFSWith(filepath.Join(work, "store"), storage.FSOptions{NoSync: true})
	if err != nil {
		log.Fatal(err)
	}

	fmt.Printf("%s, preset %s, MALLOC_ARENA_MAX=%s, huge pages %v, %d CPUs\n\n", desc, *preset, os.Getenv("MALLOC_ARENA_MAX"), *hugePages, runtime.NumCPU())
	fmt.Println("| transcodes | RSS MiB | Go heap MiB | malloc from system MiB | malloc allocated MiB | malloc free MiB | time |")
	fmt.Println("|---|---|---|---|---|---|---|")
	report := func(i int, took time.Duration) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mi := C.mallinfo2()
		system := uint64(mi.arena) + uint64(mi.hblkhd) // main arena + other arenas' heaps, and mmapped blocks
		used := uint64(mi.uordblks) + uint64(mi.hblkhd)
		fmt.Printf("| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %v |\n", i, float64(rss())/(1<<20), float64(ms.HeapInuse)/(1<<20),
			float64(system)/(1<<20), float64(used)/(1<<20), float64(mi.fordblks)/(1<<20), took.Round(time.Millisecond))
	}
	report(0, 0)
	ctx := context.Background()
	start := time.Now()
	for i := 1; i <= *n; i++ {
		prefix := fmt.Sprintf("videos/v%d/", i)
		if _, err := pipeline.Transcode(ctx, tc, transcoder.Input{Path: *src}, pipeline.Output{Store: store, Prefix: prefix}, nil); err != nil {
			log.Fatalf("transcode %d: %v", i, err)
		}
		if err := os.RemoveAll(filepath.Join(work, "store", "objects", prefix)); err != nil {
			log.Fatal(err)
		}
		if i%*every == 0 || i == *n {
			runtime.GC()
			report(i, time.Since(start))
		}
	}
}

// rss returns the process's resident set in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
