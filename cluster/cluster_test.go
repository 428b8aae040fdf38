package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// startNode starts a node with fast failure detection on a free loopback port, and joins
// through its seeds: a seed that does not answer is no failure.
func startNode(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Tuning = TuningLocal
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Join(); err != nil && !errors.Is(err, ErrNoSeed) {
		t.Fatalf("Join(%s): %v", cfg.Name, err)
	}
	return c
}

// startThree starts edge-a, then edge-b and edge-c joining through it, and waits until all
// three see each other alive.
func startThree(t *testing.T, onChangeA func([]Member)) (a, b, c *Cluster) {
	t.Helper()
	a = startNode(t, Config{Name: "edge-a", Meta: NodeMeta{HTTPAddr: "127.0.0.1:8001", CapacityBytes: 1 << 30}, OnChange: onChangeA})
	seeds := []string{a.Self().Addr}
	b = startNode(t, Config{Name: "edge-b", Seeds: seeds, Meta: NodeMeta{HTTPAddr: "127.0.0.1:8002", CapacityBytes: 2 << 30}})
	c = startNode(t, Config{Name: "edge-c", Seeds: seeds, Meta: NodeMeta{HTTPAddr: "127.0.0.1:8003"}})
	for _, n := range []*Cluster{a, b, c} {
		waitFor(t, 10*time.Second, n.name+" sees 3 alive members", func() bool {
			return alive(n.Members()) == "edge-a edge-b edge-c"
		})
	}
	return a, b, c
}

// alive returns the names of the alive members, in order.
func alive(members []Member) string {
	var names []string
	for _, m := range members {
		if m.State == StateAlive {
			names = append(names, m.Name)
		}
	}
	return strings.Join(names, " ")
}

func stateOf(c *Cluster, name string) (State, bool) {
	for _, m := range c.Members() {
		if m.Name == name {
			return m.State, true
		}
	}
	return 0, false
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s: still not", timeout, what)
		}
		<-tick.C
	}
}

// testKeys returns n object keys: 20 segments of each video.
func testKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("/v/%08d/720p/seg_%05d.m4s", i/20, i%20)
	}
	return keys
}

func owners(c *Cluster, keys []string) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = c.Owner(k).Name
	}
	return names
}

func TestClusterJoinAndAgree(t *testing.T) {
	t.Parallel()
	var last atomic.Pointer[[]Member]
	var calls atomic.Int32
	a, b, c := startThree(t, func(m []Member) {
		calls.Add(1)
		last.Store(&m)
	})
	nodes := []*Cluster{a, b, c}

	// Every node sees every node's gossip address and metadata.
	for _, n := range nodes {
		members := n.Members()
		for i, want := range []*Cluster{a, b, c} {
			got, self := members[i], want.Self()
			if got.Name != self.Name || got.Addr != self.Addr || got.Meta != self.Meta || got.State != StateAlive {
				t.Errorf("%s sees %+v, %s says %+v", n.name, got, want.name, self)
			}
		}
	}
	if m := b.Self(); m.Meta != (NodeMeta{HTTPAddr: "127.0.0.1:8002", CapacityBytes: 2 << 30}) || !strings.HasPrefix(m.Addr, "127.0.0.1:") {
		t.Errorf("b.Self() = %+v", m)
	}

	// All agree on the owner of every key, and every node owns some. edge-c advertises no
	// capacity: it counts as average (1.5 GiB), edge-b twice edge-a.
	keys := testKeys(1000)
	want := owners(a, keys)
	count := make(map[string]int)
	for i, k := range keys {
		count[want[i]]++
		for _, n := range nodes[1:] {
			if got := n.Owner(k); got.Name != want[i] {
				t.Fatalf("%s: %s says %s, edge-a says %s", k, n.name, got.Name, want[i])
			}
		}
		o := a.Owners(k, 5)
		if len(o) != 3 || o[0].Name != want[i] || o[1].Name == o[0].Name || o[2].Name == o[1].Name || o[2].Name == o[0].Name {
			t.Fatalf("Owners(%s) = %v", k, o)
		}
		if got := a.Owner(k).Meta.HTTPAddr; got == "" {
			t.Fatalf("owner of %s has no HTTP address", k)
		}
	}
	t.Logf("keys owned: %v", count)
	if count["edge-a"] == 0 || count["edge-a"] >= count["edge-b"] || count["edge-c"] == 0 {
		t.Errorf("keys owned: %v; want edge-a < edge-c < edge-b", count)
	}

	// Acquire counts on this node's ring.
	owner, release := a.Acquire(keys[0])
	if owner.Name != want[0] || a.Loads()[owner.Name] != 1 {
		t.Errorf("Acquire = %s, loads %v", owner.Name, a.Loads())
	}
	release()
	if a.Loads()[owner.Name] != 0 {
		t.Errorf("loads %v after release", a.Loads())
	}
	release = a.AcquireNode("edge-c")
	if got := a.Loads(); got["edge-c"] != 1 || got["edge-a"]+got["edge-b"] != 0 {
		t.Errorf("AcquireNode(edge-c): loads %v", got)
	}
	release()
	if a.Loads()["edge-c"] != 0 {
		t.Errorf("loads %v after release", a.Loads())
	}

	waitFor(t, 5*time.Second, "OnChange reports 3 alive members", func() bool {
		m := last.Load()
		return m != nil && alive(*m) == "edge-a edge-b edge-c"
	})
	t.Logf("OnChange calls: %d", calls.Load())
}

func TestClusterLeave(t *testing.T) {
	t.Parallel()
	// edge-a's OnChange blocks until the end of the test: membership must go on without it.
	unblock := make(chan struct{})
	var once sync.Once
	a, b, c := startThree(t, func([]Member) { <-unblock })
	t.Cleanup(func() { once.Do(func() { close(unblock) }) })

	keys := testKeys(1000)
	before := owners(a, keys)
	start := time.Now()
	if err := c.Leave(5 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	for _, n := range []*Cluster{a, b} {
		waitFor(t, 10*time.Second, n.name+" sees edge-c left", func() bool {
			s, _ := stateOf(n, "edge-c")
			return s == StateLeft
		})
	}
	t.Logf("edge-c seen left after %v", time.Since(start).Round(time.Millisecond))

	after := owners(a, keys)
	var moved int
	for i, k := range keys {
		if got := b.Owner(k).Name; got != after[i] {
			t.Fatalf("%s: edge-b says %s, edge-a says %s", k, got, after[i])
		}
		switch {
		case after[i] == "edge-c":
			t.Fatalf("%s still owned by edge-c", k)
		case before[i] == "edge-c":
			moved++
		case after[i] != before[i]:
			t.Fatalf("%s moved from %s to %s, though %s stayed", k, before[i], after[i], before[i])
		}
	}
	if moved == 0 {
		t.Error("edge-c owned no key")
	}
	if err := c.Leave(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("second Leave: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after Leave: %v", err)
	}
}

func TestClusterFailure(t *testing.T) {
	t.Parallel()
	a, b, c := startThree(t, nil)
	keys := testKeys(1000)
	before := owners(a, keys)

	// A crash: gossip stops without a word.
	start := time.Now()
	if err := c.ml.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Cluster{a, b} {
		waitFor(t, 20*time.Second, n.name+" sees edge-c dead", func() bool {
			s, _ := stateOf(n, "edge-c")
			return s == StateDead
		})
	}
	t.Logf("edge-c declared dead after %v", time.Since(start).Round(time.Millisecond))
	for i, k := range keys {
		got := a.Owner(k).Name
		if got == "edge-c" || got != b.Owner(k).Name {
			t.Fatalf("%s: owners %s and %s", k, got, b.Owner(k).Name)
		}
		if before[i] != "edge-c" && got != before[i] {
			t.Fatalf("%s moved from %s to %s", k, before[i], got)
		}
	}
}

// TestClusterSeedStartsLater starts a node whose seed is not up yet: it runs alone, then joins
// once the seed starts.
func TestClusterSeedStartsLater(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	later := l.Addr().String()
	l.Close()

	b, err := New(Config{Name: "edge-b", Seeds: []string{later}, BindAddr: "127.0.0.1:0", Tuning: TuningLocal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Join(); !errors.Is(err, ErrNoSeed) {
		t.Fatalf("Join with its seed not up: %v, want ErrNoSeed", err)
	}
	if got := alive(b.Members()); got != "edge-b" {
		t.Fatalf("members before the seed starts: %q", got)
	}
	if got := b.Owner("/v/1/master.m3u8").Name; got != "edge-b" {
		t.Fatalf("alone, the owner is %q", got)
	}
	a, err := New(Config{Name: "edge-a", BindAddr: later, Tuning: TuningLocal})
	if err != nil {
		t.Fatalf("New on %s: %v", later, err)
	}
	t.Cleanup(func() { a.Close() })
	for _, n := range []*Cluster{a, b} {
		waitFor(t, 10*time.Second, n.name+" sees both", func() bool {
			return alive(n.Members()) == "edge-a edge-b"
		})
	}
}

// TestNewDoesNotJoin checks that New only starts gossip: a node seeks its seeds at Join, and
// not after Close.
func TestNewDoesNotJoin(t *testing.T) {
	t.Parallel()
	a := startNode(t, Config{Name: "edge-a"})
	b, err := New(Config{Name: "edge-b", Seeds: []string{a.Self().Addr}, BindAddr: "127.0.0.1:0", Tuning: TuningLocal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if got, gotA := alive(b.Members()), alive(a.Members()); got != "edge-b" || gotA != "edge-a" {
		t.Fatalf("before Join: edge-b sees %q, edge-a %q", got, gotA)
	}
	if err := b.Join(); err != nil {
		t.Fatalf("Join: %v", err)
	}
	for _, n := range []*Cluster{a, b} {
		waitFor(t, 10*time.Second, n.name+" sees both", func() bool {
			return alive(n.Members()) == "edge-a edge-b"
		})
	}
	b.Close()
	if err := b.Join(); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: %v, want ErrClosed", err)
	}
	// Without seeds, Join has nothing to do.
	if err := a.Join(); err != nil {
		t.Errorf("Join without seeds: %v", err)
	}
}

func TestClusterUpdateMeta(t *testing.T) {
	t.Parallel()
	a := startNode(t, Config{Name: "edge-a", Meta: NodeMeta{HTTPAddr: "127.0.0.1:8001"}})
	b := startNode(t, Config{Name: "edge-b", Seeds: []string{a.Self().Addr}})
	waitFor(t, 10*time.Second, "edge-b sees edge-a", func() bool { return alive(b.Members()) == "edge-a edge-b" })

	meta := NodeMeta{HTTPAddr: "127.0.0.1:9001", CapacityBytes: 5 << 30}
	if err := a.UpdateMeta(meta, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "edge-b sees edge-a's new metadata", func() bool {
		return b.Members()[0].Meta == meta
	})
	if err := a.UpdateMeta(NodeMeta{HTTPAddr: strings.Repeat("x", 600)}, time.Second); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("metadata with a bad HTTP address: %v", err)
	}
	if a.Self().Meta != meta {
		t.Errorf("a rejected update changed the metadata to %+v", a.Self().Meta)
	}
	a.Close()
	if err := a.UpdateMeta(meta, time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("UpdateMeta after Close: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	taken := startNode(t, Config{Name: "taken"})
	for _, tc := range []struct {
		name    string
		cfg     Config
		invalid bool
	}{
		{"unknown tuning", Config{Tuning: "fast"}, true},
		{"negative epsilon", Config{Epsilon: -0.1}, true},
		{"negative virtual nodes", Config{VirtualNodes: -1}, true},
		{"negative capacity", Config{Meta: NodeMeta{CapacityBytes: -1}}, true},
		{"host name", Config{BindAddr: "localhost:0"}, true},
		{"bad port", Config{BindAddr: "127.0.0.1:70000"}, true},
		{"bad advertise address", Config{AdvertiseAddr: "edge.example:7946"}, true},
		{"HTTP address not host:port", Config{Meta: NodeMeta{HTTPAddr: strings.Repeat("x", 600)}}, true},
		{"port in use", Config{BindAddr: taken.Self().Addr}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.BindAddr = cmpOr(cfg.BindAddr, "127.0.0.1:0")
			c, err := New(cfg)
			if err == nil {
				c.Close()
				t.Fatal("New succeeded")
			}
			if errors.Is(err, ErrInvalidConfig) != tc.invalid {
				t.Errorf("New: %v; ErrInvalidConfig %v, want %v", err, errors.Is(err, ErrInvalidConfig), tc.invalid)
			}
		})
	}
	// A New that fails half way releases what it bound: take the UDP port only, let New bind
	// TCP and fail on UDP, then New again on the same port.
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := udp.LocalAddr().String()
	if c, err := New(Config{BindAddr: addr, Tuning: TuningLocal}); err == nil {
		c.Close()
		udp.Close()
		t.Skipf("New bound %s with its UDP port taken", addr)
	}
	udp.Close()
	again, err := New(Config{Name: "again", BindAddr: addr, Tuning: TuningLocal})
	if err != nil {
		t.Fatalf("New on %s after a failed New: %v", addr, err)
	}
	again.Close()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestDefaultName(t *testing.T) {
	t.Parallel()
	c := startNode(t, Config{})
	_, port, _ := net.SplitHostPort(c.Self().Addr)
	if !strings.HasSuffix(c.Self().Name, "-"+port) {
		t.Errorf("default name %q does not end with the port %s", c.Self().Name, port)
	}
}

func TestLogWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &logWriter{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	for _, line := range []string{
		"[DEBUG] memberlist: Stream connection from=127.0.0.1:1234\n",
		"[WARN] memberlist: Refuting a suspect message (from: edge-b)\n",
		"[ERR] memberlist: Failed to send ping: timeout\n",
		"[INFO] memberlist: Marking edge-c as failed\n",
		"no tag\n",
	} {
		fmt.Fprint(w, line)
	}
	got := buf.String()
	for _, want := range []string{
		`level=WARN msg="memberlist: Refuting a suspect message (from: edge-b)"`,
		`level=ERROR msg="memberlist: Failed to send ping: timeout"`,
		`level=INFO msg="memberlist: Marking edge-c as failed"`,
		`level=INFO msg="no tag"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Stream connection") {
		t.Errorf("a debug line passed an info logger:\n%s", got)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateAlive: "alive", StateDead: "dead", StateLeft: "left", State(7): "State(7)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

// A node's leave message can arrive before the metadata that announces its leaving, or the
// metadata be lost: the notice its Leave sends each member still has it recorded as left, and a
// node that fails without one as dead.
func TestLeaveMessageBeforeMetadata(t *testing.T) {
	c := startNode(t, Config{Name: "edge-a"})
	d := (*delegate)(c)
	meta, err := json.Marshal(wireMeta{NodeMeta: NodeMeta{HTTPAddr: "127.0.0.1:8002"}})
	if err != nil {
		t.Fatal(err)
	}
	// memberlist's leave event does not say whether the node left or died (Node.State is not
	// kept up to date): only edge-b's notice, sent directly by its Leave, tells them apart. The
	// notice alone takes it off the ring.
	for _, name := range []string{"edge-b", "edge-c"} {
		d.NotifyJoin(&memberlist.Node{Name: name, Addr: net.IPv4(127, 0, 0, 1), Port: 7946, Meta: meta})
	}
	d.NotifyMsg([]byte(leavingNotice + "edge-b"))
	if got, _ := stateOf(c, "edge-b"); got != StateLeft {
		t.Errorf("edge-b after its notice: %v, want left", got)
	}
	for _, m := range c.Members() {
		if m.Name == "edge-b" && m.State == StateAlive {
			t.Errorf("edge-b still alive after its notice")
		}
	}
	d.NotifyMsg([]byte("something else"))
	for _, name := range []string{"edge-b", "edge-c"} {
		d.NotifyLeave(&memberlist.Node{Name: name, Addr: net.IPv4(127, 0, 0, 1), Port: 7946, Meta: meta})
	}
	for name, want := range map[string]State{"edge-b": StateLeft, "edge-c": StateDead} {
		if got, ok := stateOf(c, name); !ok || got != want {
			t.Errorf("%s: %v (known %v), want %v", name, got, ok, want)
		}
	}
}

// The notice that Leave sends goes over memberlist's TCP transport to every other member: on
// its own, without the metadata update or memberlist's leave message, it has them record the
// node as left and take it off the ring.
func TestLeavingNoticeOverTCP(t *testing.T) {
	t.Parallel()
	a, b, c := startThree(t, nil)
	peers := c.peers()
	if len(peers) != 2 {
		t.Fatalf("edge-c's peers: %v", peers)
	}
	for _, n := range peers {
		if err := c.ml.SendReliable(n, []byte(leavingNotice+c.name)); err != nil {
			t.Fatalf("notice to %s: %v", n.Name, err)
		}
	}
	for _, n := range []*Cluster{a, b} {
		waitFor(t, 5*time.Second, n.name+" records edge-c as left", func() bool {
			s, _ := stateOf(n, "edge-c")
			return s == StateLeft && n.Owner("some/key").Name != "edge-c"
		})
	}
}
