// Command transcode compares reelay's transcode pipeline with the FFmpeg CLI doing the same
// ladder (one decode, a filter_complex split, the same libx264 preset, bitrates, VBV and
// keyframe settings, AAC 128k, fMP4 HLS), on the same source, alternating runs. It reports the
// median wall time, CPU time (user+sys, all threads) and peak RSS of each and their ratios, as
// a Markdown table. On a shared machine the wall time mostly measures the other jobs: compare
// the CPU times, and for the exact work count instructions with valgrind --tool=cachegrind
// --cache-sim=no (GODEBUG=asyncpreemptoff=1 for reelay; about 8 minutes for the 10 s clip), as
// the hardware counters are not available here.
//
// The two do almost the same work. On the default 10 s clip reelay runs 1.0% more instructions
// (cachegrind: 115.97 G against 114.83 G). Decoding, filtering and encoding are the same FFmpeg
// and libx264 code doing the same work: reelay runs 113.38 G instructions in those libraries,
// the FFmpeg CLI 113.50 G in them and its own muxing together. reelay's 1.33 G in Go are the
// packager's Annex-B parsing for the AVCC conversion (0.77 G; FFmpeg's mov muxer does it in C),
// the Go runtime (0.25 G), the poster, which the FFmpeg command does not make (luma variance of
// the candidate frames, colour conversion and JPEG: 0.14 G, a fixed cost), and an MD5 per
// segment (0.12 G).
//
// reelay runs with --progressive, so that it also reports its time to playable: when
// master.m3u8 first appears, as an EVENT presentation, while the transcode goes on.
//
// reelay's transcoder turns transparent huge pages off for its process (see
// transcoder.Config.HugePages); the FFmpeg CLI runs as it comes, with the huge pages libx264
// asks for. -ffmpeg-no-thp runs FFmpeg without them too, and -reelay-huge-pages reelay with
// them, to compare the pipelines alone.
//
//	go build -o bin/reelay ./cmd/reelay && go run ./bench/transcode -runs 5
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// rung mirrors transcoder.DefaultLadder for a 1080x1920 source.
type rung struct {
	w, h    int
	bitrate int // kb/s
}

var ladder = []rung{{1080, 1920, 4500}, {720, 1280, 2500}, {540, 960, 1200}, {360, 640, 600}}

// withoutTHP is the first argument with which this program runs the rest of its arguments as
// a command with transparent huge pages off, as reelay's transcoder runs (Config.HugePages).
const withoutTHP = "-exec-without-thp"

func main() {
	if len(os.Args) > 2 && os.Args[1] == withoutTHP {
		execWithoutTHP(os.Args[2:])
	}
	src := flag.String("src", "", "source clip; empty generates a 1080x1920 30 fps clip with audio")
	ffmpegNoTHP := flag.Bool("ffmpeg-no-thp", false, "run FFmpeg with transparent huge pages off too, as reelay runs")
	reelayTHP := flag.Bool("reelay-huge-pages", false, "run reelay with transparent huge pages on (--huge-pages), as FFmpeg runs")
	seconds := flag.Int("seconds", 10, "length of the generated clip")
	runs := flag.Int("runs", 3, "runs of each contender")
	reelay := flag.String("reelay", "bin/reelay", "reelay binary")
	preset := flag.String("preset", "veryfast", "libx264 preset for both")
	flag.Parse()

	work, err := os.MkdirTemp("", "bench-transcode-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	if *src == "" {
		*src = filepath.Join(work, "src.mp4")
		gen := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1080x1920:rate=30",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", fmt.Sprint(*seconds),
			"-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "aac", "-shortest", *src)
		if out, err := gen.CombinedOutput(); err != nil {
			log.Fatalf("generating the source: %v\n%s", err, out)
		}
	}

	type contender struct {
		name string
		cmd  func(out string) *exec.Cmd
	}
	contenders := []contender{
		{"reelay", func(out string) *exec.Cmd {
			args := []string{"transcode", "--in", *src, "--out", out, "--preset", *preset, "--log-level", "error", "--progressive"}
			if *reelayTHP {
				args = append(args, "--huge-pages")
			}
			return exec.Command(*reelay, args...)
		}},
		{"ffmpeg", func(out string) *exec.Cmd {
			cmd := ffmpegLadder(*src, out, *preset)
			if *ffmpegNoTHP {
				self, err := os.Executable()
				if err != nil {
					log.Fatal(err)
				}
				cmd = exec.Command(self, append([]string{withoutTHP, cmd.Path}, cmd.Args[1:]...)...)
			}
			return cmd
		}},
	}
	wall := map[string][]time.Duration{}
	var playable []time.Duration        // reelay's time to playable, from its output
	var pairs []float64                 // reelay's wall time over ffmpeg's, per round
	cpu := map[string][]time.Duration{} // user+sys of the process and its threads
	rss := map[string][]int64{}
	for i := range *runs {
		// Each goes first in every other run, so that an effect of the order does not always fall
		// on the same one (on the shared machine the first transcode of a batch often used about
		// 1 s more system time than the next ones).
		order := contenders
		if i%2 == 1 {
			order = []contender{contenders[1], contenders[0]}
		}
		for _, c := range order {
			out := filepath.Join(work, fmt.Sprintf("%s-%d", c.name, i))
			cmd := c.cmd(out)
			if c.name == "ffmpeg" {
				os.MkdirAll(out, 0o755)
			}
			cmd.Stdout, cmd.Stderr = nil, nil
			start := time.Now()
			b, err := cmd.CombinedOutput()
			if err != nil {
				log.Fatalf("%s: %v\n%s", c.name, err, b)
			}
			d := time.Since(start)
			if c.name == "reelay" {
				m := regexp.MustCompile(`playable after (\S+),`).FindSubmatch(b)
				if m == nil {
					log.Fatalf("reelay printed no time to playable:\n%s", b)
				}
				p, err := time.ParseDuration(string(m[1]))
				if err != nil {
					log.Fatal(err)
				}
				playable = append(playable, p)
			}
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			used := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			wall[c.name] = append(wall[c.name], d)
			cpu[c.name] = append(cpu[c.name], used)
			rss[c.name] = append(rss[c.name], ru.Maxrss) // KiB on Linux
			fmt.Fprintf(os.Stderr, "run %d %-6s %8.2fs wall %8.2fs cpu %6d MiB\n", i+1, c.name, d.Seconds(), used.Seconds(), ru.Maxrss>>10)
			os.RemoveAll(out)
		}
		n := len(wall["reelay"])
		pairs = append(pairs, wall["reelay"][n-1].Seconds()/wall["ffmpeg"][n-1].Seconds())
	}
	rw, fw := median(wall["reelay"]), median(wall["ffmpeg"])
	rc, fc := median(cpu["reelay"]), median(cpu["ffmpeg"])
	rr, fr := median(rss["reelay"]), median(rss["ffmpeg"])
	fmt.Printf("| contender | median wall | median CPU (user+sys) | median peak RSS |\n|---|---|---|---|\n")
	fmt.Printf("| reelay transcode | %.2f s | %.2f s | %d MiB |\n", rw.Seconds(), rc.Seconds(), rr>>10)
	fmt.Printf("| ffmpeg CLI | %.2f s | %.2f s | %d MiB |\n", fw.Seconds(), fc.Seconds(), fr>>10)
	fmt.Printf("| ratio reelay/ffmpeg | %.2f× | %.2f× | %.2f× |\n", rw.Seconds()/fw.Seconds(), rc.Seconds()/fc.Seconds(), float64(rr)/float64(fr))
	slices.Sort(pairs)
	fmt.Printf("\nwall-time ratio per round (each round runs both back to back): median %.3f×, range %.3f× to %.3f×\n",
		median(pairs), pairs[0], pairs[len(pairs)-1])
	fmt.Printf("reelay time to playable (--progressive): median %.2f s, against %.2f s to complete\n",
		median(playable).Seconds(), rw.Seconds())
}

// ffmpegLadder is the FFmpeg CLI doing what reelay's transcoder does: deinterlace-if-needed,
// constant 30 fps, split, scale each rung (bicubic), libx264 High with the rung's bitrate,
// maxrate 1.1×, bufsize 2×, no scene-cut keyframes, IDR frames forced every 2 s, AAC-LC 128k
// 48 kHz stereo, and 2 s fMP4 HLS segments with a master playlist.
func ffmpegLadder(src, out, preset string) *exec.Cmd {
	var fc strings.Builder
	fmt.Fprintf(&fc, "[0:v]yadif=mode=send_frame:deint=interlaced,fps=fps=30:start_time=0:round=near,split=%d", len(ladder))
	for i := range ladder {
		fmt.Fprintf(&fc, "[s%d]", i)
	}
	for i, r := range ladder {
		fmt.Fprintf(&fc, ";[s%d]scale=w=%d:h=%d:flags=bicubic,format=pix_fmts=yuv420p,setsar=1[v%d]", i, r.w, r.h, i)
	}
	args := []string{"-v", "error", "-y", "-i", src, "-filter_complex", fc.String()}
	var streamMap []string
	for i, r := range ladder {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i),
			fmt.Sprintf("-c:v:%d", i), "libx264", fmt.Sprintf("-preset:v:%d", i), preset,
			fmt.Sprintf("-profile:v:%d", i), "high",
			fmt.Sprintf("-b:v:%d", i), fmt.Sprintf("%dk", r.bitrate),
			fmt.Sprintf("-maxrate:v:%d", i), fmt.Sprintf("%dk", r.bitrate*11/10),
			fmt.Sprintf("-bufsize:v:%d", i), fmt.Sprintf("%dk", r.bitrate*2))
		streamMap = append(streamMap, fmt.Sprintf("v:%d,agroup:aud", i))
	}
	args = append(args, "-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
		"-g", "120", "-x264-params", "scenecut=0:open-gop=0:keyint=120", "-forced-idr", "1",
		"-force_key_frames", "expr:gte(t,n_forced*2)",
		"-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
		"-hls_segment_filename", filepath.Join(out, "v%v_%05d.m4s"), "-hls_fmp4_init_filename", "init_%v.mp4",
		"-master_pl_name", "master.m3u8",
		"-var_stream_map", strings.Join(append(streamMap, "a:0,agroup:aud"), " "),
		filepath.Join(out, "v%v.m3u8"))
	return exec.Command("ffmpeg", args...)
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// execWithoutTHP turns transparent huge pages off for this process and its children
// (PR_SET_THP_DISABLE survives exec) and replaces itself with args.
func execWithoutTHP(args []string) {
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		log.Fatalf("prctl: %v", err)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(syscall.Exec(path, args, os.Environ()))
}
