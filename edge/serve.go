package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/signedurl"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/internal/apierr"
)

// mediaRequest sets the CORS headers of a request for a video's or a live stream's file, and
// answers it when it is a preflight or a method other than GET and HEAD; answered is false for
// a GET or HEAD, which it counts, and which the caller answers.
func (e *Edge) mediaRequest(ctx *fasthttp.RequestCtx) (answered bool, err error) {
	preflight := ctx.IsOptions()
	httpsem.CORS(ctx.Response.Header.Set, "*", preflight)
	switch {
	case ctx.IsGet() || ctx.IsHead():
		e.stats.requests.Add(1)
		return false, nil
	case preflight:
		ctx.SetStatusCode(http.StatusNoContent)
		return true, nil
	default:
		return true, methodNotAllowed(ctx, httpsem.CORSAllowMethods)
	}
}

// serveObject answers GET, HEAD and OPTIONS of /v/{video}/{name}, raw path p.
func (e *Edge) serveObject(tctx context.Context, ctx *fasthttp.RequestCtx, p string) error {
	h := &ctx.Response.Header
	if answered, err := e.mediaRequest(ctx); answered {
		return err
	}
	obj, ok := layout.Parse(p)
	if !ok {
		return errNotFound
	}
	if err := e.checkSignature(ctx, obj.Video); err != nil {
		return err
	}
	peerValue := string(ctx.Request.Header.Peek(PeerHeader))
	if peerValue != "" {
		e.stats.peerRequests.Add(1)
	}
	f, err := e.find(tctx, ctx, obj, peerValue)
	if err != nil || f.status == 0 {
		return err // status 0: the client went away, and nothing is to be written
	}
	h.Set("Cache-Status", e.cacheStatus(f))
	if f.status == http.StatusOK && f.entry.Private {
		query, err := e.privateAccess(ctx, obj)
		if err != nil {
			return err
		}
		if query != "" {
			f = forPlayer(f, obj, query)
		}
	}
	switch {
	case f.status == http.StatusNotFound:
		return errNotFound
	case f.status >= 500:
		return upstreamError(f.status)
	case f.status != http.StatusOK:
		return apierr.Errorf(f.status, "upstream", "upstream answered %d %s", f.status, http.StatusText(f.status))
	}
	n := e.writeEntry(ctx, f)
	if peerValue == "" {
		e.traffic.served(obj.Video, n)
	}
	return nil
}

// find finds or fills obj for a request whose PeerHeader is peerValue ("" from a player): a
// peer asking for a stored copy gets one or errNotStored, anyone else what get finds or fills.
// A zero fill without an error means that the client went away during the fill: nothing is
// to be written.
func (e *Edge) find(tctx context.Context, ctx *fasthttp.RequestCtx, obj layout.Object, peerValue string) (fill, error) {
	if peerValue == peerStored {
		return e.stored(obj)
	}
	f, err := e.get(tctx, obj, peerValue != "")
	if peerValue == peerPrefetch {
		e.prefetches.filled(obj.Path, f)
	} else if err == nil && f.how == howHit {
		e.prefetches.hit(obj.Path)
	} else if err == nil && f.collapsed {
		e.prefetches.shared(obj.Path)
	}
	if (err != nil || f.how != howHit && f.how != howNegative) && clientGone(ctx.Conn()) {
		// The client went away while upstream was asked: write nothing, not even an error.
		e.stats.clientGone.Add(1)
		e.log.Debug("edge: the client went away during the fill", "key", obj.Path, "err", err)
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(net.Conn) {})
		return fill{}, nil
	}
	if err != nil {
		return fill{}, fillError(err)
	}
	return f, nil
}

// forPlayer adapts the answer for a private object to the player that asked with a signature,
// query: shared caches may not keep it, and a playlist's URIs carry the signature on. A signed
// playlist is that player's alone, so it has no validators to revalidate it by.
func forPlayer(f fill, obj layout.Object, query string) fill {
	f.entry.CacheControl = httpsem.PrivateCacheControl(f.entry.CacheControl)
	if obj.Kind.Mutable() {
		// Playlists are never streamed (see fetchObject): the body is whole.
		f.entry.Body = signedurl.SignPlaylist(f.entry.Body, query)
		f.entry.ETag, f.entry.LastModified = "", ""
		f.entry.CacheControl = httpsem.CacheSignedPlaylist
	}
	return f
}

// cacheStatus is the Cache-Status (RFC 9211) of an answer, naming the cache by node. A fill
// from the owner is fwd=uri-miss with detail=peer, since fwd's values are RFC 9211's own.
func (e *Edge) cacheStatus(f fill) string {
	s := e.name
	switch f.how {
	case howHit:
		return s + "; hit"
	case howStale:
		return s + "; hit; detail=stale"
	case howNegative:
		return s + "; hit; detail=negative"
	}
	if f.refresh {
		s += "; fwd=stale"
	} else {
		s += "; fwd=uri-miss"
	}
	s += "; fwd-status=" + strconv.Itoa(f.status)
	if f.status == http.StatusOK && httpsem.Storable(f.entry.CacheControl, f.entry.Private) {
		s += "; stored"
	}
	if f.collapsed {
		s += "; collapsed"
	}
	if f.how == howPeer {
		s += "; detail=peer"
	}
	return s
}

// writeEntry answers with a cached object: its headers, Age, then 304 or 412 by the
// preconditions, 206 or 416 by a single Range, or the whole body. It returns the body bytes it
// sends.
func (e *Edge) writeEntry(ctx *fasthttp.RequestCtx, f fill) int64 {
	ent := f.entry
	h := &ctx.Response.Header
	h.Set("Age", strconv.FormatInt(max(0, int64(time.Since(ent.StoredAt)/time.Second)), 10))
	h.Set("Accept-Ranges", "bytes")
	if ent.ContentType != "" {
		h.SetContentType(ent.ContentType)
	}
	for name, v := range map[string]string{"Cache-Control": ent.CacheControl, "ETag": ent.ETag, "Last-Modified": ent.LastModified} {
		if v != "" {
			h.Set(name, v)
		}
	}
	if ent.Private {
		// Peers keep the mark with the object, as from the origin.
		h.Set(httpsem.AccessHeader, httpsem.AccessPrivate)
	}
	rh := &ctx.Request.Header
	conds := httpsem.Conditions{
		IfMatch:           string(rh.Peek("If-Match")),
		IfNoneMatch:       string(rh.Peek("If-None-Match")),
		IfModifiedSince:   string(rh.Peek("If-Modified-Since")),
		IfUnmodifiedSince: string(rh.Peek("If-Unmodified-Since")),
		IfRange:           string(rh.Peek("If-Range")),
	}
	var mod time.Time
	if t, err := http.ParseTime(ent.LastModified); err == nil {
		mod = t
	}
	if status := conds.Evaluate(ent.ETag, mod); status != 0 {
		ctx.SetStatusCode(status)
		return 0
	}
	size := int64(len(ent.Body))
	if f.stream != nil {
		size = int64(len(f.stream.buf))
	}
	start, length := int64(0), size
	if rng := rh.Peek("Range"); len(rng) > 0 && conds.RangeApplies(ent.ETag, mod) {
		s, l, ok, err := httpsem.ParseRange(string(rng), size)
		switch {
		case errors.Is(err, httpsem.ErrUnsatisfiableRange):
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			ctx.SetStatusCode(http.StatusRequestedRangeNotSatisfiable)
			return 0
		case ok:
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, s+l-1, size))
			ctx.SetStatusCode(http.StatusPartialContent)
			start, length = s, l
		}
	}
	if f.stream != nil {
		// The body is still arriving: stream what has, and the rest as it does.
		ctx.Response.SetBodyStream(f.stream.reader(int(start), int(start+length)), int(length))
	} else if tb, ok := e.turnBody(ctx.Conn(), ent.Body[start:start+length]); ok && !ctx.IsHead() {
		// A segment: written in turns (turns.go).
		ctx.Response.SetBodyStream(tb, int(length))
	} else {
		ctx.Response.SetBodyRaw(ent.Body[start : start+length])
	}
	if ctx.IsHead() {
		return 0
	}
	e.stats.bytesServed.Add(length)
	return length
}
