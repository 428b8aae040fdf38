package edge

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/cluster"
)

// testNode is an edge of a test cluster.
type testNode struct {
	*testEdge
	cluster *cluster.Cluster
	ln      *downListener
}

// startCluster starts n edges on loopback, gossiping with local tuning, and waits until each
// sees all n alive.
func startCluster(t *testing.T, n int, originURL string) []*testNode {
	t.Helper()
	return startClusterWith(t, n, Config{Origin: originURL, AdminToken: "tok"})
}

// startClusterWith is startCluster with each node's Config based on cfg.
func startClusterWith(t *testing.T, n int, cfg Config) []*testNode {
	t.Helper()
	return startClusterOf(t, n, cfg, cluster.Config{})
}

// startClusterOf is startClusterWith with each node's cluster.Config based on cc. The nodes
// are called edge-0, edge-1, ...; each joins through the first.
func startClusterOf(t *testing.T, n int, cfg Config, cc cluster.Config) []*testNode {
	t.Helper()
	var nodes []*testNode
	var seeds []string
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dl := newDownListener(ln)
		c := cc
		c.Name = fmt.Sprintf("edge-%d", i)
		c.BindAddr = "127.0.0.1:0"
		c.Seeds = seeds
		c.Tuning = cluster.TuningLocal
		ncfg := cfg
		ncfg.Listener, ncfg.Cluster = dl, &c
		ncfg.MetricsToken = cmp.Or(ncfg.MetricsToken, testMetricsToken)
		e := startEdge(t, ncfg)
		if i == 0 {
			waitFor(t, 5*time.Second, "the first node's own address", func() bool { return e.Self().Addr != "" })
			seeds = []string{e.Self().Addr}
		}
		nodes = append(nodes, &testNode{testEdge: e, cluster: e.cluster, ln: dl})
	}
	waitFor(t, 15*time.Second, "every node to see every node alive", func() bool {
		for _, nd := range nodes {
			if alive(nd.cluster) != n {
				return false
			}
		}
		return true
	})
	return nodes
}

// downListener is a listener that a test can take down as a crashed server would go, while
// the node's gossip goes on: its connections are closed and new ones refused, and the server
// is left waiting in Accept until it closes the listener.
type downListener struct {
	net.Listener
	down   chan struct{} // closed by takeDown
	closed chan struct{} // closed by Close
	once   sync.Once

	mu    sync.Mutex
	conns []net.Conn
}

func newDownListener(ln net.Listener) *downListener {
	return &downListener{Listener: ln, down: make(chan struct{}), closed: make(chan struct{})}
}

func (l *downListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		select {
		case <-l.down:
			<-l.closed
			return nil, net.ErrClosed
		default:
			return nil, err
		}
	}
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	return c, nil
}

// takeDown refuses connections from now on and closes the open ones.
func (l *downListener) takeDown() {
	close(l.down)
	l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

func (l *downListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	err := l.Listener.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// ownedKey returns the path of object name of a new video whose key owner, as from sees the
// ring, is the node owner.
func ownedKey(from, owner *testNode, name string) (video, key string) {
	for key == "" || from.cluster.Owner(key).Name != owner.name {
		var prefix string
		video, prefix = newVideo()
		key = prefix + name
	}
	return video, key
}

func alive(c *cluster.Cluster) int {
	n := 0
	for _, m := range c.Members() {
		if m.State == cluster.StateAlive {
			n++
		}
	}
	return n
}

// getAll requests each of paths `copies` times concurrently, spread over nodes, and fails the test
// on any answer but 200 with the right body.
func getAll(t *testing.T, nodes []*testNode, paths []string, copies int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(paths)*copies)
	// The copies of a path are sent one after the other, so that they overlap, and at most 8
	// paths are in flight at once (64 requests at most, as the process test's clients): more
	// distinct fills in flight on a node than ring.DefaultMinLoad, which a slow machine's
	// timing can bring about, would have bounded loads move keys between nodes, and a moved
	// key is fetched twice, where these tests count one fetch per key.
	sem := make(chan struct{}, min(64, 8*copies))
	for i, p := range paths {
		for j := range copies {
			nd := nodes[(i+j)%len(nodes)]
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				resp, err := testClient.Get(nd.url + p)
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					errs <- err
					return
				}
				if resp.StatusCode != http.StatusOK || string(b) != string(objectBody(p)) {
					errs <- fmt.Errorf("GET %s via %s: %d, %d bytes", p, nd.name, resp.StatusCode, len(b))
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 5 {
		t.Errorf("... and %d more errors", n-5)
	}
}

func segmentPaths(n int) []string {
	paths := make([]string, n)
	for i := range paths {
		_, prefix := newVideo()
		paths[i] = fmt.Sprintf("%s720p/seg_%05d.m4s", prefix, i+1)
	}
	return paths
}

func TestClusterFetchesOncePerKey(t *testing.T) {
	o := newTestOrigin(t)
	o.delay = 20 * time.Millisecond
	nodes := startCluster(t, 3, o.URL)
	const keys, copies = 500, 20
	paths := segmentPaths(keys)
	getAll(t, nodes, paths, copies)

	for _, p := range paths {
		if n := o.count(p); n != 1 {
			t.Errorf("origin fetched %s %d times, want 1", p, n)
		}
	}
	var peerFills, coalesced, originFetches, requests int64
	for _, nd := range nodes {
		s := nd.Stats()
		peerFills += s.PeerFills
		coalesced += s.Coalesced
		originFetches += s.OriginFetches
		requests += s.Requests - s.PeerRequests
	}
	if requests != keys*copies || originFetches != keys {
		t.Errorf("client requests %d, origin fetches %d; want %d and %d", requests, originFetches, keys*copies, keys)
	}
	if peerFills == 0 || coalesced == 0 {
		t.Errorf("peer fills %d, coalesced %d: want both above 0", peerFills, coalesced)
	}

	// Every node now answers from its own cache or its owner's, without the origin.
	getAll(t, nodes, paths[:50], 3)
	if n := o.total(); n != keys {
		t.Errorf("origin saw %d fetches after a second round, want %d", n, keys)
	}
}

// TestOwnerAsksOthersWhenOriginDown stores objects only on a node that does not own them, as
// bounded loads make a node do when the owner is busy, then takes the origin down: the owner,
// asked for them, fails to fill them from the origin and takes the other node's stored copy,
// fresh or stale. What no node stores is still 502.
func TestOwnerAsksOthersWhenOriginDown(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 2, o.URL)
	other, owner := nodes[0], nodes[1]
	_, segment := ownedKey(other, owner, "360p/seg_00001.m4s")
	_, playlist := ownedKey(other, owner, "360p/index.m3u8") // max-age=0: stale at once
	_, nowhere := ownedKey(other, owner, "360p/seg_00002.m4s")
	for _, key := range []string{segment, playlist} {
		// As a peer's fill, the other node fills from the origin itself, and keeps it.
		if resp, _ := do(t, "GET", other.url+key, PeerHeader, "1"); resp.StatusCode != 200 {
			t.Fatalf("storing %s on %s: %d", key, other.name, resp.StatusCode)
		}
	}
	o.down.Store(true)
	for _, key := range []string{segment, playlist} {
		resp, body := do(t, "GET", owner.url+key)
		if cs := resp.Header.Get("Cache-Status"); resp.StatusCode != 200 || body != string(objectBody(key)) || !strings.Contains(cs, "detail=peer") {
			t.Errorf("GET %s from its owner with the origin down: %d, %d bytes, Cache-Status %q; want the other node's copy",
				key, resp.StatusCode, len(body), cs)
		}
	}
	if resp, body := do(t, "GET", owner.url+nowhere); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("GET of an object no node stores with the origin down: %d %s, want 502", resp.StatusCode, body)
	}
	// Asked for a stored copy it does not have, a node says so, and does not fetch it.
	before := other.Stats().OriginFetches
	if resp, body := do(t, "GET", other.url+nowhere, PeerHeader, peerStored); resp.StatusCode != http.StatusGatewayTimeout ||
		!strings.Contains(body, "not_stored") || other.Stats().OriginFetches != before {
		t.Errorf("a stored copy that is not there: %d %s, origin fetches %d -> %d", resp.StatusCode, body, before, other.Stats().OriginFetches)
	}
}

func TestClusterPurgeFansOut(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 3, o.URL)
	id, prefix := newVideo()
	paths := []string{prefix + "master.m3u8", prefix + "720p/init.mp4", prefix + "720p/seg_00001.m4s"}
	getAll(t, nodes, paths, 3) // every path through every node
	for _, nd := range nodes {
		if nd.mem.Len() != len(paths) {
			t.Fatalf("%s holds %d entries before the purge, want %d", nd.name, nd.mem.Len(), len(paths))
		}
	}
	// A second, unrelated video stays.
	_, other := newVideo()
	getAll(t, nodes, []string{other + "720p/init.mp4"}, 3)

	resp, body := do(t, "DELETE", nodes[1].url+"/_edge/v/"+id, "Authorization", "Bearer tok")
	if resp.StatusCode != 200 || !strings.Contains(body, `"edge-0":"ok"`) || !strings.Contains(body, `"edge-2":"ok"`) {
		t.Fatalf("purge: %d %s", resp.StatusCode, body)
	}
	for _, nd := range nodes {
		for _, p := range paths {
			if _, ok := nd.mem.Get(p); ok {
				t.Errorf("%s still holds %s", nd.name, p)
			}
		}
		if _, ok := nd.mem.Get(other + "720p/init.mp4"); !ok {
			t.Errorf("%s lost another video's object", nd.name)
		}
	}
	before := o.count(paths[2])
	getAll(t, nodes, paths[2:], 1)
	if n := o.count(paths[2]); n != before+1 {
		t.Errorf("origin fetched %s %d times after the purge, want 1", paths[2], n-before)
	}
}

func TestClusterSurvivesNodeFailure(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 3, o.URL)
	victim, survivors := nodes[2], nodes[:2]

	// Keys the victim owns, filled before it goes.
	var owned []string
	for _, p := range segmentPaths(60) {
		if nodes[0].cluster.Owner(p).Name == victim.name {
			owned = append(owned, p)
		}
	}
	if len(owned) == 0 {
		t.Fatal("the victim owns none of 60 keys")
	}
	getAll(t, survivors, owned[:len(owned)/2], 1)

	// Its server stops first while gossip still calls it alive. A survivor then fills the
	// victim's keys from the next node clockwise, the keys' owner-to-be: asked one after the
	// other, both survivors make one origin fetch per key between them.
	victim.ln.takeDown()
	for _, p := range owned[len(owned)/2:] {
		for _, nd := range survivors {
			if resp, body := do(t, "GET", nd.url+p); resp.StatusCode != 200 || body != string(objectBody(p)) {
				t.Fatalf("GET %s via %s with the owner down: %d", p, nd.name, resp.StatusCode)
			}
		}
		if n := o.count(p); n != 1 {
			t.Errorf("origin fetched %s %d times with its owner down, want 1", p, n)
		}
	}
	getAll(t, survivors, owned, 2)
	if s := survivors[0].Stats(); s.PeerErrors == 0 {
		t.Errorf("no fill was sent to the stopped owner: %+v", s)
	}

	// Then it fails for good; once the survivors see it dead, they own its keys.
	if err := victim.cluster.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the survivors to declare the victim dead", func() bool {
		for _, nd := range survivors {
			if alive(nd.cluster) != 2 {
				return false
			}
		}
		return true
	})
	for _, p := range owned {
		if owner := survivors[0].cluster.Owner(p).Name; owner == victim.name || owner != survivors[1].cluster.Owner(p).Name {
			t.Fatalf("owner of %s is %q", p, owner)
		}
	}
	fresh := segmentPaths(60)
	getAll(t, survivors, append(fresh, owned...), 3)
	for _, p := range fresh {
		if n := o.count(p); n != 1 {
			t.Errorf("origin fetched %s %d times after the failure, want 1", p, n)
		}
	}
}

// TestRunJoinsAndLeaves checks the cluster side of Run: the nodes joined through their seed
// (startCluster waits for it), and a node whose Run ends has left, not failed, for the others,
// which then own its keys.
func TestRunJoinsAndLeaves(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 3, o.URL)
	nodes[2].stop()
	for _, nd := range nodes[:2] {
		waitFor(t, 10*time.Second, nd.name+" to see edge-2 left", func() bool {
			for _, m := range nd.cluster.Members() {
				if m.Name == "edge-2" {
					return m.State == cluster.StateLeft
				}
			}
			return false
		})
	}
	for _, p := range segmentPaths(50) {
		if owner := nodes[0].cluster.Owner(p).Name; owner == "edge-2" {
			t.Fatalf("%s still owned by edge-2, which left", p)
		}
	}
	getAll(t, nodes[:2], segmentPaths(20), 2)
}
