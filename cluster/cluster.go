// Package cluster gathers edge nodes into a cluster and tells which node owns which object.
//
// Nodes find each other with gossip (hashicorp/memberlist, SWIM): each one joins through seed
// addresses, advertises its HTTP address and cache capacity as node metadata, and learns of the
// others' arrivals, departures and failures. Over the live members, a ring of consistent hashing
// with bounded loads (package ring) gives every object key (a URL path such as /v/{video}/720p/seg_00001.m4s)
// an owner: the node that fills it from the origin, and that the other nodes fill it from.
//
// Every node builds the same ring from the same membership, so nodes agree on owners without
// asking each other. Membership changes move only the keys of the node that comes or goes.
//
//	c, err := cluster.New(cluster.Config{
//		BindAddr: "10.0.0.5:7946",
//		Seeds:    []string{"10.0.0.4:7946"},
//		Meta:     cluster.NodeMeta{HTTPAddr: "10.0.0.5:8080", CapacityBytes: 64 << 30},
//	})
//	...
//	c.Join() // once this node is ready to own keys
//	owner := c.Owner(path)
//	if owner.Name != c.Self().Name {
//		// fill from http://owner.Meta.HTTPAddr + path, falling back on c.Owners(path, 3)[1:]
//	}
//	...
//	c.Leave(5 * time.Second)
package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/reelay/reelay/ring"
)

// Defaults of Config.
const (
	DefaultPort     = 7946
	DefaultBindAddr = "0.0.0.0:7946"
	DefaultTuning   = TuningLAN
)

// Tunings: memberlist's timing presets, for Config.Tuning.
const (
	// TuningLAN suits one data center: probes every second, a failed node is declared dead
	// after about 5 to 30 seconds. memberlist.DefaultLANConfig.
	TuningLAN = "lan"
	// TuningWAN suits nodes far apart: probes every 5 seconds, slower failure detection.
	// memberlist.DefaultWANConfig.
	TuningWAN = "wan"
	// TuningLocal suits nodes on one machine, as in tests: short timeouts, a failed node is
	// declared dead within a few seconds. memberlist.DefaultLocalConfig.
	TuningLocal = "local"
)

// Retry delays of the joins through Config.Seeds that Join leaves to the background.
const (
	joinRetryMin = 500 * time.Millisecond
	joinRetryMax = 30 * time.Second
)

// forgetAfter is how long Members keeps reporting a node that is dead or left.
const forgetAfter = 10 * time.Minute

// ErrInvalidConfig is returned by New for an unusable Config.
var ErrInvalidConfig = errors.New("cluster: invalid config")

// ErrClosed is returned by Join, Leave and UpdateMeta once the cluster is closed.
var ErrClosed = errors.New("cluster: closed")

// ErrNoSeed is returned by Join when no seed answered. It is not fatal: Join goes on trying in
// the background.
var ErrNoSeed = errors.New("cluster: no seed answered")

// Config configures a Cluster.
type Config struct {
	// Name identifies this node; it must be unique in the cluster. Default: the host name and
	// the gossip port, as in "edge-a-7946".
	Name string
	// BindAddr is the address gossip listens on, for UDP and TCP: an IP address and a port.
	// An empty host means every interface (0.0.0.0); port 0 picks a free port, which
	// Self().Addr then tells. Default DefaultBindAddr ("0.0.0.0:7946").
	BindAddr string
	// AdvertiseAddr is the IP address, and optionally the port, that the other nodes reach this
	// node's gossip at, where that is not BindAddr (NAT, containers). Default: the bound IP, or
	// when binding every interface the first private IP address of the machine; the bound port.
	AdvertiseAddr string
	// Seeds are gossip addresses of nodes to join the cluster through, as "host:port" ("host"
	// alone means BindAddr's port). Join tries them all once and returns whether or not one
	// answered, so that the first node of a cluster, or nodes starting together, can start
	// before their seeds; then, for as long as this node knows of no other, it retries them
	// in the background, backing off from 0.5 to 30 seconds. Addresses of this node itself
	// are skipped. Default: none, a cluster of one until another node joins through this one.
	Seeds []string
	// Meta is what this node tells the other nodes about itself. Its JSON encoding must fit
	// memberlist's limit of 512 bytes. See UpdateMeta to change it later.
	Meta NodeMeta
	// Epsilon is the slack of the ring's load bound: see ring.Config.Epsilon. Zero means
	// ring.DefaultEpsilon (0.25); it may not be negative.
	Epsilon float64
	// VirtualNodes is the number of ring points of a node of average capacity: see
	// ring.Config.VirtualNodes. Zero means ring.DefaultVirtualNodes (160); it may not be
	// negative.
	VirtualNodes int
	// MinLoad is the load below which a member always takes its own keys: see
	// ring.Config.MinLoad. Zero means ring.DefaultMinLoad (16); negative means no floor.
	MinLoad int
	// Tuning is memberlist's timing preset: TuningLAN, TuningWAN or TuningLocal. Every node
	// of a cluster should use the same. Default DefaultTuning (TuningLAN).
	Tuning string
	// OnChange, if set, is called with Members after each change of the membership (a join,
	// a graceful leave, a failure, new metadata), and once after New. It runs on a goroutine
	// of its own, never inside memberlist, one call at a time: changes that happen while it
	// runs are folded into one more call. It must not call Close or Leave. Default: none.
	OnChange func([]Member)
	// Logger receives membership events and memberlist's own log lines, at their levels.
	// Default: logs are discarded.
	Logger *slog.Logger
}

// State is the state of a member as this node sees it.
//
// memberlist v0.7.0 does not tell its users when it suspects a node: a node that stops
// answering stays StateAlive, and keeps its keys, until the others agree that it is dead (a
// few seconds with TuningLocal, up to about 30 with TuningLAN). Meanwhile, go to the next of
// Owners when the owner does not answer.
type State int

// States of a Member.
const (
	// StateAlive: the node answers gossip. Alive members own keys.
	StateAlive State = iota
	// StateDead: the node stopped answering and the cluster declared it failed.
	StateDead
	// StateLeft: the node left the cluster gracefully (Leave), or is leaving.
	StateLeft
)

// String returns "alive", "dead" or "left".
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText encodes the state as its String, for JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Member is a node of the cluster.
type Member struct {
	// Name is the node's unique name (Config.Name).
	Name string `json:"name"`
	// Addr is the node's gossip address, ip:port.
	Addr string `json:"addr"`
	// Meta is what the node advertises (Config.Meta).
	Meta NodeMeta `json:"meta"`
	// State is the node's state.
	State State `json:"state"`
	// Since is when this node saw the member enter State.
	Since time.Time `json:"since"`
}

// Cluster is this node's membership in a cluster of nodes, and the ownership of keys among
// them. Its methods are safe for concurrent use; Owner, Owners and Acquire are cheap lock-free
// lookups.
type Cluster struct {
	cfg  Config
	log  *slog.Logger
	name string
	ml   *memberlist.Memberlist

	meta atomic.Pointer[[]byte] // this node's encoded wireMeta
	view atomic.Pointer[view]   // the latest membership and ring
	mu   sync.Mutex             // guards members and ring; taken inside memberlist's locks
	// members holds every node heard of, by name: the live ones and, for forgetAfter, the
	// dead and left ones.
	members map[string]*record
	ring    *ring.Ring // the ring of view, kept to Rebuild from

	seeds   []string      // Config.Seeds but this node's own addresses
	changed chan struct{} // buffered 1: a membership change for OnChange
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup

	life    sync.Mutex // serializes Leave, UpdateMeta and Close, and guards what follows
	closed  bool
	joining bool     // joinLoop runs
	current NodeMeta // this node's metadata
}

type record struct {
	Member
	leaving bool
	usable  bool // the metadata could be decoded: the node can own keys
}

// view is an immutable snapshot of the membership.
type view struct {
	ring    *ring.Ring
	live    map[string]Member // the members on the ring, by name
	members []Member          // every member, by name
}

// New starts gossip on cfg.BindAddr and returns the node's Cluster, alone: it answers the
// nodes that contact it, but seeks none until Join. Close or Leave it.
func New(cfg Config) (*Cluster, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Tuning = cmp.Or(cfg.Tuning, DefaultTuning)
	cfg.BindAddr = cmp.Or(cfg.BindAddr, DefaultBindAddr)
	mlc, err := tuning(cfg.Tuning)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Epsilon < 0 || math.IsNaN(cfg.Epsilon):
		return nil, fmt.Errorf("%w: Epsilon %v", ErrInvalidConfig, cfg.Epsilon)
	case cfg.VirtualNodes < 0:
		return nil, fmt.Errorf("%w: VirtualNodes %d", ErrInvalidConfig, cfg.VirtualNodes)
	}
	if err := cfg.Meta.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	host, port, err := splitHostPort(cfg.BindAddr, DefaultPort)
	if err != nil || net.ParseIP(cmp.Or(host, "0.0.0.0")) == nil {
		return nil, fmt.Errorf("%w: BindAddr %q is not an IP address and a port", ErrInvalidConfig, cfg.BindAddr)
	}
	host = cmp.Or(host, "0.0.0.0")
	var advHost string
	advPort := -1
	if cfg.AdvertiseAddr != "" {
		advHost, advPort, err = splitHostPort(cfg.AdvertiseAddr, -1)
		if err != nil || net.ParseIP(advHost) == nil {
			return nil, fmt.Errorf("%w: AdvertiseAddr %q is not an IP address with an optional port", ErrInvalidConfig, cfg.AdvertiseAddr)
		}
	}
	c := &Cluster{
		cfg:     cfg,
		log:     cfg.Logger.With("tier", "cluster"),
		members: make(map[string]*record),
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	c.ring = ring.New(ring.Config{VirtualNodes: cfg.VirtualNodes, Epsilon: cfg.Epsilon, MinLoad: cfg.MinLoad})
	c.view.Store(&view{ring: c.ring})
	if err := c.setMeta(wireMeta{NodeMeta: cfg.Meta}); err != nil {
		return nil, err
	}
	c.current = cfg.Meta

	stdlog := log.New(&logWriter{log: c.log}, "", 0)
	transport, err := listen(host, port, stdlog)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen on %s: %w", cfg.BindAddr, err)
	}
	port = transport.GetAutoBindPort()
	if cfg.Name == "" {
		hostname, _ := os.Hostname()
		cfg.Name = cmp.Or(hostname, "node") + "-" + strconv.Itoa(port)
	}
	c.cfg, c.name = cfg, cfg.Name
	c.log = c.log.With("node", c.name)
	stdlog.SetOutput(&logWriter{log: c.log})

	mlc.Name = cfg.Name
	mlc.Transport = transport
	mlc.BindAddr, mlc.BindPort = host, port
	mlc.AdvertiseAddr, mlc.AdvertisePort = advHost, port
	if advPort >= 0 {
		mlc.AdvertisePort = advPort
	}
	mlc.Delegate = (*delegate)(c)
	mlc.Events = (*delegate)(c)
	mlc.Logger = stdlog
	c.ml, err = memberlist.Create(mlc)
	if err != nil {
		_ = transport.Shutdown()
		return nil, fmt.Errorf("cluster: start gossip on %s: %w", cfg.BindAddr, err)
	}
	self := c.ml.LocalNode().Address()
	c.log.Info("cluster: gossip started", "addr", self)

	c.wg.Add(1)
	go c.notifyLoop()

	for _, s := range cfg.Seeds {
		if s != "" && s != self && s != cfg.BindAddr {
			c.seeds = append(c.seeds, s)
		}
	}
	return c, nil
}

// Join joins the cluster through Config.Seeds. It tries them all once, and returns nil when
// one answered and an error wrapping ErrNoSeed when none did; either way, for as long as this
// node then knows of no other, it goes on trying them in the background, backing off from 0.5
// to 30 seconds, until Leave or Close (see Config.Seeds). Without seeds it does nothing: the
// node starts a cluster, which others join through it. A second Join tries the seeds once
// more.
func (c *Cluster) Join() error {
	c.life.Lock()
	closed := c.closed
	c.life.Unlock()
	if closed {
		return ErrClosed
	}
	if len(c.seeds) == 0 {
		return nil
	}
	err := c.join(c.seeds)
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed {
		return ErrClosed
	}
	if !c.joining {
		c.joining = true
		delay := joinRetryMax
		if err != nil {
			delay = joinRetryMin
		}
		c.wg.Add(1)
		go c.joinLoop(c.seeds, delay)
	}
	return err
}

// tuning returns memberlist's preset called name.
func tuning(name string) (*memberlist.Config, error) {
	switch name {
	case TuningLAN:
		return memberlist.DefaultLANConfig(), nil
	case TuningWAN:
		return memberlist.DefaultWANConfig(), nil
	case TuningLocal:
		return memberlist.DefaultLocalConfig(), nil
	}
	return nil, fmt.Errorf("%w: Tuning %q is none of %q, %q, %q", ErrInvalidConfig, name, TuningLAN, TuningWAN, TuningLocal)
}

// splitHostPort splits "host:port", "host" (with defaultPort) or ":port".
func splitHostPort(addr string, defaultPort int) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(addr, "[]"), defaultPort, nil
		}
		return "", 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, err
	}
	return host, int(port), nil
}

// listen opens memberlist's UDP and TCP listeners. With port 0 the kernel picks a free TCP
// port, whose UDP twin may be taken: try again, as memberlist does.
func listen(host string, port int, logger *log.Logger) (*memberlist.NetTransport, error) {
	var err error
	for range 10 {
		var t *memberlist.NetTransport
		t, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{host},
			BindPort:  port,
			Logger:    logger,
		})
		if err == nil || port != 0 {
			return t, err
		}
	}
	return nil, err
}

// join tries to join the cluster through seeds, and returns an error wrapping ErrNoSeed when
// none answered.
func (c *Cluster) join(seeds []string) error {
	n, err := c.ml.Join(seeds)
	if n == 0 {
		c.log.Warn("cluster: no seed answered", "seeds", seeds, "err", err)
		if err == nil {
			return fmt.Errorf("%w: %v", ErrNoSeed, seeds)
		}
		return fmt.Errorf("%w: %v: %w", ErrNoSeed, seeds, err)
	}
	c.log.Info("cluster: joined", "seeds", seeds, "answered", n, "members", c.ml.NumMembers())
	return nil
}

// joinLoop joins through seeds whenever this node knows of no other: when no seed answered
// Join, and after a partition.
func (c *Cluster) joinLoop(seeds []string, delay time.Duration) {
	defer c.wg.Done()
	backoff := joinRetryMin
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-timer.C:
		}
		switch {
		case c.ml.NumMembers() > 1:
			delay, backoff = joinRetryMax, joinRetryMin
		case c.join(seeds) == nil:
			delay, backoff = joinRetryMax, joinRetryMin
		default:
			delay, backoff = backoff, min(2*backoff, joinRetryMax)
		}
		timer.Reset(delay)
	}
}

// notifyLoop calls OnChange after membership changes.
func (c *Cluster) notifyLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case <-c.changed:
			if c.cfg.OnChange != nil {
				c.cfg.OnChange(c.Members())
			}
		}
	}
}

// Self returns this node as a member.
func (c *Cluster) Self() Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.members[c.name]; ok {
		return r.Member
	}
	return Member{Name: c.name, Meta: c.cfg.Meta}
}

// Members returns every node this node knows of, sorted by name: the live ones and, for ten
// minutes after, the ones that died or left.
func (c *Cluster) Members() []Member {
	return slices.Clone(c.view.Load().members)
}

// Owner returns the live member that owns key: see ring.Ring.Owner. All nodes that see the
// same membership agree on it as long as they do not use Acquire. It returns the zero Member
// when no member is live (after Leave).
func (c *Cluster) Owner(key string) Member {
	v := c.view.Load()
	return v.live[v.ring.Owner(key)]
}

// Owners returns up to n distinct live members for key, Owner(key) first, then the ones to
// try when it does not answer: see ring.Ring.Owners.
func (c *Cluster) Owners(key string, n int) []Member {
	v := c.view.Load()
	names := v.ring.Owners(key, n)
	owners := make([]Member, len(names))
	for i, name := range names {
		owners[i] = v.live[name]
	}
	return owners
}

// Acquire returns the owner of key as Owner does and counts one more load on it, on this
// node's ring, until release is called: see ring.Ring.Acquire. Loads are this node's own (they
// are not gossiped): with them, owners under pressure differ from node to node. The load of a
// member survives membership changes while it stays live.
func (c *Cluster) Acquire(key string) (owner Member, release func()) {
	v := c.view.Load()
	name, release := v.ring.Acquire(key)
	return v.live[name], release
}

// AcquireNode counts one more load on the live member called name, whatever its bound, on this
// node's ring, until release is called: see ring.Ring.AcquireNode. It is how a node counts
// against itself the work that other nodes send it. It returns a no-op for a name that is not
// a live member.
func (c *Cluster) AcquireNode(name string) (release func()) {
	return c.view.Load().ring.AcquireNode(name)
}

// Loads returns the load that Acquire and AcquireNode count on each live member, by name.
func (c *Cluster) Loads() map[string]int64 {
	return c.view.Load().ring.Loads()
}

// UpdateMeta replaces this node's metadata and gossips it, waiting up to timeout for the
// broadcast to go out.
func (c *Cluster) UpdateMeta(meta NodeMeta, timeout time.Duration) error {
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := meta.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.setMeta(wireMeta{NodeMeta: meta}); err != nil {
		return err
	}
	c.current = meta
	if err := c.ml.UpdateNode(atLeastMillisecond(timeout)); err != nil {
		return fmt.Errorf("cluster: update metadata: %w", err)
	}
	return nil
}

// Leave leaves the cluster gracefully and closes c. It first marks this node as leaving in its
// metadata, so that the other nodes stop giving it keys and record it as left rather than
// failed, then announces the departure, then shuts gossip down. It waits up to timeout in all
// for the broadcasts to go out (5 seconds when timeout is not positive), and shuts down
// whether or not they did.
func (c *Cluster) Leave(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	deadline := time.Now().Add(timeout)
	c.life.Lock()
	if c.closed {
		c.life.Unlock()
		return ErrClosed
	}
	var errs []error
	meta := wireMeta{NodeMeta: c.current, Leaving: true}
	if err := c.setMeta(meta); err != nil {
		errs = append(errs, err)
	} else if err := c.ml.UpdateNode(atLeastMillisecond(time.Until(deadline))); err != nil {
		errs = append(errs, fmt.Errorf("cluster: announce leaving: %w", err))
	}
	// Gossip may lose both that update and memberlist's leave message (UDP, to random members,
	// on a busy machine), and memberlist's leave events do not say whether a node left or
	// died. So each member is also told directly, over TCP, before the leave.
	notice := []byte(leavingNotice + c.cfg.Name)
	for _, n := range c.peers() {
		if time.Now().After(deadline) {
			break
		}
		if err := c.ml.SendReliable(n, notice); err != nil {
			c.log.Warn("cluster: telling a member this node leaves", "member", n.Name, "err", err)
		}
	}
	if err := c.ml.Leave(atLeastMillisecond(time.Until(deadline))); err != nil {
		errs = append(errs, fmt.Errorf("cluster: leave: %w", err))
	}
	c.life.Unlock()
	c.log.Info("cluster: left")
	errs = append(errs, c.Close())
	return errors.Join(errs...)
}

// peers returns the other live members as memberlist nodes of their own, built from c.members:
// the nodes that memberlist's Members returns are its own, which it updates as it reads.
func (c *Cluster) peers() []*memberlist.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*memberlist.Node
	for name, r := range c.members {
		if name == c.cfg.Name || r.State != StateAlive {
			continue
		}
		host, port, err := net.SplitHostPort(r.Addr)
		p, perr := strconv.ParseUint(port, 10, 16)
		ip := net.ParseIP(host)
		if err != nil || perr != nil || ip == nil {
			continue
		}
		out = append(out, &memberlist.Node{Name: name, Addr: ip, Port: uint16(p)})
	}
	return out
}

// atLeastMillisecond keeps a timeout for memberlist positive: it waits forever on zero.
func atLeastMillisecond(d time.Duration) time.Duration {
	return max(d, time.Millisecond)
}

// Close shuts gossip down without leaving: the other nodes see this node fail. Use Leave to
// go gracefully. Owner and the other lookups keep answering from the last membership.
func (c *Cluster) Close() error {
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.done)
	err := c.ml.Shutdown()
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("cluster: shutdown: %w", err)
	}
	return nil
}

// setMeta makes m the metadata that memberlist gossips from now on.
func (c *Cluster) setMeta(m wireMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("cluster: encode metadata: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return fmt.Errorf("%w: metadata of %d bytes, more than memberlist's %d", ErrInvalidConfig, len(b), memberlist.MetaMaxSize)
	}
	c.meta.Store(&b)
	return nil
}

// delegate is the face of a Cluster that memberlist calls, kept out of Cluster's methods.
// memberlist calls the events with its node lock held: they must not call back into it.
type delegate Cluster

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

// NodeMeta returns this node's metadata, which New and UpdateMeta keep within limit.
func (d *delegate) NodeMeta(limit int) []byte {
	b := *d.meta.Load()
	if len(b) > limit {
		return nil
	}
	return b
}

// leavingNotice starts the message that Leave sends each member over TCP, followed by the
// leaving node's name.
const leavingNotice = "reelay-cluster-leaving:"

// NotifyMsg takes the leaving notice of a member (see Leave); other messages are ignored.
func (d *delegate) NotifyMsg(b []byte) {
	if name, ok := strings.CutPrefix(string(b), leavingNotice); ok && name != "" {
		(*Cluster)(d).markLeaving(name)
	}
}

// GetBroadcasts sends no user messages.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState has no state to push beyond memberlist's own.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState has no state to merge.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyJoin records a node that joined, or came back.
func (d *delegate) NotifyJoin(n *memberlist.Node) { (*Cluster)(d).observe(n, false) }

// NotifyUpdate records a node's new metadata.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { (*Cluster)(d).observe(n, false) }

// NotifyLeave records a node that left or failed.
func (d *delegate) NotifyLeave(n *memberlist.Node) { (*Cluster)(d).observe(n, true) }

// observe records what memberlist says of node n, rebuilds the ring if the live members
// changed, and wakes notifyLoop.
func (c *Cluster) observe(n *memberlist.Node, gone bool) {
	meta, err := decodeMeta(n.Meta)
	usable := err == nil
	if err != nil {
		c.log.Warn("cluster: unusable metadata: the node owns no keys", "member", n.Name, "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	r, ok := c.members[n.Name]
	if !ok {
		r = &record{}
		c.members[n.Name] = r
	}
	r.Name, r.Addr = n.Name, n.Address()
	r.Meta, r.usable = meta.NodeMeta, usable
	// A node that leaves says so in its metadata and in a notice to each member (markLeaving),
	// before memberlist's leave message, whose event does not tell leaving from dying.
	r.leaving = meta.Leaving || (gone && r.leaving)
	state := StateAlive
	switch {
	case r.leaving:
		state = StateLeft
	case gone:
		state = StateDead
	}
	if !ok || state != r.State {
		r.State, r.Since = state, now
		c.log.Info("cluster: member "+state.String(), "member", n.Name, "addr", r.Addr, "http", r.Meta.HTTPAddr)
	}
	for name, r := range c.members {
		if r.State != StateAlive && now.Sub(r.Since) > forgetAfter {
			delete(c.members, name)
		}
	}
	c.rebuildLocked()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// markLeaving records the notice of member name that it is leaving: it stops owning keys now,
// and is recorded as left, not dead, when memberlist sees it go.
func (c *Cluster) markLeaving(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.members[name]
	if !ok || r.leaving {
		return
	}
	r.leaving = true
	if r.State == StateAlive {
		r.State, r.Since = StateLeft, time.Now()
		c.log.Info("cluster: member "+StateLeft.String(), "member", name, "addr", r.Addr, "http", r.Meta.HTTPAddr)
	}
	c.rebuildLocked()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// rebuildLocked publishes a new view of c.members, with a new ring over its live members.
func (c *Cluster) rebuildLocked() {
	members := make([]Member, 0, len(c.members))
	var live []*record
	for _, r := range c.members {
		members = append(members, r.Member)
		if r.State == StateAlive && r.usable {
			live = append(live, r)
		}
	}
	slices.SortFunc(members, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })

	// Weights are capacities; a node without one counts as average, and all are equal
	// when none has one.
	var sum float64
	var known int
	for _, r := range live {
		if r.Meta.CapacityBytes > 0 {
			sum += float64(r.Meta.CapacityBytes)
			known++
		}
	}
	nodes := make([]ring.Node, len(live))
	for i, r := range live {
		nodes[i] = ring.Node{Name: r.Name, Weight: 1}
		if known > 0 {
			nodes[i].Weight = sum / float64(known)
			if r.Meta.CapacityBytes > 0 {
				nodes[i].Weight = float64(r.Meta.CapacityBytes)
			}
		}
	}
	c.ring = c.ring.Rebuild(nodes...)
	byName := make(map[string]Member, len(live))
	for _, r := range live {
		byName[r.Name] = r.Member
	}
	c.view.Store(&view{ring: c.ring, live: byName, members: members})
}

// logWriter passes memberlist's log lines, "[LEVEL] memberlist: message", to a slog.Logger.
type logWriter struct {
	log *slog.Logger
}

func (w *logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	if tag, rest, ok := strings.Cut(line, "] "); ok && strings.HasPrefix(tag, "[") {
		switch tag[1:] {
		case "TRACE", "DEBUG":
			level = slog.LevelDebug
		case "WARN":
			level = slog.LevelWarn
		case "ERR", "ERROR":
			level = slog.LevelError
		}
		line = rest
	}
	if w.log.Enabled(context.Background(), level) {
		w.log.Log(context.Background(), level, line, "component", "memberlist")
	}
	return len(p), nil
}
