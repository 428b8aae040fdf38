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
// Concurrent requests for one URL, query included, share one request to the origin: every
// player blocked on the same next part (_HLS_msn, _HLS_part) is answered from one origin
// request, held open by the origin until the part exists. A playlist is then kept for
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

// liveFetched is the outcome of one origin request for a live file.
type liveFetched struct {
	status int
	entry  liveEntry
}

// serveLive answers GET, HEAD and OPTIONS of a live stream's file, path p.
func (e *Edge) serveLive(ctx *fasthttp.RequestCtx, p string) error {
	h := &ctx.Response.Header
	if answered, err := e.mediaRequest(ctx); answered {
		return err
	}
	key := p
	if q := ctx.URI().QueryString(); len(q) > 0 {
		key += "?" + string(q)
	}
	now := time.Now()
	status := e.name + "; hit"
	ent, ok := e.live.get(key, now)
	if !ok {
		led := false // this request is the one that asks the origin
		v, err, _ := e.live.flight.Do(key, func() (any, error) {
			led = true
			f, err := e.fetchURL(context.Background(), e.origin+key, "") // shared by the requests that collapse into it
			if err != nil {
				return liveFetched{}, err
			}
			out := liveFetched{status: f.status}
			if f.status != http.StatusOK {
				return out, nil
			}
			out.entry = liveEntry{contentType: f.entry.ContentType, cacheControl: f.entry.CacheControl, body: f.entry.Body}
			ttl := e.cfg.LiveFileTTL
			if strings.HasSuffix(p, ".m3u8") {
				ttl = e.cfg.LivePlaylistTTL
			}
			out.entry.until = time.Now().Add(ttl)
			e.live.put(key, out.entry, time.Now(), e.cfg.LiveMaxBytes)
			return out, nil
		})
		if err != nil {
			return fillError(err)
		}
		got := v.(liveFetched)
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
		if !led {
			status += "; collapsed"
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
