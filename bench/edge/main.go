// Command edge measures reelay's edge cache against Varnish and nginx, in two benchmarks
// that it starts, runs and cleans up on its own, printing Markdown tables:
//
//		go build -o bin/reelay ./cmd/reelay && go run ./bench/edge
//
//	 1. Hit path: one `reelay edge` node (standalone), one Varnish (varnishd, the builtin VCL
//	    with the origin as its backend, malloc storage) and one nginx (one worker, proxy_cache)
//	    in front of the same origin, all started under `taskset -c 0`, all warmed. Then
//	    `taskset -c 1 wrk -t1 -c50 -d10s --latency` against each for a master playlist and a
//	    segment, the servers in turn, the order reversed every other round, -rounds rounds;
//	    medians of requests/s, of p99 latency and of the server's CPU time per request (user
//	    and system, its child processes included, from /proc: the measure least moved by
//	    other jobs on a shared machine), of how busy wrk kept its own core (its CPU time over
//	    the run's length: near 100 %, the client, not the server, sets the pace), and every
//	    round. -baseline BIN runs a second
//	    `reelay edge` (the one before a change) as a fourth server in the same rounds. The
//	    origin serves the
//	    files -master and -segment (a real video's: package one with `reelay transcode --in
//	    SRC --out DIR` and pass DIR/master.m3u8 and DIR/1080p/seg_00002.m4s), or text and
//	    random bytes of the same sizes (1.3 KB, 1.1 MB). Without varnishd (install it with
//	    `apt-get install -y varnish`; -varnish names another binary) Varnish is skipped,
//	    saying so.
//	 2. Origin fetches per object: a 3-node reelay cluster (--join, --tuning local) against 3
//	    independent nginx caches, each with its own origin that counts fetches, on one seeded
//	    trace: -requests requests over -objects distinct 10 KB segments in Zipf(-zipf) order,
//	    each to a uniformly random node of the 3, from -workers goroutines.
//
// All traffic stays on 127.0.0.1; every process the benchmark starts is stopped by its PID.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type options struct {
	reelay, nginx, wrk string
	baseline           string
	varnish            string
	master, segment    string
	duration           time.Duration
	rounds, conns      int
	objects, requests  int
	zipf               float64
	seed               uint64
	workers            int
	size               int
	skipHit, skipFetch bool
}

func main() {
	var o options
	flag.StringVar(&o.reelay, "reelay", "bin/reelay", "reelay binary")
	flag.StringVar(&o.baseline, "baseline", "", "a second reelay binary (before a change) to run beside -reelay on the hit path")
	flag.StringVar(&o.nginx, "nginx", "/usr/sbin/nginx", "nginx binary")
	flag.StringVar(&o.varnish, "varnish", "/usr/sbin/varnishd", "varnishd binary; the hit path skips Varnish without it")
	flag.StringVar(&o.wrk, "wrk", "/usr/bin/wrk", "wrk binary")
	flag.StringVar(&o.master, "master", "", "master playlist the origin serves on the hit path; default 1,346 bytes of text")
	flag.StringVar(&o.segment, "segment", "", "segment the origin serves on the hit path; default 1,119,846 random bytes")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each wrk run")
	flag.IntVar(&o.rounds, "rounds", 3, "wrk runs of each server and object")
	flag.IntVar(&o.conns, "conns", 50, "wrk connections")
	flag.IntVar(&o.objects, "objects", 2000, "distinct objects of the fetch trace")
	flag.IntVar(&o.requests, "requests", 20000, "requests of the fetch trace")
	flag.Float64Var(&o.zipf, "zipf", 0.9, "Zipf exponent of the fetch trace")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the fetch trace")
	flag.IntVar(&o.workers, "workers", 16, "concurrent requests of the fetch trace")
	flag.IntVar(&o.size, "size", 10<<10, "object size of the fetch trace, bytes")
	flag.BoolVar(&o.skipHit, "skip-hit", false, "skip the hit-path benchmark")
	flag.BoolVar(&o.skipFetch, "skip-fetch", false, "skip the origin-fetch benchmark")
	flag.Parse()
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	tmp, err := os.MkdirTemp("", "bench-edge-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if !o.skipHit {
		if err := hitPath(o, tmp); err != nil {
			return err
		}
	}
	if !o.skipFetch {
		return fetchesPerObject(o, tmp)
	}
	return nil
}

// wrkResult is one wrk run.
type wrkResult struct {
	rps    float64
	p99    time.Duration
	cpu    time.Duration // the server's CPU time per request
	client float64       // wrk's CPU time over the run's length: how busy its core was, 0 to 1
	errors string        // wrk's error lines, if any
}

func hitPath(o options, tmp string) error {
	playlist, segment := syntheticPlaylist(1346), syntheticSegment(1119846)
	var err error
	if o.master != "" {
		if playlist, err = os.ReadFile(o.master); err != nil {
			return err
		}
	}
	if o.segment != "" {
		if segment, err = os.ReadFile(o.segment); err != nil {
			return err
		}
	}
	org, err := startOrigin(playlist, segment)
	if err != nil {
		return err
	}
	defer org.close()
	pin := []string{"taskset", "-c", "0"}
	rl, _, err := startReelay(o.reelay, org.url, "", pin)
	if err != nil {
		return err
	}
	defer rl.stop()
	servers := []*proc{rl}
	if o.baseline != "" {
		bl, _, err := startReelay(o.baseline, org.url, "", pin)
		if err != nil {
			return err
		}
		defer bl.stop()
		bl.name = "baseline"
		servers = append(servers, bl)
	}
	if _, err := os.Stat(o.varnish); err != nil {
		fmt.Fprintf(os.Stderr, "Varnish skipped: no varnishd at %s (%v); install it with %s, or point -varnish at it\n", o.varnish, err, varnishInstall)
	} else {
		vn, err := startVarnish(o.varnish, tmp, org.url, pin)
		if err != nil {
			return err
		}
		defer vn.stop()
		servers = append(servers, vn)
	}
	ng, err := startNginx(o.nginx, tmp, org.url, pin)
	if err != nil {
		return err
	}
	defer ng.stop()
	servers = append(servers, ng)

	id := videoID(0)
	objects := []struct{ name, path string }{
		{fmt.Sprintf("%s master playlist", fmtSize(len(playlist))), "/v/" + id + "/master.m3u8"},
		{fmt.Sprintf("%s segment", fmtSize(len(segment))), "/v/" + id + "/1080p/seg_00002.m4s"},
	}
	for _, obj := range objects {
		for _, s := range servers {
			if err := warm(s.url+obj.path, 4); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}

	fmt.Printf("### Hit path (wrk -t1 -c%d -d%s, servers on core 0, wrk on core 1; medians of %d rounds, the order reversed every other round)\n\n", o.conns, o.duration, o.rounds)
	fmt.Printf("load average before: %s\n\n", loadAvg())
	fmt.Printf("| object | server | requests/s | p99 latency | CPU per request | wrk's core busy | rounds (requests/s, p99, CPU per request, wrk's core busy) |\n|---|---|---|---|---|---|---|\n")
	var ratios []string
	for _, obj := range objects {
		res := map[string][]wrkResult{}
		for r := range o.rounds {
			order := slices.Clone(servers)
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, s := range order {
				cpu0 := cpuTime(s.cmd.Process.Pid)
				w, err := runWrk(o, s.url+obj.path)
				if err != nil {
					return fmt.Errorf("wrk %s %s: %w", s.name, obj.name, err)
				}
				if n := w.rps * o.duration.Seconds(); n > 0 {
					w.cpu = time.Duration(float64(cpuTime(s.cmd.Process.Pid)-cpu0) / n)
				}
				fmt.Fprintf(os.Stderr, "%s %s round %d: %.0f req/s, p99 %s, CPU %s per request, wrk's core %.0f%% busy %s (load %s)\n", obj.name, s.name, r+1, w.rps, w.p99, fmtLatency(w.cpu), 100*w.client, w.errors, loadAvg())
				res[s.name] = append(res[s.name], w)
			}
		}
		med := map[string][3]float64{}
		for _, s := range servers {
			var rps, p99, cpu, client []float64
			var runs []string
			for _, w := range res[s.name] {
				rps = append(rps, w.rps)
				p99 = append(p99, float64(w.p99))
				cpu = append(cpu, float64(w.cpu))
				client = append(client, w.client)
				run := fmt.Sprintf("%.0f, %s, %s, %.0f %%", w.rps, fmtLatency(w.p99), fmtLatency(w.cpu), 100*w.client)
				if w.errors != "" {
					run += " (" + w.errors + ")"
				}
				runs = append(runs, run)
			}
			med[s.name] = [3]float64{median(rps), median(p99), median(cpu)}
			fmt.Printf("| %s | %s | %.0f | %s | %s | %.0f %% | %s |\n", obj.name, s.name, median(rps),
				fmtLatency(time.Duration(median(p99))), fmtLatency(time.Duration(median(cpu))), 100*median(client), strings.Join(runs, "; "))
		}
		for _, s := range servers[1:] {
			ratios = append(ratios, fmt.Sprintf("| %s | reelay/%s | %.2f× | %.2f× | %.2f× |", obj.name, s.name,
				med["reelay"][0]/med[s.name][0], med["reelay"][1]/med[s.name][1], med["reelay"][2]/med[s.name][2]))
		}
	}
	fmt.Printf("\n| object | ratio | requests/s | p99 | CPU per request |\n|---|---|---|---|---|\n%s\n\n", strings.Join(ratios, "\n"))
	fmt.Printf("load average after: %s\n\n", loadAvg())
	fmt.Fprintf(os.Stderr, "origin fetches of the hit path: %v\n", org.fetches())
	return nil
}

// loadAvg returns the system's 1, 5 and 15 minute load averages, as uptime prints them.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return "unknown"
}

// cpuTime returns the user and system CPU time that process pid and its descendants have
// used so far (Varnish serves from a child of the process started), from /proc.
func cpuTime(pid int) time.Duration {
	type stat struct {
		ppid  int
		ticks int64
	}
	procs := map[int]stat{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command, which is in parentheses and may hold spaces.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		procs[p] = stat{ppid, utime + stime}
	}
	var ticks int64
	for p, st := range procs {
		for q := p; q > 1; q = procs[q].ppid {
			if q == pid {
				ticks += st.ticks
				break
			}
			if _, ok := procs[q]; !ok {
				break
			}
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux everywhere.
const clockTicks = 100

// fmtSize writes n bytes as KB or MB (decimal, as the figures).
func fmtSize(n int) string {
	if n >= 1e6 {
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f KB", float64(n)/1e3)
}

// warm GETs url n times and checks the body.
func warm(url string, n int) error {
	for range n {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) == 0 {
			return fmt.Errorf("GET %s: %d, %d bytes", url, resp.StatusCode, len(b))
		}
	}
	return nil
}

// runWrk runs wrk on core 1 against url, bounded in time.
func runWrk(o options, url string) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "taskset", "-c", "1", o.wrk, "-t1", "-c"+strconv.Itoa(o.conns),
		"-d"+strconv.Itoa(int(o.duration.Seconds()))+"s", "--timeout", "5s", "--latency", url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("%w: %s", err, out.String())
	}
	w, err := parseWrk(out.String())
	// taskset execs wrk, so the process's times are wrk's.
	w.client = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds() / o.duration.Seconds()
	return w, err
}

// parseWrk reads Requests/sec, the 99% line of --latency, and any error lines.
func parseWrk(out string) (wrkResult, error) {
	var w wrkResult
	var errs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			w.rps, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "99%":
			w.p99, _ = time.ParseDuration(f[1])
		case strings.Contains(line, "Socket errors") || strings.Contains(line, "Non-2xx"):
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	w.errors = strings.Join(errs, "; ")
	if w.rps == 0 || w.p99 == 0 {
		return w, fmt.Errorf("cannot parse wrk output: %s", out)
	}
	return w, nil
}

func fetchesPerObject(o options, tmp string) error {
	trace := zipfTrace(o)
	distinct := map[int]bool{}
	for _, t := range trace {
		distinct[t.object] = true
	}
	path := func(obj int) string { return "/v/" + videoID(obj) + "/720p/seg_00001.m4s" }

	// reelay: three nodes, joined.
	rorg, err := startOrigin(syntheticPlaylist(1<<10), syntheticSegment(o.size))
	if err != nil {
		return err
	}
	defer rorg.close()
	var nodes []*proc
	defer func() {
		for _, p := range nodes {
			p.stop()
		}
	}()
	seed := ""
	for range 3 {
		p, gossip, err := startReelay(o.reelay, rorg.url, seed, nil)
		if err != nil {
			return err
		}
		nodes = append(nodes, p)
		if seed == "" {
			seed = gossip
		}
	}
	if err := waitMembers(nodes, 3); err != nil {
		return err
	}
	rdur, err := replay(trace, nodes, path, o.workers, o.size)
	if err != nil {
		return fmt.Errorf("reelay: %w", err)
	}
	reported := originFetches(nodes)

	// nginx: three independent caches.
	norg, err := startOrigin(syntheticPlaylist(1<<10), syntheticSegment(o.size))
	if err != nil {
		return err
	}
	defer norg.close()
	var caches []*proc
	defer func() {
		for _, p := range caches {
			p.stop()
		}
	}()
	for range 3 {
		p, err := startNginx(o.nginx, tmp, norg.url, nil)
		if err != nil {
			return err
		}
		caches = append(caches, p)
	}
	ndur, err := replay(trace, caches, path, o.workers, o.size)
	if err != nil {
		return fmt.Errorf("nginx: %w", err)
	}

	fmt.Printf("### Origin fetches per object (%d requests, %d objects of %d KB in Zipf(%.1f) order, seed %d, each to a random node of 3, %d concurrent)\n\n",
		o.requests, o.objects, o.size>>10, o.zipf, o.seed, o.workers)
	fmt.Printf("| system | requests | distinct objects | origin fetches | fetches per object | objects fetched more than once | replay time |\n|---|---|---|---|---|---|---|\n")
	for _, s := range []struct {
		name string
		org  *origin
		dur  time.Duration
	}{{"reelay, 3-node cluster", rorg, rdur}, {"nginx, 3 independent caches", norg, ndur}} {
		total, multi := 0, 0
		for _, n := range s.org.fetches() {
			total += n
			if n > 1 {
				multi++
			}
		}
		fmt.Printf("| %s | %d | %d | %d | %.2f | %d | %s |\n", s.name, len(trace), len(distinct), total,
			float64(total)/float64(len(distinct)), multi, s.dur.Round(10*time.Millisecond))
	}
	fmt.Printf("\n(reelay nodes' own origin_fetches counters sum to %d)\n", reported)
	return nil
}

// request is one request of the trace: an object, sent to one node.
type request struct{ object, node int }

// zipfTrace draws o.requests objects of o.objects by Zipf(o.zipf) (rank k has weight
// 1/k^s; math/rand's Zipf wants s > 1), each with a uniformly random node of 3.
func zipfTrace(o options) []request {
	r := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	cdf := make([]float64, o.objects)
	sum := 0.0
	for k := range cdf {
		sum += 1 / math.Pow(float64(k+1), o.zipf)
		cdf[k] = sum
	}
	trace := make([]request, o.requests)
	for i := range trace {
		obj := sort.SearchFloat64s(cdf, r.Float64()*sum)
		trace[i] = request{object: min(obj, o.objects-1), node: r.IntN(3)}
	}
	return trace
}

// replay sends the trace to nodes from workers goroutines, checking every answer.
func replay(trace []request, nodes []*proc, path func(int) string, workers, size int) (time.Duration, error) {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers},
	}
	defer client.CloseIdleConnections()
	next := make(chan request)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for t := range next {
				err := get(client, nodes[t.node].url+path(t.object), size)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, t := range trace {
		next <- t
	}
	close(next)
	wg.Wait()
	return time.Since(start), firstErr
}

func get(c *http.Client, url string, size int) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != int64(size) {
		return fmt.Errorf("GET %s: %d, %d bytes", url, resp.StatusCode, n)
	}
	return nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtLatency(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
