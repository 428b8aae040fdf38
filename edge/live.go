package edge

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/layout"
)

// Defaults of the live cache (Config.LivePlaylistTTL, LiveFileTTL, LiveMaxBytes).
const (
	DefaultLivePlaylistTTL = 250 * time.Millisecond
	DefaultLiveFileTTL     = 30 * time.Second
	DefaultLiveMaxBytes    = 64 << 20
)

// liveCache holds the files of live streams (/v/live/{stream}/...), apart from the cache of
// videos: they live for seconds, and a blocking playlist reload is keyed by its query.
//
// Concurrent requests for one URL, query included, share one request upstream (liveRouted):
// every player blocked on the same next part (_HLS_msn, _HLS_part) is answered from one
// request, held open upstream until the part exists. Upstream is the stream's owner in the
// cluster, whose own requests for it share one origin request (liveOrigin): the cluster asks
// the origin about once per URL. A playlist is then kept for
// LivePlaylistTTL, and an init file, segment or part (their names are never reused) for
// LiveFileTTL, within LiveMaxBytes. Errors are not kept.
type liveCache struct {
	mu        sync.Mutex
	entries   map[string]liveEntry
	bytes     int64
	lastSweep time.Time
	flight    singleflight.Group
}

type liveEntry struct {
	contentType, cacheControl string
	body                      []byte
	until                     time.Time
}

func (c *liveCache) get(key string, now time.Time) (liveEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ent, ok := c.entries[key]
	if !ok || now.After(ent.until) {
		return liveEntry{}, false
	}
	return ent, true
}

func (c *liveCache) put(key string, ent liveEntry, now time.Time, maxBytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]liveEntry{}
	}
	if now.Sub(c.lastSweep) > time.Second || c.bytes+int64(len(ent.body)) > maxBytes {
		for k, old := range c.entries {
			if now.After(old.until) {
				delete(c.entries, k)
				c.bytes -= int64(len(old.body))
			}
		}
		c.lastSweep = now
	}
	if c.bytes+int64(len(ent.body)) > maxBytes {
		return // full of fresh files: serve this one without keeping it
	}
	if old, ok := c.entries[key]; ok {
		c.bytes -= int64(len(old.body))
	}
	c.entries[key] = ent
	c.bytes += int64(len(ent.body))
}

// liveFetched is the outcome of one upstream request for a live file.
type liveFetched struct {
	status    int
	entry     liveEntry
	how       how  // howOrigin or howPeer
	collapsed bool // the request shared another's
}

// serveLive answers GET, HEAD and OPTIONS of a live stream's file, path p; tctx carries the
// request's span, if it is traced.
func (e *Edge) serveLive(tctx context.Context, ctx *fasthttp.RequestCtx, p string) error {
	h := &ctx.Response.Header
	if answered, err := e.mediaRequest(ctx); answered {
		return err
	}
	peer := len(ctx.Request.Header.Peek(PeerHeader)) > 0
	if peer {
		e.stats.peerRequests.Add(1)
	}
	key := p
	if q := ctx.URI().QueryString(); len(q) > 0 {
		key += "?" + string(q)
	}
	status := e.name + "; hit"
	ent, ok := e.live.get(key, time.Now())
	if !ok {
		var (
			got liveFetched
			err error
		)
		if peer {
			got, err = e.liveOrigin(tctx, p, key) // never forwarded again
		} else {
			got, err = e.liveRouted(tctx, p, key)
		}
		if err != nil {
			return fillError(err)
		}
		switch got.status {
		case http.StatusOK:
		case http.StatusNotFound:
			return errNotFound
		case http.StatusBadRequest:
			return apierr.New(http.StatusBadRequest, "bad_request", "the live playlist request is out of range")
		default:
			return errBadGateway
		}
		ent = got.entry
		status = e.name + "; fwd=miss"
		if got.collapsed {
			status += "; collapsed"
		}
		if got.how == howPeer {
			status += "; detail=peer"
		}
	}
	h.Set("Cache-Status", status)
	h.SetContentType(ent.contentType)
	if ent.cacheControl != "" {
		h.Set("Cache-Control", ent.cacheControl)
	}
	if ctx.IsHead() {
		h.SetContentLength(len(ent.body))
		return nil
	}
	ctx.SetBody(ent.body)
	return nil
}

// liveRouted fills a live file, path p, URL key (p with its query), for this node's players,
// one request at a time per URL: from the owner of the file's stream on the ring
// (liveRingKey), so that one node asks the origin for all of a stream's files and answers
// every other node's players from its cache or its one origin request, blocking reloads
// included. When the owner does not answer, or answers 5xx, the next node for the stream is
// asked, unless it is this node, then the origin. The owner itself, and a standalone node,
// fill from the origin.
//
// An owner holds a blocking reload as long as the origin does: FetchTimeout (10 s by
// default) bounds the request to either, above the origin's own bound (6 s for a stream
// served from the store), so that the owner answers before its peers give up on it.
func (e *Edge) liveRouted(tctx context.Context, p, key string) (liveFetched, error) {
	ran := false // this caller's function ran: Do's shared is true for it too when others joined
	v, err, shared := e.live.flight.Do("p"+key, func() (any, error) {
		ran = true
		if id, ok := liveStream(p); ok && e.picker != nil {
			tried := 0
			for _, m := range e.picker.Owners(liveRingKey(id), 3) {
				if m.Name == e.self || m.Meta.HTTPAddr == "" || tried == 2 {
					break
				}
				tried++
				f, err := e.fetchURL(tctx, "http://"+m.Meta.HTTPAddr+key, peerFill)
				if err == nil && f.status < 500 {
					e.stats.livePeerFills.Add(1)
					return e.keepLive(p, key, f, howPeer), nil
				}
				e.stats.peerErrors.Add(1)
				e.log.Warn("edge: live peer fill failed", "key", key, "peer", m.Name, "addr", m.Meta.HTTPAddr, "status", f.status, "err", err)
			}
		}
		return e.liveOrigin(tctx, p, key)
	})
	if err != nil {
		return liveFetched{}, err
	}
	got := v.(liveFetched)
	got.collapsed = got.collapsed || shared && !ran
	return got, nil
}

// liveOrigin fills a live file from the origin, one request at a time per URL, for this
// node's players and for the peers that fill through it alike. A peer's request comes here
// directly: were it to join this node's routed requests, two nodes that each took the other
// for the owner would wait on each other.
func (e *Edge) liveOrigin(tctx context.Context, p, key string) (liveFetched, error) {
	ran := false
	v, err, shared := e.live.flight.Do("o"+key, func() (any, error) {
		ran = true
		e.stats.liveOriginFills.Add(1)
		f, err := e.fetchURL(tctx, e.origin+key, "")
		if err != nil {
			return liveFetched{}, err
		}
		return e.keepLive(p, key, f, howOrigin), nil
	})
	if err != nil {
		return liveFetched{}, err
	}
	got := v.(liveFetched)
	got.collapsed = got.collapsed || shared && !ran
	return got, nil
}

// keepLive keeps the answer f for a live file, path p, URL key: a playlist for
// LivePlaylistTTL, another file for LiveFileTTL.
func (e *Edge) keepLive(p, key string, f fill, h how) liveFetched {
	out := liveFetched{status: f.status, how: h}
	if f.status != http.StatusOK {
		return out
	}
	ttl := e.cfg.LiveFileTTL
	if strings.HasSuffix(p, ".m3u8") {
		ttl = e.cfg.LivePlaylistTTL
	}
	out.entry = liveEntry{contentType: f.entry.ContentType, cacheControl: f.entry.CacheControl, body: f.entry.Body, until: time.Now().Add(ttl)}
	e.live.put(key, out.entry, time.Now(), e.cfg.LiveMaxBytes)
	return out
}

// liveStream returns the stream of a live file's path, /v/live/{stream}/{file}.
func liveStream(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, layout.LivePathPrefix)
	id, _, ok2 := strings.Cut(rest, "/")
	return id, ok && ok2 && id != ""
}

// liveRingKey is the key of live stream id on the cluster's ring: every file of a stream has
// the same owner.
func liveRingKey(id string) string { return layout.LiveKey(id, "") }
