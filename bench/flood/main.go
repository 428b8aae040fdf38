// Command flood measures what `reelay up` survives of a flood of idle connections to its edge,
// the attack of issue 11: each -reelay binary in turn, -rounds times, alternating:
//
//	go build -o bin/reelay ./cmd/reelay && go run ./bench/flood -reelay reelay-before,bin/reelay
//
// It starts `reelay up` under the open files limit -files (prlimit), opens -conns idle TCP
// connections to the edge from -addrs loopback addresses (127.0.0.2 upwards), holds them for
// -hold, then closes them. All the while a normal client on 127.0.0.1 asks the edge's and the
// API's /healthz every 100 ms, each time on a new connection with a 2 s timeout. It prints, per
// binary, whether the process lived, the share of those requests answered during the flood
// and after it, their latency, and the edge's refused connections (its /metrics, with the
// token REELAY_METRICS_TOKEN). The benchmark raises its own soft open files limit to the hard
// one, which must leave room for -conns: reelay's limit is set lower than that (-files) for
// the flood to exhaust it.
//
// All traffic stays on 127.0.0.0/8; every process the benchmark starts is stopped by its PID.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const metricsToken = "bench-flood-metrics-token"

func main() {
	bins := flag.String("reelay", "bin/reelay", "comma-separated reelay binaries, measured in turn")
	rounds := flag.Int("rounds", 3, "runs of each binary")
	conns := flag.Int("conns", 15000, "idle connections of the flood")
	addrs := flag.Int("addrs", 40, "loopback source addresses of the flood")
	files := flag.Int("files", 10000, "open files limit (soft and hard) of reelay up")
	hold := flag.Duration("hold", 15*time.Second, "how long the flood holds its connections")
	flag.Parse()
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		log.Fatal(err)
	}
	if need := uint64(*conns + 1024); own.Max < need {
		log.Fatalf("the flood needs %d open files, more than the hard limit %d: lower -conns", need, own.Max)
	}
	own.Cur = own.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("### %d idle connections to the edge of `reelay up` (open files limit %d), held %v from %d addresses\n\n",
		*conns, *files, *hold, *addrs)
	fmt.Println("| reelay | process | answered during the flood (edge, API) | after it | p50, p99 of those answered | edge refused |")
	fmt.Println("|---|---|---|---|---|---|")
	for round := range *rounds {
		for _, bin := range strings.Split(*bins, ",") {
			r := measure(bin, *files, *conns, *addrs, *hold)
			fmt.Printf("| %s (run %d) | %s | %s, %s | %s | %v, %v | %s |\n", bin, round+1, r.process,
				r.during[0].share(), r.during[1].share(), r.after.share(), r.p50, r.p99, r.refused)
		}
	}
}

// tally counts a normal client's requests, and their latencies.
type tally struct {
	mu       sync.Mutex
	sent, ok int
	lat      []time.Duration
}

func (t *tally) add(d time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent++
	if ok {
		t.ok++
		t.lat = append(t.lat, d)
	}
}

func (t *tally) share() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("%d/%d", t.ok, t.sent)
}

type result struct {
	process  string
	during   [2]*tally // edge, API
	after    *tally
	p50, p99 time.Duration
	refused  string
}

func measure(bin string, files, conns, addrs int, hold time.Duration) result {
	dir, err := os.MkdirTemp("", "bench-flood-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	lim := strconv.Itoa(files)
	cmd := exec.Command("prlimit", "--nofile="+lim+":"+lim, bin, "up", "--data", dir, "--api-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--log-level", "error")
	cmd.Env = append(os.Environ(), "REELAY_METRICS_TOKEN="+metricsToken)
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	exited := make(chan struct{})
	var exitedAt atomic.Int64
	urls := map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		name, url, _ := strings.Cut(sc.Text(), " ")
		urls[name] = url
		if name == "origin" {
			break
		}
	}
	go io.Copy(io.Discard, out)
	go func() { cmd.Wait(); exitedAt.Store(time.Now().UnixNano()); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Signal(os.Interrupt)
			<-exited
		}
	}()
	if urls["edge"] == "" || urls["api"] == "" {
		log.Fatalf("%s up printed no listeners: %s", bin, stderr.String())
	}

	r := result{during: [2]*tally{{}, {}}, after: &tally{}}
	var phase atomic.Int32 // 0 flood, 1 after
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, url := range []string{urls["edge"], urls["api"]} {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				t := r.during[i]
				if phase.Load() == 1 {
					t = r.after
				}
				d, ok := probe(url + "/healthz")
				t.add(d, ok)
			}
		})
	}

	start := time.Now()
	flood := openFlood(urls["edge"], conns, addrs)
	time.Sleep(hold - time.Since(start))
	refused := scrape(urls["edge"])
	for _, c := range flood {
		c.Close()
	}
	phase.Store(1)
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	r.process = "up"
	select {
	case <-exited:
		r.process = fmt.Sprintf("exited %.1f s into the flood", time.Duration(exitedAt.Load()-start.UnixNano()).Seconds())
	default:
	}
	r.refused = refused
	var lat []time.Duration
	for _, t := range []*tally{r.during[0], r.during[1], r.after} {
		lat = append(lat, t.lat...)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond)
	}
	return r
}

// probe asks url on a new connection from 127.0.0.1.
func probe(url string) (time.Duration, bool) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return 0, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode == 200
}

// openFlood opens n idle connections to url's host from addrs loopback addresses, 16 at a time,
// and returns those that connected.
func openFlood(url string, n, addrs int) []net.Conn {
	host := strings.TrimPrefix(url, "http://")
	var (
		mu    sync.Mutex
		conns []net.Conn
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				from := net.IPv4(127, 0, 0, byte(2+i%addrs))
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 2 * time.Second}
				if c, err := d.Dial("tcp", host); err == nil {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return conns
}

// scrape returns the edge's refused connections, from its /metrics.
func scrape(url string) string {
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "no answer"
	}
	defer resp.Body.Close()
	var refused float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "reelay_listener_refused_connections_total{"); ok {
			_, num, _ := strings.Cut(v, "} ")
			f, _ := strconv.ParseFloat(num, 64)
			refused += f
			found = true
		}
	}
	if !found {
		return "not counted"
	}
	return strconv.FormatFloat(refused, 'f', 0, 64)
}
