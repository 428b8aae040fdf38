// Package listener guards the TCP listener of a server that faces the public: it caps the
// connections open at once, in all and per client address, closing those past a cap as soon
// as they are accepted, except that at the listener's cap a new connection takes the place of
// the oldest silent one: one that has sent nothing yet, or that waits on keep-alive for its
// next request (see Conn.Idle), so that a flood of idle connections from many addresses
// cannot keep a normal client out; it rides out the accept errors that pass (out of file descriptors,
// a connection aborted before it was accepted) with a backoff instead of failing the server;
// and it makes every write on a connection progress within Limits.WriteTimeout.
//
//	ln, _ := net.Listen("tcp", addr)
//	l := listener.New(ln, listener.Config{Name: "api", Limits: limits, Metrics: m, Logger: log})
//	srv.Serve(l)
//
// Limits also holds the read and idle timeouts, which the HTTP servers apply themselves
// (internal/server for net/http, the edge for fasthttp).
package listener

import (
	"container/list"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of Limits.
const (
	DefaultMaxConns          = 10000
	DefaultMaxConnsPerClient = 1000
	DefaultHeaderTimeout     = 10 * time.Second
	DefaultBodyTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// Limits bounds what clients may hold of a server: its connections, and how long they may
// keep it waiting. A zero field takes its default.
type Limits struct {
	// MaxConns caps the connections open at once on the listener: past it, the oldest open
	// connection that is silent (that has sent nothing yet, or waits for its next request)
	// is closed to make room for a new one, or, when none is, the new connection is closed as soon as it is accepted. Default DefaultMaxConns (10,000); negative for no
	// cap.
	MaxConns int
	// MaxConnsPerClient caps the connections open at once from one client address: an IPv4
	// address, or an IPv6 /64, which one subscriber usually has whole (see ClientKey). Behind
	// a reverse proxy or a load balancer every connection comes from its address: raise the
	// cap or turn it off there. Default DefaultMaxConnsPerClient (1,000); negative for no cap.
	MaxConnsPerClient int
	// HeaderTimeout bounds the reading of a request's header, from when the server waits for
	// it: a new connection must send its first request's header within it. Default
	// DefaultHeaderTimeout (10 s).
	HeaderTimeout time.Duration
	// BodyTimeout bounds the reading of a request's body. On a net/http listener
	// (internal/server) it bounds each wait for more of the body, so that a long upload that
	// keeps sending is never cut, while a client that stops sending is; a handler that sets
	// its own read deadline (http.ResponseController) takes over from it. On the edge
	// (fasthttp), which reads a body whole before it answers, it bounds the whole body.
	// Default DefaultBodyTimeout (30 s).
	BodyTimeout time.Duration
	// WriteTimeout bounds each wait for the client to take more of a response: every write
	// on a connection must progress within it, however long the response. Default
	// DefaultWriteTimeout (30 s).
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive connection. Default
	// DefaultIdleTimeout (2 minutes).
	IdleTimeout time.Duration
}

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxConns, DefaultMaxConns)
	set(&l.MaxConnsPerClient, DefaultMaxConnsPerClient)
	setD(&l.HeaderTimeout, DefaultHeaderTimeout)
	setD(&l.BodyTimeout, DefaultBodyTimeout)
	setD(&l.WriteTimeout, DefaultWriteTimeout)
	setD(&l.IdleTimeout, DefaultIdleTimeout)
	return l
}

// Config configures a Listener.
type Config struct {
	// Name labels the listener in logs and metrics ("api", "edge", ...). Default "".
	Name string
	// Limits are the caps on connections, and the write timeout. Default: the zero Limits,
	// whose fields all take their defaults.
	Limits Limits
	// Metrics counts the connections open, refused and the accept errors ridden out.
	// Default nil: not counted.
	Metrics *Metrics
	// Logger receives the accept errors ridden out and the refusals, at most one of each
	// kind every LogInterval, without the listener's Name: give it the attributes that tell
	// which listener it is. Default: discarded.
	Logger *slog.Logger
}

// LogInterval is the shortest time between two logs of one kind of trouble (an accept error,
// a refusal for one cap): a flood must not flood the logs as well.
const LogInterval = 10 * time.Second

// Reasons of a refusal, as in the metric's "reason" label.
const (
	ReasonListener = "listener" // the listener's cap, Limits.MaxConns
	ReasonClient   = "client"   // the client's cap, Limits.MaxConnsPerClient
	// ReasonSilent counts the connections closed to make room at the listener's cap: each
	// the oldest of those that were silent.
	ReasonSilent = "silent"
)

// Backoff bounds of Accept after an error that passes, as net/http's: from 5 ms, doubling,
// up to 1 s.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// Listener is a net.Listener whose Accept returns only connections within the caps, and
// returns an error only when the listener cannot go on.
type Listener struct {
	ln      net.Listener
	name    string
	limits  Limits
	metrics *Metrics
	log     *slog.Logger

	closed    chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	open    int
	clients map[netip.Addr]int
	silent  list.List // of *Conn: the open connections that are silent, the longest silent first

	lastLog [3]atomic.Int64 // unix nanoseconds of the last log of each kind
}

// Kinds of logs, each logged at most once every LogInterval.
const (
	logAcceptError = iota
	logListenerCap
	logClientCap
)

var _ net.Listener = (*Listener)(nil)

// New returns ln guarded by cfg. Closing the Listener closes ln.
func New(ln net.Listener, cfg Config) *Listener {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{
		ln:      ln,
		name:    cfg.Name,
		limits:  cfg.Limits.WithDefaults(),
		metrics: cfg.Metrics,
		log:     log,
		closed:  make(chan struct{}),
		clients: make(map[netip.Addr]int),
	}
}

// Accept waits for the next connection within the caps. Connections past a cap are closed
// at once and counted. Errors that pass are retried after a backoff, as net/http's Server
// does, and logged; Accept returns only the errors that do not pass, such as that of a
// closed listener.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if !Temporary(err) {
				return nil, err
			}
			delay = min(max(2*delay, minBackoff), maxBackoff)
			l.metrics.acceptError(l.name)
			if l.due(logAcceptError) {
				l.log.Warn("accept failed; retrying", "err", err, "backoff", delay)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		conn := &Conn{Conn: c, l: l, key: ClientKey(c.RemoteAddr()), writeTimeout: l.limits.WriteTimeout}
		key := conn.key
		if reason := l.admit(conn); reason != "" {
			// Counted before the close, which the client may see at once.
			l.metrics.refuse(l.name, reason)
			c.Close()
			kind := logListenerCap
			if reason == ReasonClient {
				kind = logClientCap
			}
			if l.due(kind) {
				l.log.Warn("connection refused: too many open", "cap", reason, "client", key, "max_conns", l.limits.MaxConns, "max_conns_per_client", l.limits.MaxConnsPerClient)
			}
			continue
		}
		l.metrics.opened(l.name)
		return conn, nil
	}
}

// Close closes the listener: Accept returns net.ErrClosed, even during a backoff. Open
// connections stay open.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.ln.Close()
}

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Open returns the number of connections open, and of those from the client at key.
func (l *Listener) Open(key netip.Addr) (all, client int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.clients[key]
}

// admit counts a new connection, or returns why it is refused. At the listener's cap it
// closes the oldest silent connection to make room, if there is one.
func (l *Listener) admit(c *Conn) (reason string) {
	key := c.key
	l.mu.Lock()
	defer l.mu.Unlock()
	if key.IsValid() && l.limits.MaxConnsPerClient > 0 && l.clients[key] >= l.limits.MaxConnsPerClient {
		return ReasonClient
	}
	for l.limits.MaxConns > 0 && l.open >= l.limits.MaxConns {
		oldest := l.silent.Front()
		if oldest == nil {
			return ReasonListener
		}
		victim := oldest.Value.(*Conn)
		l.silent.Remove(oldest)
		victim.elem = nil
		l.mu.Unlock()
		l.metrics.refuse(l.name, ReasonSilent)
		victim.Close() // uncounts it, taking l.mu
		l.mu.Lock()
	}
	l.open++
	if key.IsValid() {
		l.clients[key]++
	}
	c.elem = l.silent.PushBack(c)
	return ""
}

// heard takes c off the silent connections: it has sent bytes, or the server is busy with
// its request.
func (l *Listener) heard(c *Conn) {
	l.mu.Lock()
	if c.elem != nil {
		l.silent.Remove(c.elem)
		c.elem = nil
	}
	l.mu.Unlock()
}

// release uncounts the connection c.
func (l *Listener) release(c *Conn) {
	key := c.key
	l.mu.Lock()
	if c.elem != nil {
		l.silent.Remove(c.elem)
		c.elem = nil
	}
	c.released = true
	l.open--
	if key.IsValid() {
		if n := l.clients[key] - 1; n > 0 {
			l.clients[key] = n
		} else {
			delete(l.clients, key)
		}
	}
	l.mu.Unlock()
	l.metrics.closed(l.name)
}

// due reports whether a log of the kind is due: the first of its kind, or the first after
// LogInterval.
func (l *Listener) due(kind int) bool {
	now := time.Now().UnixNano()
	last := l.lastLog[kind].Load()
	return (last == 0 || now-last >= int64(LogInterval)) && l.lastLog[kind].CompareAndSwap(last, now)
}

// ClientKey returns the address that a client's connections are counted under: its IPv4
// address, or the /64 of its IPv6 address (an IPv4-mapped one counts as IPv4). It is the
// invalid Addr for an address that is not IP (a Unix socket): such connections count only
// against the listener's cap.
func ClientKey(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	case nil:
		return netip.Addr{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// temporaryErrors are the errors of accept(2) that pass: the process or the system is out of
// file descriptors or memory for now, a client gave up or its network failed before its
// connection was accepted (Linux reports such errors of the new connection from accept, and
// asks to retry), or a firewall rule refused it.
var temporaryErrors = []error{
	syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN,
	syscall.ECONNABORTED, syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.EPERM,
	syscall.EPROTO, syscall.ENETDOWN, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.EHOSTUNREACH,
	syscall.ENOPROTOOPT, syscall.EOPNOTSUPP,
}

// Temporary reports whether an error of Accept passes, so that accepting again later may
// succeed (see temporaryErrors).
func Temporary(err error) bool {
	for _, e := range temporaryErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Conn is a connection accepted by a Listener. It is uncounted when closed, and each write
// on it must progress within Limits.WriteTimeout, or within the deadline set on it if that
// comes sooner.
type Conn struct {
	net.Conn
	l            *Listener
	key          netip.Addr
	writeTimeout time.Duration
	closeOnce    sync.Once

	elem     *list.Element // in l.silent while the connection is silent; guarded by l.mu
	released bool          // uncounted by Close; guarded by l.mu
	spoke    atomic.Bool   // the connection has sent bytes since it was accepted or last idle

	writeSet atomic.Int64 // unix nanoseconds when the write deadline was last moved; 0 to move it at the next write
	deadline atomic.Int64 // unix nanoseconds of the write deadline set by the server; 0 for none
}

// Client returns the address the connection is counted under (see ClientKey).
func (c *Conn) Client() netip.Addr { return c.key }

// Close closes the connection and uncounts it, once.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.release(c) })
	return err
}

// Read reads from the connection. Its first bytes, and the first after Idle, take it off
// the listener's silent connections, which make room for new ones at the listener's cap.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.spoke.Load() {
		c.spoke.Store(true)
		c.l.heard(c)
	}
	return n, err
}

// Idle tells the listener that the server has answered the connection's request and waits
// on keep-alive for its next: the connection is silent again, and at the listener's cap the
// one silent the longest is closed to make room for a new one. Its next bytes read, or Busy,
// end that. HTTP clients retry a request that finds a kept-alive connection closed.
func (c *Conn) Idle() {
	c.spoke.Store(false)
	c.l.mu.Lock()
	if c.elem == nil && !c.released {
		c.elem = c.l.silent.PushBack(c)
	}
	c.l.mu.Unlock()
}

// Busy tells the listener that the server is reading or serving a request of the
// connection, whose bytes may have been read before Idle: it is not silent.
func (c *Conn) Busy() {
	c.spoke.Store(true)
	c.l.heard(c)
}

// Write writes p, first moving the write deadline to WriteTimeout from now when a tenth of
// it has passed since it was last moved: a stalled client is cut within 1.1 timeouts, and a
// fast response does not pay a deadline update per write.
func (c *Conn) Write(p []byte) (int, error) {
	c.extend(false)
	return c.Conn.Write(p)
}

// ReadFrom copies r to the connection with the underlying connection's ReadFrom (sendfile,
// splice) when it has one, a chunk at a time so that each chunk gets its write deadline.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{c}, r)
	}
	const chunk = 256 << 10
	var total int64
	for {
		c.extend(true)
		lr := &io.LimitedReader{R: r, N: chunk}
		n, err := rf.ReadFrom(lr)
		total += n
		if err != nil || lr.N > 0 { // an error, or the end of r before the end of the chunk
			return total, err
		}
	}
}

// SyscallWrite moves the write deadline as Write does, then calls f with the connection's file
// descriptor as syscall.RawConn's Write does: f returns false to wait until the connection
// is writable, and is called again, until it returns true or the deadline passes. It is for
// writers that make their own system calls on the connection.
func (c *Conn) SyscallWrite(f func(fd uintptr) bool) error {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	c.extend(false)
	return rc.Write(f)
}

// extend moves the write deadline to WriteTimeout from now (or to the server's deadline, if
// sooner), when a tenth of WriteTimeout has passed since the last move, or always.
func (c *Conn) extend(always bool) {
	now := time.Now()
	if !always && now.UnixNano()-c.writeSet.Load() < int64(c.writeTimeout/10) {
		return
	}
	c.writeSet.Store(now.UnixNano())
	d := now.Add(c.writeTimeout)
	if set := c.deadline.Load(); set != 0 && set < d.UnixNano() {
		d = time.Unix(0, set)
	}
	c.Conn.SetWriteDeadline(d)
}

// SetWriteDeadline sets the server's write deadline, which bounds the writes as well as
// WriteTimeout does; the zero time leaves WriteTimeout alone.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets the read deadline and the server's write deadline (see SetWriteDeadline).
func (c *Conn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *Conn) setDeadline(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.deadline.Store(ns)
	c.writeSet.Store(0) // the next write sets the deadline that applies
}

// CloseWrite shuts down the writing side of the connection, when it is a TCP connection:
// net/http does so before it closes a connection after an error.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// SyscallConn gives the underlying connection's file descriptor, when it has one: the edge
// peeks at it to tell whether a client went away.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// writerOnly hides a Conn's ReadFrom from io.Copy, which would call it again.
type writerOnly struct{ io.Writer }
