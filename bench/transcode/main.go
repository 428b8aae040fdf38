// Command transcode compares reelay's transcode pipeline with the FFmpeg CLI doing the same
// ladder (one decode, a filter_complex split, libx264 with the same bitrates, VBV and keyframe
// settings, AAC 128k, fMP4 HLS), on the same source, alternating runs. It reports the median
// wall time, CPU time (user+sys, all threads) and peak RSS of each and their ratios, as a
// Markdown table. On a shared machine the wall time mostly measures the other jobs: compare
// the CPU times, and for the exact work count instructions with valgrind --tool=cachegrind
// --cache-sim=no (GODEBUG=asyncpreemptoff=1 for reelay; about 8 minutes for the 10 s clip), as
// the hardware counters are not available here.
//
// Each side runs its default: reelay its own preset ("reelay": x264's veryfast with
// me=dia:bframes=2), the FFmpeg CLI -preset veryfast. -ffmpeg-x264-params me=dia:bframes=2
// gives the CLI reelay's parameters, to compare the pipelines alone; -reelay-preset veryfast
// gives reelay x264's preset. With the same parameters the two do almost the same work: before
// the cascade (bench/RESULTS.md), reelay ran 1.0% more instructions than the CLI on the default
// 10 s clip (cachegrind: 115.97 G against 114.83 G), the difference being its Go code: the
// packager, the Go runtime, the poster (which the FFmpeg command does not make) and an MD5 per
// segment.
//
// In the first round it also measures what each contender's rungs look like: every rung's SSIM
// and PSNR against the source, scaled to the rung with the scaler both use (bicubic), through
// FFmpeg's ssim and psnr filters (-quality=false skips it). A speed-up that costs quality is
// not a speed-up. -baseline runs a second reelay binary (the one before a change) as a third
// contender in the same rounds, so that before and after are each compared with the same
// FFmpeg runs. Each run's line gives the load average, for a shared machine.
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
	preset := flag.String("preset", "veryfast", "the FFmpeg CLI's libx264 preset")
	ffmpegParams := flag.String("ffmpeg-x264-params", "", "more x264 parameters for the FFmpeg CLI, key=value:key=value (me=dia:bframes=2 is what reelay's default preset adds to veryfast)")
	reelayPreset := flag.String("reelay-preset", "", "reelay's --preset (empty: each reelay binary's default)")
	quality := flag.Bool("quality", true, "measure every rung's SSIM and PSNR against the source, in the first round")
	baseline := flag.String("baseline", "", "another reelay binary (before a change) to run as a third contender in the same rounds")
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
	reelayCmd := func(bin string) func(out string) *exec.Cmd {
		return func(out string) *exec.Cmd {
			args := []string{"transcode", "--in", *src, "--out", out, "--log-level", "error", "--progressive"}
			if *reelayPreset != "" {
				args = append(args, "--preset", *reelayPreset)
			}
			if *reelayTHP {
				args = append(args, "--huge-pages")
			}
			return exec.Command(bin, args...)
		}
	}
	contenders := []contender{
		{"reelay", reelayCmd(*reelay)},
		{"ffmpeg", func(out string) *exec.Cmd {
			cmd := ffmpegLadder(*src, out, *preset, *ffmpegParams)
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
	if *baseline != "" {
		contenders = append(contenders, contender{"baseline", reelayCmd(*baseline)})
	}
	reelays := []string{"reelay"} // the contenders compared with ffmpeg
	if *baseline != "" {
		reelays = append(reelays, "baseline")
	}
	wall := map[string][]time.Duration{}
	playable := map[string][]time.Duration{} // a reelay's time to playable, from its output
	wallRatio := map[string][]float64{}      // a reelay's wall time over ffmpeg's, per round
	cpuRatio := map[string][]float64{}       // the same for CPU time
	cpu := map[string][]time.Duration{}      // user+sys of the process and its threads
	rss := map[string][]int64{}
	var loads []string
	qualities := map[string][]rungQuality{}
	for i := range *runs {
		// The order rotates from round to round, so that an effect of the order does not always
		// fall on the same one (on the shared machine the first transcode of a batch often used
		// about 1 s more system time than the next ones).
		order := append(slices.Clone(contenders[i%len(contenders):]), contenders[:i%len(contenders)]...)
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
			if c.name != "ffmpeg" {
				m := regexp.MustCompile(`playable after (\S+),`).FindSubmatch(b)
				if m == nil {
					log.Fatalf("reelay printed no time to playable:\n%s", b)
				}
				p, err := time.ParseDuration(string(m[1]))
				if err != nil {
					log.Fatal(err)
				}
				playable[c.name] = append(playable[c.name], p)
			}
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			used := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			wall[c.name] = append(wall[c.name], d)
			cpu[c.name] = append(cpu[c.name], used)
			rss[c.name] = append(rss[c.name], ru.Maxrss) // KiB on Linux
			load := loadAverage()
			loads = append(loads, load)
			tp := ""
			if p := playable[c.name]; len(p) > 0 {
				tp = fmt.Sprintf("  playable after %.2fs", p[len(p)-1].Seconds())
			}
			fmt.Fprintf(os.Stderr, "run %d %-8s %8.2fs wall %8.2fs cpu %6d MiB  load %s%s\n", i+1, c.name, d.Seconds(), used.Seconds(), ru.Maxrss>>10, load, tp)
			if i == 0 && *quality {
				q, err := measureQuality(*src, out, c.name)
				if err != nil {
					log.Fatalf("%s: measuring quality: %v", c.name, err)
				}
				qualities[c.name] = q
			}
			os.RemoveAll(out)
		}
		n := len(wall["ffmpeg"])
		var line []string
		for _, r := range reelays {
			wr := wall[r][n-1].Seconds() / wall["ffmpeg"][n-1].Seconds()
			cr := cpu[r][n-1].Seconds() / cpu["ffmpeg"][n-1].Seconds()
			wallRatio[r], cpuRatio[r] = append(wallRatio[r], wr), append(cpuRatio[r], cr)
			line = append(line, fmt.Sprintf("%s/ffmpeg wall %.3f× cpu %.3f×", r, wr, cr))
		}
		fmt.Fprintf(os.Stderr, "round %d: %s\n", i+1, strings.Join(line, ", "))
	}

	names := append(slices.Clone(reelays), "ffmpeg")
	fmt.Printf("| contender | median wall | median CPU (user+sys) | median peak RSS | median time to playable |\n|---|---|---|---|---|\n")
	for _, name := range names {
		tp := "–"
		if p := playable[name]; len(p) > 0 {
			tp = fmt.Sprintf("%.2f s", median(p).Seconds())
		}
		fmt.Printf("| %s | %.2f s | %.2f s | %d MiB | %s |\n", name, median(wall[name]).Seconds(), median(cpu[name]).Seconds(), median(rss[name])>>10, tp)
	}
	for _, r := range reelays {
		fmt.Printf("| ratio %s/ffmpeg (medians) | %.2f× | %.2f× | %.2f× | |\n", r,
			median(wall[r]).Seconds()/median(wall["ffmpeg"]).Seconds(), median(cpu[r]).Seconds()/median(cpu["ffmpeg"]).Seconds(),
			float64(median(rss[r]))/float64(median(rss["ffmpeg"])))
	}
	fmt.Printf("\nPer round (the contenders run back to back; ratios to that round's ffmpeg run):\n\n| round | load average (1, 5, 15 min) at each run, in run order |")
	for _, r := range reelays {
		fmt.Printf(" %s wall ratio | %s CPU ratio | %s RSS |", r, r, r)
	}
	fmt.Printf(" ffmpeg RSS |\n|---|---|%s---|\n", strings.Repeat("---|---|---|", len(reelays)))
	for i := range *runs {
		fmt.Printf("| %d | %s |", i+1, strings.Join(loads[i*len(contenders):(i+1)*len(contenders)], "; "))
		for _, r := range reelays {
			fmt.Printf(" %.3f× | %.3f× | %d MiB |", wallRatio[r][i], cpuRatio[r][i], rss[r][i]>>10)
		}
		fmt.Printf(" %d MiB |\n", rss["ffmpeg"][i]>>10)
	}
	fmt.Println()
	for _, r := range reelays {
		w, c := slices.Sorted(slices.Values(wallRatio[r])), slices.Sorted(slices.Values(cpuRatio[r]))
		fmt.Printf("%s/ffmpeg per round: wall median %.3f× (%.3f× to %.3f×), CPU median %.3f× (%.3f× to %.3f×)\n",
			r, median(w), w[0], w[len(w)-1], median(c), c[0], c[len(c)-1])
	}
	if *quality {
		printQuality(names, qualities)
	}
}

// rungQuality is one rung's likeness to the source.
type rungQuality struct {
	rung       rung
	ssim, psnr float64 // SSIM of all planes; PSNR average over the planes, in dB
}

// measureQuality compares every rung a contender wrote under out with the source.
func measureQuality(src, out, contender string) ([]rungQuality, error) {
	var qs []rungQuality
	for i, r := range ladder {
		// Each rung's init segment and media segments, end to end, are one fragmented MP4.
		var init, segs string
		if contender == "ffmpeg" {
			init, segs = filepath.Join(out, fmt.Sprintf("init_%d.mp4", i)), filepath.Join(out, fmt.Sprintf("v%d_*.m4s", i))
		} else {
			dir := filepath.Join(out, fmt.Sprintf("%dp", r.w))
			init, segs = filepath.Join(dir, "init.mp4"), filepath.Join(dir, "seg_*.m4s")
		}
		files, err := filepath.Glob(segs)
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("no segments %s", segs)
		}
		slices.Sort(files)
		var b []byte
		for _, f := range append([]string{init}, files...) {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			b = append(b, data...)
		}
		joined := filepath.Join(out, fmt.Sprintf("rung%d.mp4", i))
		if err := os.WriteFile(joined, b, 0o644); err != nil {
			return nil, err
		}
		ssim, psnr, err := compare(src, joined, r)
		if err != nil {
			return nil, fmt.Errorf("%dx%d: %w", r.w, r.h, err)
		}
		qs = append(qs, rungQuality{rung: r, ssim: ssim, psnr: psnr})
	}
	return qs, nil
}

var (
	ssimAll  = regexp.MustCompile(`SSIM Y:.* All:([0-9.]+)`)
	psnrMean = regexp.MustCompile(`PSNR y:.* average:([0-9.inf]+)`)
)

// compare returns the SSIM and PSNR of dist against src scaled to r (bicubic, as both
// contenders scale). Frames are paired by their index: both streams are retimed to 0, 1, 2, ...
// in one time base (pairing by the original timestamps, in time bases of 1/90000 and 1/15360,
// paired frames one apart in FFmpeg 5.1's framesync).
func compare(src, dist string, r rung) (ssim, psnr float64, err error) {
	graph := fmt.Sprintf("[0:v]settb=1/30,setpts=N,format=yuv420p,split[d0][d1];"+
		"[1:v]scale=w=%d:h=%d:flags=bicubic,format=yuv420p,settb=1/30,setpts=N,split[r0][r1];"+
		"[d0][r0]ssim=shortest=1;[d1][r1]psnr=shortest=1", r.w, r.h)
	out, err := exec.Command("ffmpeg", "-nostats", "-i", dist, "-i", src, "-filter_complex", graph, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("%v\n%s", err, out)
	}
	ms, mp := ssimAll.FindSubmatch(out), psnrMean.FindSubmatch(out)
	if ms == nil || mp == nil {
		return 0, 0, fmt.Errorf("no SSIM or PSNR in FFmpeg's output:\n%s", out)
	}
	fmt.Sscan(string(ms[1]), &ssim)
	fmt.Sscan(string(mp[1]), &psnr)
	return ssim, psnr, nil
}

// printQuality prints the SSIM and PSNR table, one row per rung, and each reelay's SSIM less
// ffmpeg's.
func printQuality(names []string, qs map[string][]rungQuality) {
	fmt.Printf("\nQuality against the source scaled to the rung (first round):\n\n| rung |")
	for _, n := range names {
		fmt.Printf(" %s SSIM | %s PSNR |", n, n)
	}
	for _, n := range names[:len(names)-1] {
		fmt.Printf(" SSIM %s − ffmpeg |", n)
	}
	fmt.Printf("\n|---|%s\n", strings.Repeat("---|", 3*len(names)-1))
	for i, r := range ladder {
		fmt.Printf("| %dx%d |", r.w, r.h)
		for _, n := range names {
			fmt.Printf(" %.5f | %.2f dB |", qs[n][i].ssim, qs[n][i].psnr)
		}
		for _, n := range names[:len(names)-1] {
			fmt.Printf(" %+.5f |", qs[n][i].ssim-qs["ffmpeg"][i].ssim)
		}
		fmt.Println()
	}
}

// loadAverage returns the machine's load averages over 1, 5 and 15 minutes.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// ffmpegLadder is the FFmpeg CLI doing what reelay's transcoder does: deinterlace-if-needed,
// constant 30 fps, split, scale each rung (bicubic), libx264 High with the rung's bitrate,
// maxrate 1.1×, bufsize 2×, no scene-cut keyframes, IDR frames forced every 2 s, AAC-LC 128k
// 48 kHz stereo, and 2 s fMP4 HLS segments with a master playlist.
func ffmpegLadder(src, out, preset, x264Params string) *exec.Cmd {
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
		"-g", "120", "-x264-params", strings.TrimSuffix("scenecut=0:open-gop=0:keyint=120:"+x264Params, ":"), "-forced-idr", "1",
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
