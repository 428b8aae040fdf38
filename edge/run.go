package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/cluster"
)

// States of an Edge.
const (
	stateNew int32 = iota
	stateRunning
	stateDone
)

// Run serves HTTP and joins the cluster through its seeds (when there is one) until ctx is
// done. Then it stops gracefully: it waits for the requests in progress, at most
// Config.ShutdownTimeout, leaves the cluster, and closes the disk cache. It returns nil after
// a graceful stop, and the server's error if it stopped serving on its own. An Edge runs once.
//
// A seed that does not answer does not stop Run: the node serves alone meanwhile, and joins
// once a seed answers (see cluster.Config.Seeds). Nor does a leave whose announcement did not
// go out in time, which is logged: the others then see the node fail rather than leave.
func (e *Edge) Run(ctx context.Context) error {
	if !e.state.CompareAndSwap(stateNew, stateRunning) {
		return ErrClosed
	}
	errc := make(chan error, 1)
	go func() { errc <- e.serve() }()
	if e.cluster != nil {
		if err := e.cluster.Join(); err != nil {
			e.log.Warn("edge: joining the cluster", "err", err)
		}
	}
	// Serve until ctx is done or the server fails, then stop gracefully either way.
	var errs []error
	select {
	case err := <-errc:
		// Accept errors that pass are ridden out (internal/listener): this one is for good.
		if err == nil {
			err = errors.New("the server stopped")
		}
		e.log.Error("edge: the listener failed: stopping", "err", err)
		errs = append(errs, fmt.Errorf("edge: serve: %w", err))
		errc = nil
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.ShutdownTimeout)
	errs = append(errs, e.shutdown(sctx))
	cancel()
	if errc != nil {
		if err := <-errc; err != nil {
			errs = append(errs, fmt.Errorf("edge: serve: %w", err))
		}
	}
	e.state.Store(stateDone)
	errs = append(errs, e.release(true))
	return errors.Join(errs...)
}

// Close releases what New acquired, for an Edge that will not Run: the listener, the gossip
// (stopped without leaving, as a node that never joined) and the disk cache. It does nothing
// once Run has started, which releases them itself: stop a running Edge with Run's context.
func (e *Edge) Close() error {
	if !e.state.CompareAndSwap(stateNew, stateDone) {
		return nil
	}
	return e.release(false)
}

// release closes what New acquired: the listener, the cluster (leaving it gracefully when
// leave is set) and the disk cache.
func (e *Edge) release(leave bool) error {
	var errs []error
	if e.ln != nil {
		if err := e.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("edge: close listener: %w", err))
		}
	}
	switch {
	case e.cluster == nil:
	case leave:
		if err := e.cluster.Leave(leaveTimeout); err != nil && !errors.Is(err, cluster.ErrClosed) {
			e.log.Warn("edge: leaving the cluster", "err", err)
		}
	default:
		if err := e.cluster.Close(); err != nil {
			errs = append(errs, fmt.Errorf("edge: close the cluster: %w", err))
		}
	}
	if e.disk != nil {
		if err := e.disk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("edge: close disk cache: %w", err))
		}
	}
	return errors.Join(errs...)
}

// serve serves HTTP on the listener until shutdown. One that starts after shutdown has begun
// returns at once: shutdown closes the listener whether or not fasthttp has seen it.
func (e *Edge) serve() error {
	if e.shut.Load() {
		return nil
	}
	e.log.Info("edge: serving", "addr", e.ln.Addr().String(), "origin", e.origin)
	return e.server.Serve(e.ln)
}

// shutdown stops the HTTP server gracefully, waiting until ctx is done for open requests to
// finish.
//
// Connections that wait for a request, new or kept alive, are closed at once, and the others
// as soon as their request is answered: fasthttp alone would wait for a connection that never
// sent a request until its read timeout, past most shutdown deadlines.
func (e *Edge) shutdown(ctx context.Context) error {
	e.shut.Store(true)
	// A connection that falls idle from now on is closed by trackConn.
	e.conns.Range(func(c, cs any) bool {
		if st := cs.(*connState); st.idle.Load() || !st.served.Load() {
			c.(net.Conn).Close()
		}
		return true
	})
	err := e.server.ShutdownWithContext(ctx)
	// fasthttp closes only a listener its Serve has registered; one whose Serve had not got
	// that far would keep accepting. Closing twice is harmless.
	e.ln.Close()
	if err != nil {
		return fmt.Errorf("edge: shutdown: %w", err)
	}
	e.log.Info("edge: stopped serving")
	return nil
}

// connState is what shutdown needs to know of a connection. Its fields change with every
// request, without a lock: the map of connections changes only when they open and close.
type connState struct {
	idle   atomic.Bool // waiting for its next request
	served atomic.Bool // a request on it has reached the handler
}

// trackConn follows the server's connections for shutdown, and closes those that fall idle
// once it has begun.
func (e *Edge) trackConn(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		e.conns.Store(c, &connState{})
		if e.shut.Load() { // accepted as shutdown began: its sweep may have missed it
			c.Close()
		}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		e.conns.Delete(c)
	case fasthttp.StateActive, fasthttp.StateIdle:
		// fasthttp calls a new connection active before its first request has arrived.
		if cs, ok := e.conns.Load(c); ok {
			cs.(*connState).idle.Store(st == fasthttp.StateIdle)
		}
		if hc, ok := c.(*headConn); ok && st == fasthttp.StateIdle {
			hc.expectHead()
			hc.Idle() // silent until its next request's bytes are read: it may make room at the cap
		}
		if st == fasthttp.StateIdle && e.shut.Load() {
			c.Close()
		}
	}
}

// serving notes that the first request of a connection has reached the handler.
func (e *Edge) serving(c net.Conn) {
	if cs, ok := e.conns.Load(c); ok {
		cs.(*connState).served.Store(true)
	}
}
