package edge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/cluster"
	"github.com/reelay/reelay/edge/cache"
	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/signedurl"
	"github.com/reelay/reelay/internal/tracing"
)

// how tells where an answer came from, for Cache-Status and the counters.
type how int

const (
	howHit      how = iota // from the cache, fresh
	howStale               // from the cache, stale: the refresh failed
	howNegative            // a remembered 404
	howOrigin              // filled from the origin
	howPeer                // filled from the owner
)

// fill is the answer to a request for an object.
type fill struct {
	status    int         // upstream's status; 200 means entry is set
	entry     cache.Entry // the object, when status is 200; without Body while stream is set
	stream    *filling    // the body, while it is still arriving
	how       how
	refresh   bool // a stale playlist was refreshed
	collapsed bool // the request shared another request's fetch
}

// get answers obj from the caches or fills it. peer is set for a fill request from another
// node, which must not be forwarded again. tctx carries the span of the request, the parent
// of the fill's (context.Background() untraced).
func (e *Edge) get(tctx context.Context, obj layout.Object, peer bool) (fill, error) {
	ent, ok := e.cached(obj.Path)
	if ok && e.fresh(obj, ent) {
		e.stats.hits.Add(1)
		return fill{status: 200, entry: ent, how: howHit}, nil
	}
	if !ok && e.negative(obj.Path) {
		e.stats.hits.Add(1)
		return fill{status: 404, how: howNegative}, nil
	}
	e.stats.misses.Add(1)
	if fl := e.filling(obj.Path); fl != nil && !ok { // a stale playlist is never streamed
		e.stats.coalesced.Add(1)
		return fill{status: 200, entry: fl.meta, stream: fl, how: fl.how, collapsed: true}, nil
	}
	f, err := e.fetch(tctx, obj, peer)
	if ok {
		// A stale playlist: serve the cached one unless the refresh got an answer.
		if err != nil || f.status >= 500 {
			e.stats.stale.Add(1)
			return fill{status: 200, entry: ent, how: howStale}, nil
		}
		f.refresh = true
	}
	return f, err
}

// whole returns f with the body complete, waiting for a streamed one to arrive.
func (f fill) whole() (fill, error) {
	if f.stream == nil {
		return f, nil
	}
	ent, err := f.stream.whole()
	if err != nil {
		return fill{}, fmt.Errorf("edge: fill %s: %w", f.stream.key, err)
	}
	f.entry, f.stream = ent, nil
	return f, nil
}

// cached looks key up in memory, then on disk; a disk hit is copied into memory.
func (e *Edge) cached(key string) (cache.Entry, bool) {
	if ent, ok := e.mem.Get(key); ok {
		return ent, true
	}
	if e.disk == nil {
		return cache.Entry{}, false
	}
	ent, ok := e.disk.Get(key)
	if ok {
		e.mem.Set(key, ent)
	}
	return ent, ok
}

// fresh reports whether a cached entry may be served without asking upstream: immutable
// objects always, playlists until their max-age has passed.
func (e *Edge) fresh(obj layout.Object, ent cache.Entry) bool {
	if !obj.Kind.Mutable() {
		return true
	}
	return time.Since(ent.StoredAt) < httpsem.MaxAge(ent.CacheControl)
}

// fetch fills obj from upstream and counts the request as collapsed when it shared another's
// fetch. A peer's request, or any request of a standalone node, fills from the origin; any
// other request fills through the cluster (fetchRouted).
func (e *Edge) fetch(tctx context.Context, obj layout.Object, peer bool) (fill, error) {
	var (
		f   fill
		err error
	)
	switch {
	case peer:
		// The fill counts in the ring of the node that sent it here. Each node balances the
		// fills it routes: were a node to count the fills it serves for the others too, under
		// even traffic every node would see itself past its bound and move keys for nothing.
		f, err = e.fetchOrigin(tctx, obj, func() {})
	case e.picker == nil:
		f, err = e.fetchOrigin(tctx, obj, nil)
	default:
		f, err = e.fetchRouted(tctx, obj)
	}
	if err == nil && f.collapsed {
		e.stats.coalesced.Add(1)
	}
	return f, err
}

// fetchRouted fills obj, one fetch at a time per key, from the node the cluster picks for it
// given the fills in flight: itself, from the origin, or a peer, which fills from the origin
// itself. The fill counts against the node picked until it ends. When the peer fails (it may
// be down before the cluster has noticed), the fill goes to the next node for the key, which
// owns it once the peer is gone, unless that is this node; and when that one fails too, or
// there is none, to the origin.
//
// Fetches from the origin are coalesced apart from these (see fetchOrigin), so that a node
// answering a peer never waits on a fetch of its own that went to that peer.
func (e *Edge) fetchRouted(tctx context.Context, obj layout.Object) (fill, error) {
	ran := false // this caller's function ran: Do's shared is true for it too when others joined
	v, err, shared := e.flight.Do("p"+obj.Path, func() (any, error) {
		ran = true
		if f, ok := e.ready(obj); ok {
			return f, nil
		}
		owner, lease := e.picker.Acquire(obj.Path)
		if owner.Name == "" || owner.Name == e.self || owner.Meta.HTTPAddr == "" {
			f, err := e.fetchOrigin(tctx, obj, lease)
			if err != nil || f.status >= 500 {
				// The origin fails. Under load this node may have passed the key to the next
				// node clockwise, which keeps it: any stored copy beats an error.
				if g, ok := e.fetchStored(tctx, obj); ok {
					return g, nil
				}
			}
			return f, err
		}
		if f, ok := e.fetchPeer(tctx, obj, owner, lease); ok {
			return f, nil
		}
		for _, m := range e.picker.Owners(obj.Path, 3) {
			if m.Name == owner.Name {
				continue
			}
			if m.Name != e.self && m.Meta.HTTPAddr != "" {
				if f, ok := e.fetchPeer(tctx, obj, m, e.picker.AcquireNode(m.Name)); ok {
					return f, nil
				}
			}
			break
		}
		return e.fetchOrigin(tctx, obj, nil)
	})
	if err != nil {
		return fill{}, err
	}
	f := v.(fill)
	f.collapsed = f.collapsed || shared && !ran
	return f, nil
}

// fetchStored asks the other nodes that the ring gives obj's key to, in turn, for the copy
// they store (peerStored), and returns the first one's.
func (e *Edge) fetchStored(tctx context.Context, obj layout.Object) (fill, bool) {
	for _, m := range e.picker.Owners(obj.Path, 3) {
		if m.Name == e.self || m.Meta.HTTPAddr == "" {
			continue
		}
		f, err := e.fetchObject(tctx, obj, "http://"+m.Meta.HTTPAddr+obj.Path, peerStored, howPeer, func() {})
		if err == nil && f.status == 200 {
			e.stats.peerFills.Add(1)
			return f, true
		}
	}
	return fill{}, false
}

// stored answers a peer that asks for the copy of obj that this node stores, fresh or stale,
// or arriving, without fetching it: the request of a node whose origin fails (fetchStored). It
// answers 504 not_stored when there is none, as an HTTP cache answers only-if-cached (RFC 9111).
func (e *Edge) stored(obj layout.Object) (fill, error) {
	if ent, ok := e.cached(obj.Path); ok {
		e.stats.hits.Add(1)
		if !e.fresh(obj, ent) {
			e.stats.stale.Add(1)
			return fill{status: 200, entry: ent, how: howStale}, nil
		}
		return fill{status: 200, entry: ent, how: howHit}, nil
	}
	if fl := e.filling(obj.Path); fl != nil {
		return fill{status: 200, entry: fl.meta, stream: fl, how: fl.how, collapsed: true}, nil
	}
	return fill{}, errNotStored
}

// fetchPeer fills obj from member m, holding lease until the fill ends, and reports whether m
// answered below 500.
func (e *Edge) fetchPeer(tctx context.Context, obj layout.Object, m cluster.Member, lease func()) (fill, bool) {
	f, err := e.fetchObject(tctx, obj, "http://"+m.Meta.HTTPAddr+obj.Path, peerFill, howPeer, lease)
	if err == nil && f.status < 500 {
		e.stats.peerFills.Add(1)
		return f, true
	}
	e.stats.peerErrors.Add(1)
	e.log.Warn("edge: peer fill failed", "key", obj.Path, "peer", m.Name, "addr", m.Meta.HTTPAddr, "status", f.status, "err", err)
	return fill{}, false
}

// fetchOrigin fills obj from the origin, one fetch at a time per key. The fetch counts against
// this node until it ends: with lease, when the caller acquired one for it, or else with a
// load of its own. A caller whose request joins a fetch already under way has its lease
// released at once.
func (e *Edge) fetchOrigin(tctx context.Context, obj layout.Object, lease func()) (fill, error) {
	held := false // the lease went to the fetch; Do runs the function on this goroutine
	ran := false  // this caller's function ran: Do's shared is true for it too when others joined
	v, err, shared := e.flight.Do("o"+obj.Path, func() (any, error) {
		ran = true
		// A fetch that finished, or began, between the caller's lookup and this one answers.
		if f, ok := e.ready(obj); ok {
			return f, nil
		}
		held = true
		if lease == nil {
			lease = e.acquireSelf()
		}
		e.stats.originFetches.Add(1)
		e.traffic.fetched(obj.Video, obj.Name)
		return e.fetchObject(tctx, obj, e.origin+obj.Path, "", howOrigin, lease)
	})
	if !held && lease != nil {
		lease()
	}
	if err != nil {
		return fill{}, err
	}
	f := v.(fill)
	f.collapsed = f.collapsed || shared && !ran
	return f, nil
}

// ready answers obj without a fetch when a fetch of it finished, or began, since the caller
// looked.
func (e *Edge) ready(obj layout.Object) (fill, bool) {
	if ent, ok := e.cached(obj.Path); ok && e.fresh(obj, ent) {
		return fill{status: 200, entry: ent, how: howHit}, true
	}
	if fl := e.filling(obj.Path); fl != nil {
		return fill{status: 200, entry: fl.meta, stream: fl, how: fl.how}, true
	}
	return fill{}, false
}

// acquireSelf counts one more fill against this node, until the returned release is called.
func (e *Edge) acquireSelf() func() {
	if e.picker == nil {
		return func() {}
	}
	return e.picker.AcquireNode(e.self)
}

// keep stores a 200 in the caches and remembers a 404.
func (e *Edge) keep(key string, f fill) {
	switch {
	case f.status == 200 && httpsem.Storable(f.entry.CacheControl, f.entry.Private):
		e.mem.Set(key, f.entry)
		if e.disk != nil {
			if err := e.disk.Set(key, f.entry); err != nil {
				e.log.Debug("edge: not stored on disk", "key", key, "err", err)
			}
		}
		e.negMu.Lock()
		delete(e.neg, key)
		e.negMu.Unlock()
	case f.status == 404:
		e.mem.Delete(key)
		if e.disk != nil {
			e.disk.Delete(key)
		}
		e.negMu.Lock()
		e.neg[key] = time.Now().Add(negativeTTL)
		e.negMu.Unlock()
	}
}

// negative reports whether upstream answered 404 for key less than negativeTTL ago.
func (e *Edge) negative(key string) bool {
	e.negMu.Lock()
	defer e.negMu.Unlock()
	until, ok := e.neg[key]
	if ok && time.Now().After(until) {
		delete(e.neg, key)
		ok = false
	}
	// Keep the map small: sweep expired keys once it grows.
	if len(e.neg) > 4096 {
		now := time.Now()
		for k, t := range e.neg {
			if now.After(t) {
				delete(e.neg, k)
			}
		}
	}
	return ok
}

// fetchObject fetches obj from url, as fetchURL, and keeps the answer. A 200 for an immutable
// object of streamMin bytes or more returns as soon as its headers are in, with its body
// arriving into a filling that later requests join and that is kept once whole; any other
// answer returns whole. lease is called once the fill has ended: the answer is whole, or has
// failed. The fill's span, a child of tctx's, lasts as long.
func (e *Edge) fetchObject(tctx context.Context, obj layout.Object, url, peer string, h how, lease func()) (fill, error) {
	tctx, span := e.startFillSpan(tctx, url, peer, h)
	req, resp, err := e.do(tctx, url, peer)
	release := func(err error) {
		endFillSpan(span, resp.StatusCode(), err)
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		lease()
	}
	if err != nil {
		release(err)
		return fill{}, err
	}
	f := fill{status: resp.StatusCode(), how: h}
	size := resp.Header.ContentLength()
	if f.status != 200 || size < streamMin || obj.Kind.Mutable() || resp.BodyStream() == nil {
		f, err := e.answer(url, resp)
		f.how = h
		if err == nil {
			e.keep(obj.Path, f)
		}
		release(err)
		return f, err
	}
	if int64(size) > e.cfg.MaxObjectBytes {
		err := fmt.Errorf("edge: fetch %s: %w: %d bytes, more than %d", url, errTooLarge, size, e.cfg.MaxObjectBytes)
		release(err)
		return fill{}, err
	}
	fl := newFilling(obj.Path, entryMeta(resp), h, size)
	e.startFilling(fl)
	go func() {
		err := fl.receive(resp.BodyStream())
		if err == nil {
			ent := fl.meta
			ent.Body = fl.buf
			e.keep(fl.key, fill{status: 200, entry: ent})
		} else {
			e.log.Warn("edge: fill cut short", "key", fl.key, "url", url, "size", size, "err", err)
		}
		e.endFilling(fl)
		fl.finish(err)
		release(err) // after fl.finish: the load counts until the body is whole
	}()
	f.entry, f.stream = fl.meta, fl
	return f, nil
}

// fetchURL GETs url; peer marks the request as a peer's fill. It returns the answer whole: for
// a 200, the body and the headers to cache, StoredAt set back by the upstream's Age.
func (e *Edge) fetchURL(tctx context.Context, url string, peer string) (fill, error) {
	req, resp, err := e.do(tctx, url, peer)
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	if err != nil {
		return fill{}, err
	}
	return e.answer(url, resp)
}

// do sends a GET of url and returns once the response's headers are in, its body still to
// read from resp.BodyStream (or already in resp.Body). The caller releases req and resp. With
// tracing on, the request carries the traceparent of tctx's span.
func (e *Edge) do(tctx context.Context, url, peer string) (*fasthttp.Request, *fasthttp.Response, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	resp.StreamBody = true
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set("Via", e.via)
	if peer != "" {
		req.Header.Set(PeerHeader, peer)
	}
	if e.tracer != nil {
		tracing.Inject(tctx, headerCarrier{&req.Header})
	}
	if e.cfg.SigningKey != nil {
		// To the owner and to the origin alike: either answers a private object only to a
		// signed request or a proven peer.
		req.Header.Set(signedurl.PeerAuthHeader, signedurl.PeerToken(e.cfg.SigningKey, string(req.URI().Path())))
	}
	if err := e.client.DoTimeout(req, resp, e.cfg.FetchTimeout); err != nil {
		return req, resp, fmt.Errorf("edge: fetch %s: %w", url, err)
	}
	return req, resp, nil
}

// answer reads a response of do whole into a fill: the status, and for a 200 the entry.
func (e *Edge) answer(url string, resp *fasthttp.Response) (fill, error) {
	f := fill{status: resp.StatusCode()}
	if f.status != 200 {
		return f, nil
	}
	f.entry = entryMeta(resp)
	var body []byte
	if s := resp.BodyStream(); s != nil {
		b, err := io.ReadAll(io.LimitReader(s, e.cfg.MaxObjectBytes+1))
		if err != nil {
			return fill{}, fmt.Errorf("edge: fetch %s: %w", url, err)
		}
		body = b
	} else {
		body = bytes.Clone(resp.Body())
	}
	if int64(len(body)) > e.cfg.MaxObjectBytes {
		return fill{}, fmt.Errorf("edge: fetch %s: %w: more than %d bytes", url, errTooLarge, e.cfg.MaxObjectBytes)
	}
	if body == nil {
		body = []byte{}
	}
	f.entry.Body = body
	return f, nil
}

// entryMeta returns the headers of a 200 to cache, StoredAt set back by the upstream's Age.
func entryMeta(resp *fasthttp.Response) cache.Entry {
	stored := time.Now()
	if age, err := strconv.ParseInt(string(resp.Header.Peek("Age")), 10, 64); err == nil && age > 0 {
		stored = stored.Add(-time.Duration(min(age, 1<<31)) * time.Second)
	}
	return cache.Entry{
		ContentType:  string(resp.Header.ContentType()),
		CacheControl: string(resp.Header.Peek("Cache-Control")),
		ETag:         string(resp.Header.Peek("ETag")),
		LastModified: string(resp.Header.Peek("Last-Modified")),
		StoredAt:     stored,
		Private:      string(resp.Header.Peek(httpsem.AccessHeader)) == httpsem.AccessPrivate,
	}
}
