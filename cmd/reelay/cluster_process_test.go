package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reelay/reelay/edge"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/ring"
	"github.com/reelay/reelay/storage"
)

// runMainEnv makes the test binary run the reelay command instead of the tests (see
// TestMain): the process tests start reelay as child processes without building it apart.
const runMainEnv = "REELAY_TEST_RUN_MAIN"

// TestProcessCluster runs one origin and three edges as separate reelay processes on
// loopback, with a proxy in the test process between the edges and the origin that counts the
// origin's fetches by path. Its subtests go in order through the life of one cluster, each
// starting from the state the one before left: a cluster-wide fetch per key, a graceful restart
// served from the disk tier, a node killed under load, and an origin outage.
func TestProcessCluster(t *testing.T) {
	busyTest(t)
	dir := t.TempDir()
	lib := fillStore(t, dir)
	origin := startProc(t, t, "origin", "origin", "--store", "file://"+dir, "--addr", "127.0.0.1:0")
	proxy := startProxy(t, origin.url)
	c := &procCluster{life: t, lib: lib, origin: origin, proxy: proxy, client: newTestClient(t)}
	for i := range 3 {
		e := &edgeProc{name: fmt.Sprintf("edge-%d", i+1), gossip: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), disk: t.TempDir()}
		var join []string
		if i > 0 {
			join = []string{c.edges[0].gossip}
		}
		c.start(t, e, join...)
		c.edges = append(c.edges, e)
	}
	c.waitStates(t, c.edges, map[string]string{"edge-1": "alive", "edge-2": "alive", "edge-3": "alive"})

	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"FetchesOncePerKey", c.testFetchesOncePerKey},
		{"RestartServesFromDisk", c.testRestartServesFromDisk},
		{"SurvivesNodeFailure", c.testSurvivesNodeFailure},
		{"OriginDownServesCached", c.testOriginDownServesCached},
	} {
		if !t.Run(step.name, step.run) {
			return // the next steps build on this one's state
		}
	}
}

// testFetchesOncePerKey sends 20 concurrent requests for each of 500 keys, spread over the three
// nodes, with a slow origin: the cluster fetches each key from the origin once.
func (c *procCluster) testFetchesOncePerKey(t *testing.T) {
	c.proxy.delay.Store(int64(20 * time.Millisecond)) // concurrent misses overlap
	defer c.proxy.delay.Store(0)
	const copies = 20
	c.getAll(t, c.edges, c.lib.cached, copies, nil)
	for _, p := range c.lib.cached {
		if n := c.proxy.count(p); n != 1 {
			t.Errorf("origin fetched %s %d times, want 1", p, n)
		}
	}
	var sum edge.Stats
	for _, e := range c.edges {
		s := c.stats(t, e)
		sum.Requests += s.Requests - s.PeerRequests
		sum.OriginFetches += s.OriginFetches
		sum.PeerFills += s.PeerFills
		sum.Coalesced += s.Coalesced
	}
	if want := int64(len(c.lib.cached) * copies); sum.Requests != want || sum.OriginFetches != int64(len(c.lib.cached)) {
		t.Errorf("client requests %d, origin fetches %d; want %d and %d", sum.Requests, sum.OriginFetches, want, len(c.lib.cached))
	}
	if sum.PeerFills == 0 || sum.Coalesced == 0 {
		t.Errorf("peer fills %d, coalesced %d: want both above 0", sum.PeerFills, sum.Coalesced)
	}
}

// testRestartServesFromDisk stops edge-3 gracefully and starts it again on the same disk
// directory, name and gossip address: it answers what it had stored from disk, without the
// origin.
func (c *procCluster) testRestartServesFromDisk(t *testing.T) {
	e := c.edges[2]
	// Every node filled every key in the step before, as owner or through the owner.
	if s := c.stats(t, e); s.Disk == nil || s.Disk.Entries != int64(len(c.lib.cached)) {
		t.Fatalf("%s holds %+v on disk before the restart, want %d entries", e.name, s.Disk, len(c.lib.cached))
	}
	// The test's client holds keep-alive connections to it: the graceful stop closes them.
	if code := e.stop(t); code != 0 {
		t.Fatalf("%s exited %d after SIGTERM, want 0", e.name, code)
	}
	c.waitStates(t, c.edges[:2], map[string]string{"edge-1": "alive", "edge-2": "alive", "edge-3": "gone"})
	for _, o := range c.edges[:2] {
		if state := c.memberStates(t, o)[e.name]; state != "left" {
			t.Errorf("%s records %s, which left gracefully, as %q", o.name, e.name, state)
		}
	}

	before := c.proxy.total()
	c.start(t, e, c.edges[0].gossip, c.edges[1].gossip)
	c.waitStates(t, c.edges, map[string]string{"edge-1": "alive", "edge-2": "alive", "edge-3": "alive"})
	c.getAll(t, []*edgeProc{e}, c.lib.cached, 1, func(_ *edgeProc, cacheStatus string) error {
		if cacheStatus != e.name+"; hit" {
			return fmt.Errorf("Cache-Status %q, want %q", cacheStatus, e.name+"; hit")
		}
		return nil
	})
	if n := c.proxy.total(); n != before {
		t.Errorf("the origin got %d fetches after the restart, want none", n-before)
	}
	if s := c.stats(t, e); s.Disk == nil || s.Disk.Hits != int64(len(c.lib.cached)) || s.OriginFetches != 0 {
		t.Errorf("%s after the restart: disk %+v, origin fetches %d; want %d disk hits and no fetch",
			e.name, s.Disk, s.OriginFetches, len(c.lib.cached))
	}
}

// testSurvivesNodeFailure kills edge-2 while requests run against the other two: none of them
// fails, before or after the cluster notices, and once it has, the survivors own edge-2's keys
// and fetch each of them from the origin once.
func (c *procCluster) testSurvivesNodeFailure(t *testing.T) {
	victim, survivors := c.edges[1], []*edgeProc{c.edges[0], c.edges[2]}
	r := ring.New(ring.Config{}, ring.Node{Name: "edge-1"}, ring.Node{Name: "edge-2"}, ring.Node{Name: "edge-3"})
	victimOwns := func(paths []string) []string {
		var owned []string
		for _, p := range paths {
			if r.Owner(p) == victim.name {
				owned = append(owned, p)
			}
		}
		return owned
	}
	window, fresh := victimOwns(c.lib.window), victimOwns(c.lib.fresh)
	if len(window) == 0 || len(fresh) == 0 || len(victimOwns(c.lib.load)) == 0 {
		t.Fatalf("%s owns too few keys: %d, %d and %d", victim.name, len(window), len(fresh), len(victimOwns(c.lib.load)))
	}

	// Load on the survivors: cached keys interleaved with new ones, a third of them the victim's.
	var keys []string
	for i, p := range c.lib.load {
		keys = append(keys, p, c.lib.cached[i])
	}
	load := c.startLoad(survivors, keys, 4)
	defer load.finish()
	c.waitFor(t, 30*time.Second, "the load to get going", nil, func() bool { return load.count() >= 200 })
	victim.kill()
	killedAt := load.count()

	// While gossip still calls the victim alive, a fill of one of its keys goes to it, fails
	// and goes to the next node clockwise; once gossip has declared the victim dead, the fill
	// goes to that node at once, its new owner. Either way, asked one after the other, the
	// survivors fetch each key from the origin once between them, through that node. Each
	// key's fills are checked by what the survivors saw of the victim around them.
	peerErrors := func() (n int64) {
		for _, e := range survivors {
			n += c.stats(t, e).PeerErrors
		}
		return n
	}
	victimIs := func(state string) bool {
		for _, e := range survivors {
			if c.memberStates(t, e)[victim.name] != state {
				return false
			}
		}
		return true
	}
	var failedOver, direct int
	for _, p := range window {
		aliveBefore, deadBefore, errorsBefore := victimIs("alive"), victimIs("dead"), peerErrors()
		for _, e := range survivors {
			if status, _, body, err := c.get(e, p); err != nil || status != 200 || !bytes.Equal(body, objectBody(p)) {
				t.Errorf("GET %s via %s with its owner killed: %d %v", p, e.name, status, err)
			}
		}
		next := r.Owners(p, 2)[1]
		if got := c.proxy.fetchers(p); !slices.Equal(got, []string{"1.1 " + next}) {
			t.Errorf("origin fetches of %s with its owner killed: %q, want one by %s, the next node clockwise", p, got, next)
		}
		switch n := peerErrors() - errorsBefore; {
		case aliveBefore && victimIs("alive"):
			failedOver++
			if n < 1 {
				t.Errorf("%s asked while the survivors called its owner alive: %d fills failed over, want at least one", p, n)
			}
		case deadBefore:
			direct++
			if n != 0 {
				t.Errorf("%s asked once the survivors had declared its owner dead: %d fills went to it", p, n)
			}
		}
	}
	t.Logf("%d of %d keys asked while %s was alive to gossip, %d once it was dead", failedOver, len(window), victim.name, direct)

	c.waitStates(t, survivors, map[string]string{"edge-1": "alive", "edge-2": "dead", "edge-3": "alive"})
	detectedAt := load.count()
	c.waitFor(t, 30*time.Second, "more load after the failure", nil, func() bool { return load.count() >= detectedAt+200 })
	load.finish()
	t.Logf("%d requests: %d before the kill, %d until the survivors declared %s dead, %d after",
		load.count(), killedAt, detectedAt-killedAt, victim.name, load.count()-detectedAt)
	load.check(t)

	// The victim's keys now belong to the survivors: a key is fetched once, by its new owner,
	// and no fill goes to the dead node.
	errorsBefore := peerErrors()
	c.getAll(t, survivors, fresh, 20, nil)
	for _, p := range fresh {
		if n := c.proxy.count(p); n != 1 {
			t.Errorf("origin fetched %s %d times after the failure, want 1", p, n)
		}
	}
	if n := peerErrors() - errorsBefore; n != 0 {
		t.Errorf("%d fills failed after the survivors declared %s dead, want 0", n, victim.name)
	}
}

// testOriginDownServesCached kills the origin: the live nodes serve what they hold, playlists
// stale, and answer 502 for what they do not.
func (c *procCluster) testOriginDownServesCached(t *testing.T) {
	live := []*edgeProc{c.edges[0], c.edges[2]}
	c.getAll(t, live, c.lib.masters, 1, nil) // playlists are cached with max-age=0: stale at once
	staleServed := func() (n int64) {
		for _, e := range live {
			n += c.stats(t, e).StaleServed
		}
		return n
	}
	staleBefore := staleServed()

	c.origin.kill()
	if status, _, _, err := c.get(live[0], c.lib.cold[0]); err != nil || status != http.StatusBadGateway {
		t.Fatalf("proxy still reaches the origin after the kill: %d %v", status, err)
	}
	c.getAll(t, live, c.lib.cached, 1, func(e *edgeProc, cacheStatus string) error {
		if cacheStatus != e.name+"; hit" {
			return fmt.Errorf("Cache-Status %q, want %q", cacheStatus, e.name+"; hit")
		}
		return nil
	})
	c.getAll(t, live, c.lib.masters, 2, nil) // each path once through each node
	if n := staleServed() - staleBefore; n < int64(2*len(c.lib.masters)) {
		t.Errorf("stale playlists served: %d, want at least %d", n, 2*len(c.lib.masters))
	}
	for _, e := range live {
		for _, p := range c.lib.cold[1:] {
			status, _, body, err := c.get(e, p)
			var apiErr struct {
				Error struct{ Code, Message string }
			}
			if err != nil || status != http.StatusBadGateway || json.Unmarshal(body, &apiErr) != nil || apiErr.Error.Code != "bad_gateway" {
				t.Errorf("uncached %s via %s with the origin down: %d %q %v; want 502 bad_gateway", p, e.name, status, body, err)
			}
		}
	}
	for _, p := range c.lib.cached {
		if n := c.proxy.count(p); n != 1 {
			t.Errorf("origin was asked for %s %d times in all, want 1", p, n)
		}
	}
}

// library lists the request paths of the objects put in the origin's store, by the step of the
// test that first requests them.
type library struct {
	cached  []string // 500 segments that the first step fills
	load    []string // segments first requested under load while a node is killed
	window  []string // segments requested before the cluster notices the kill
	fresh   []string // segments requested once it has
	cold    []string // segments requested only while the origin is down
	masters []string // every video's master playlist
}

// fillStore writes the library's videos into a file store at dir.
func fillStore(t *testing.T, dir string) library {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	var lib library
	put := func(p string, opts storage.PutOptions) {
		b := objectBody(p)
		if _, err := store.Put(ctx, "videos/"+strings.TrimPrefix(p, "/v/"), bytes.NewReader(b), int64(len(b)), opts); err != nil {
			t.Fatal(err)
		}
	}
	videos := func(n, segments int) []string {
		var paths []string
		for range n {
			id := videoid.New()
			master := "/v/" + id + "/master.m3u8"
			put(master, storage.PutOptions{ContentType: "application/vnd.apple.mpegurl", CacheControl: "public, max-age=0"})
			lib.masters = append(lib.masters, master)
			for i := range segments {
				p := fmt.Sprintf("/v/%s/360p/seg_%05d.m4s", id, i+1)
				put(p, storage.PutOptions{ContentType: "video/iso.segment"})
				paths = append(paths, p)
			}
		}
		return paths
	}
	lib.cached = videos(25, 20)
	lib.load = videos(10, 30)
	lib.window = videos(3, 30)
	lib.fresh = videos(10, 30)
	lib.cold = videos(1, 5)
	return lib
}

// objectBody is the stored content of the object at request path p, about 2 KB.
func objectBody(p string) []byte { return bytes.Repeat([]byte(p+"\n"), 2000/(len(p)+1)) }

// procCluster is the test's processes: the origin, the counting proxy in front of it and the
// edges.
type procCluster struct {
	life   *testing.T // the test the processes live as long as
	lib    library
	origin *reelayProc
	proxy  *countingProxy
	edges  []*edgeProc
	client *http.Client
}

// edgeProc is an edge node: its settings, kept for a restart, and its current process.
type edgeProc struct {
	name, gossip, disk string
	*reelayProc
}

// start starts e's process, joining the gossip addresses join.
func (c *procCluster) start(t *testing.T, e *edgeProc, join ...string) {
	t.Helper()
	e.reelayProc = startProc(t, c.life, e.name, "edge", "--addr", "127.0.0.1:0", "--gossip-addr", e.gossip,
		"--join", strings.Join(join, ","), "--origin", c.proxy.url, "--name", e.name, "--tuning", "local",
		"--disk", e.disk, "--disk-size", "64MiB", "--mem", "64MiB", "--admin-token", "0123456789abcdef")
}

// get requests path p from e.
func (c *procCluster) get(e *edgeProc, p string) (status int, cacheStatus string, body []byte, err error) {
	resp, err := c.client.Get(e.url + p)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Cache-Status"), body, err
}

// getAll requests each of paths `copies` times, at most 64 requests at a time, spreading the
// copies of a path round-robin over nodes and sending them one after the other, so that they
// overlap. It fails t on any answer but 200 with the path's body, or one that check refuses.
func (c *procCluster) getAll(t *testing.T, nodes []*edgeProc, paths []string, copies int, check func(e *edgeProc, cacheStatus string) error) {
	t.Helper()
	type job struct {
		e *edgeProc
		p string
	}
	jobs := make(chan job)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range 64 {
		wg.Go(func() {
			for j := range jobs {
				status, cacheStatus, body, err := c.get(j.e, j.p)
				if err == nil && (status != http.StatusOK || !bytes.Equal(body, objectBody(j.p))) {
					err = fmt.Errorf("status %d, %d bytes (Cache-Status %q)", status, len(body), cacheStatus)
				}
				if err == nil && check != nil {
					err = check(j.e, cacheStatus)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("GET %s via %s: %w", j.p, j.e.name, err))
					mu.Unlock()
				}
			}
		})
	}
	for i, p := range paths {
		for k := range copies {
			jobs <- job{nodes[(i+k)%len(nodes)], p}
		}
	}
	close(jobs)
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			t.Errorf("... and %d more errors", len(errs)-5)
			break
		}
		t.Error(err)
	}
}

// stats returns e's /_edge/stats.
func (c *procCluster) stats(t *testing.T, e *edgeProc) edge.Stats {
	t.Helper()
	var s edge.Stats
	req, _ := http.NewRequest("GET", e.url+"/_edge/stats", nil)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef") // the admin token opens it
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("stats of %s: %v", e.name, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stats of %s: %d %v", e.name, resp.StatusCode, err)
	}
	return s
}

// memberStates returns the state of each member as e sees it.
func (c *procCluster) memberStates(t *testing.T, e *edgeProc) map[string]string {
	t.Helper()
	states := map[string]string{}
	for _, m := range c.stats(t, e).Members {
		states[m.Name] = m.State
	}
	return states
}

// waitStates waits until each of nodes sees the members in the states of want, where "gone"
// stands for dead or left.
func (c *procCluster) waitStates(t *testing.T, nodes []*edgeProc, want map[string]string) {
	t.Helper()
	seen := map[string]map[string]string{}
	c.waitFor(t, 30*time.Second, fmt.Sprintf("members %v", want), func() string { return fmt.Sprint(seen) }, func() bool {
		ok := true
		for _, e := range nodes {
			states := c.memberStates(t, e)
			seen[e.name] = states
			for name, state := range want {
				ok = ok && (states[name] == state || state == "gone" && (states[name] == "dead" || states[name] == "left"))
			}
		}
		return ok
	})
}

// waitFor polls cond until it holds, failing t after timeout with what, and what last returned
// if it is not nil.
func (c *procCluster) waitFor(t *testing.T, timeout time.Duration, what string, last func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if last != nil {
				msg = "; last seen " + last()
			}
			t.Fatalf("waited %v for %s%s", timeout, what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load sends requests for keys, round-robin over nodes, from a few workers until finish.
type load struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	sent  atomic.Int64
	mu    sync.Mutex
	fails []string
}

func (c *procCluster) startLoad(nodes []*edgeProc, keys []string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	var next atomic.Int64
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				i := next.Add(1) - 1
				// Every key goes to every node in turn: odd passes shift the nodes by one.
				e, p := nodes[(i+i/int64(len(keys)))%int64(len(nodes))], keys[i%int64(len(keys))]
				status, cacheStatus, body, err := c.get(e, p)
				l.sent.Add(1)
				if err != nil || status != http.StatusOK || !bytes.Equal(body, objectBody(p)) {
					l.mu.Lock()
					l.fails = append(l.fails, fmt.Sprintf("GET %s via %s: %d %q, %d bytes, %v", p, e.name, status, cacheStatus, len(body), err))
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

// count returns how many requests were answered so far.
func (l *load) count() int64 { return l.sent.Load() }

// finish stops the workers and waits for them.
func (l *load) finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// check fails t if any request failed.
func (l *load) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.fails {
		if i == 5 {
			t.Errorf("... and %d more failed requests", len(l.fails)-5)
			break
		}
		t.Error(f)
	}
}

// countingProxy forwards to the origin, counting the GETs of each object path.
type countingProxy struct {
	url   string
	delay atomic.Int64 // how long each GET of an object is held before it is forwarded, in ns
	mu    sync.Mutex
	seen  map[string]int
	by    map[string][]string // the Via of each GET of a path
}

func startProxy(t *testing.T, origin string) *countingProxy {
	t.Helper()
	u, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = transport
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	p := &countingProxy{seen: map[string]int{}, by: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v/") {
			p.mu.Lock()
			p.seen[r.URL.Path]++
			p.by[r.URL.Path] = append(p.by[r.URL.Path], r.Header.Get("Via"))
			p.mu.Unlock()
			if d := time.Duration(p.delay.Load()); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(transport.CloseIdleConnections)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// count returns how many GETs of path p were sent to the origin.
func (p *countingProxy) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[path]
}

// fetchers returns the Via of each GET of path p sent to the origin: "1.1 {node}" for a node's
// fill.
func (p *countingProxy) fetchers(path string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.by[path])
}

// total returns how many GETs of objects were sent to the origin.
func (p *countingProxy) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.seen {
		n += c
	}
	return n
}

func newTestClient(t *testing.T) *http.Client {
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: 30 * time.Second}
}

// reelayProc is a reelay command running as a child process: the test binary started again
// with runMainEnv set.
type reelayProc struct {
	name   string
	url    string // the listener it printed
	cmd    *exec.Cmd
	stderr *testenv.Buffer
	done   chan struct{} // closed once the process is reaped
}

// startProc runs `reelay args...` until life ends and waits until it prints its listener, for
// which t fails after a minute. The process is killed if the test process dies.
func startProc(t, life *testing.T, name string, args ...string) *reelayProc {
	t.Helper()
	return startProcEnv(t, life, name, nil, args...)
}

// startProcEnv is startProc with env added to the test process's environment.
func startProcEnv(t, life *testing.T, name string, env []string, args ...string) *reelayProc {
	t.Helper()
	p, pr := spawn(t, life, name, env, args...)

	lines := make(chan string, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			<-p.done
			t.Fatalf("reelay %s (%s) exited (%v) without printing its listener:\n%s", args[0], name, p.cmd.ProcessState, p.stderr)
		}
		kind, u, _ := strings.Cut(line, " ")
		if kind != args[0] || !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("reelay %s (%s) printed %q, want its listener:\n%s", args[0], name, line, p.stderr)
		}
		p.url = u
	case <-time.After(time.Minute):
		t.Fatalf("reelay %s (%s) printed no listener within a minute:\n%s", args[0], name, p.stderr)
	}
	return p
}

// spawn starts `reelay args...` with env added to the test process's, and returns it with
// its standard output. When life ends the process is killed, life fails if it reported a
// data race, and its standard error is logged if life failed. The process is killed if the
// test process dies.
func spawn(t, life *testing.T, name string, env []string, args ...string) (*reelayProc, io.Reader) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &reelayProc{name: name, stderr: &testenv.Buffer{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd = exec.Command(exe, args...)
	p.cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	p.cmd.Stdout, p.cmd.Stderr = pw, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	life.Cleanup(func() {
		p.kill()
		out := p.stderr.String()
		if strings.Contains(out, "WARNING: DATA RACE") {
			life.Errorf("%s (pid %d) reported a data race", name, p.cmd.Process.Pid)
		}
		if life.Failed() {
			if len(out) > 16<<10 {
				out = "...\n" + out[len(out)-16<<10:]
			}
			life.Logf("stderr of %s (pid %d, %v):\n%s", name, p.cmd.Process.Pid, p.cmd.ProcessState, out)
		}
	})
	return p, pr
}

// kill sends SIGKILL to the process, unless it is gone, and reaps it.
func (p *reelayProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM to the process and returns its exit status; t fails if it has not
// exited within 30 seconds.
func (p *reelayProc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatalf("%s did not exit within 30s of SIGTERM", p.name)
	}
	return p.cmd.ProcessState.ExitCode()
}
