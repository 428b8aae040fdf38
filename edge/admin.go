package edge

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/cluster"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/listener"
	"github.com/reelay/reelay/internal/videoid"
)

// counters are the edge's request counters since New.
type counters struct {
	requests      atomic.Int64 // object requests (GET, HEAD)
	peerRequests  atomic.Int64 // of which other nodes' fills
	hits          atomic.Int64 // answered from the cache, stale and negative included
	misses        atomic.Int64 // that needed a fetch
	stale         atomic.Int64 // answered stale after a failed refresh
	coalesced     atomic.Int64 // that shared another request's fetch
	peerFills     atomic.Int64 // fetches answered by the owner
	peerErrors    atomic.Int64 // fetches the owner failed, then sent to the origin
	originFetches atomic.Int64 // fetches from the origin
	bytesServed   atomic.Int64 // body bytes sent for objects
	purges        atomic.Int64 // purge requests handled
	prefetched    atomic.Int64 // objects fetched by prefetch requests
	clientGone    atomic.Int64 // requests whose client went away during the fill, left unanswered

	// A player's request for a live file (live.go) fills from the stream's owner or from the
	// origin; peerErrors counts the owners that failed for them too.
	livePeerFills   atomic.Int64
	liveOriginFills atomic.Int64
}

// Stats is what GET /_edge/stats answers.
type Stats struct {
	Node          string           `json:"node"`
	Members       []MemberInfo     `json:"members,omitempty"`
	Loads         map[string]int64 `json:"loads,omitempty"` // fills in flight this node counts against each live member: the ring's loads (see Picker)
	Requests      int64            `json:"requests"`
	PeerRequests  int64            `json:"peer_requests"`
	Hits          int64            `json:"hits"`
	Misses        int64            `json:"misses"`
	StaleServed   int64            `json:"stale_served"`
	Coalesced     int64            `json:"coalesced"`
	PeerFills     int64            `json:"peer_fills"`
	PeerErrors    int64            `json:"peer_errors"`
	OriginFetches int64            `json:"origin_fetches"`
	BytesServed   int64            `json:"bytes_served"`
	Purges        int64            `json:"purges"`
	Prefetched    int64            `json:"prefetched"`      // objects fetched by prefetch requests sent to this node
	PrefetchUsed  int64            `json:"prefetch_used"`   // objects this node stored for a prefetch and then served
	PrefetchWaste int64            `json:"prefetch_wasted"` // objects this node stored for a prefetch that nobody asked for within 10 minutes
	ClientGone    int64            `json:"client_gone"`     // requests whose client went away while upstream was asked, left unanswered (a proxy's 499)
	Memory        TierStats        `json:"memory"`
	Disk          *TierStats       `json:"disk,omitempty"`
	// Videos are the busiest videos of the last minute on this node, by players' requests and
	// by origin fetches (see VideoTraffic).
	Videos []VideoTraffic `json:"videos,omitempty"`

	// LivePeerFills and LiveOriginFills count the requests for live files that this node
	// sent to the stream's owner, and to the origin.
	LivePeerFills   int64 `json:"live_peer_fills"`
	LiveOriginFills int64 `json:"live_origin_fills"`
}

// MemberInfo is a cluster member as Stats reports it.
type MemberInfo struct {
	Name  string    `json:"name"`
	Addr  string    `json:"addr"` // gossip
	HTTP  string    `json:"http"`
	State string    `json:"state"`
	Since time.Time `json:"since"` // when this node saw the member enter State
}

// TierStats is a cache tier's fill.
type TierStats struct {
	Bytes     int64 `json:"bytes"`
	Capacity  int64 `json:"capacity"`
	Entries   int64 `json:"entries"`
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Evictions int64 `json:"evictions"`
}

// Stats returns the edge's counters and cache fill.
func (e *Edge) Stats() Stats {
	ms := e.mem.Stats()
	s := Stats{
		Node:          e.name,
		Requests:      e.stats.requests.Load(),
		PeerRequests:  e.stats.peerRequests.Load(),
		Hits:          e.stats.hits.Load(),
		Misses:        e.stats.misses.Load(),
		StaleServed:   e.stats.stale.Load(),
		Coalesced:     e.stats.coalesced.Load(),
		PeerFills:     e.stats.peerFills.Load(),
		PeerErrors:    e.stats.peerErrors.Load(),
		OriginFetches: e.stats.originFetches.Load(),
		BytesServed:   e.stats.bytesServed.Load(),
		Purges:        e.stats.purges.Load(),
		Prefetched:    e.stats.prefetched.Load(),
		ClientGone:    e.stats.clientGone.Load(),
		Memory:        TierStats{Bytes: ms.Bytes, Capacity: e.mem.Capacity(), Entries: ms.Entries, Hits: ms.Hits, Misses: ms.Misses, Evictions: ms.Evictions},
	}
	s.LivePeerFills, s.LiveOriginFills = e.stats.livePeerFills.Load(), e.stats.liveOriginFills.Load()
	s.PrefetchUsed, s.PrefetchWaste = e.prefetches.counts()
	s.Videos = e.traffic.top()
	if e.disk != nil {
		ds := e.disk.Stats()
		s.Disk = &TierStats{Bytes: ds.Bytes, Capacity: e.disk.Capacity(), Entries: ds.Entries, Hits: ds.Hits, Misses: ds.Misses, Evictions: ds.Evictions}
	}
	if e.picker != nil {
		for _, m := range e.picker.Members() {
			s.Members = append(s.Members, MemberInfo{Name: m.Name, Addr: m.Addr, HTTP: m.Meta.HTTPAddr, State: m.State.String(), Since: m.Since})
		}
		s.Loads = e.picker.Loads()
	}
	return s
}

func (e *Edge) serveStats(ctx *fasthttp.RequestCtx) error {
	writeJSON(ctx, http.StatusOK, e.Stats())
	return nil
}

// register adds the edge's metrics to reg, read from its counters when scraped, and those of
// its listener, which it returns.
func (e *Edge) register(reg prometheus.Registerer) (*listener.Metrics, error) {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "reelay", Subsystem: "edge", Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	prefetchCounter := func(name, help string, pick func(used, wasted int64) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "reelay", Subsystem: "edge", Name: name, Help: help},
			func() float64 { return float64(pick(e.prefetches.counts())) })
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "reelay", Subsystem: "edge", Name: name, Help: help}, f)
	}
	cs := []prometheus.Collector{
		counter("requests_total", "Object requests.", &e.stats.requests),
		counter("peer_requests_total", "Object requests that are other nodes' fills.", &e.stats.peerRequests),
		counter("hits_total", "Object requests answered from the cache.", &e.stats.hits),
		counter("misses_total", "Object requests that needed a fetch.", &e.stats.misses),
		counter("stale_total", "Object requests answered stale after a failed refresh.", &e.stats.stale),
		counter("coalesced_total", "Object requests that shared another request's fetch.", &e.stats.coalesced),
		counter("peer_fills_total", "Fetches answered by the key's owner.", &e.stats.peerFills),
		counter("peer_errors_total", "Fetches the owner failed.", &e.stats.peerErrors),
		counter("origin_fetches_total", "Fetches from the origin.", &e.stats.originFetches),
		counter("live_peer_fills_total", "Requests for live files sent to the stream's owner.", &e.stats.livePeerFills),
		counter("live_origin_fills_total", "Requests for live files sent to the origin.", &e.stats.liveOriginFills),
		counter("served_bytes_total", "Object body bytes sent.", &e.stats.bytesServed),
		counter("client_gone_total", "Object requests whose client went away during the fill, left unanswered.", &e.stats.clientGone),
		counter("prefetched_total", "Objects fetched by prefetch requests sent to this node.", &e.stats.prefetched),
		prefetchCounter("prefetch_used_total", "Objects this node stored for a prefetch and then served.", func(used, _ int64) int64 { return used }),
		prefetchCounter("prefetch_wasted_total", "Objects this node stored for a prefetch that nobody asked for within 10 minutes.", func(_, wasted int64) int64 { return wasted }),
		gauge("memory_bytes", "Bytes held by the memory cache.", func() float64 { return float64(e.mem.Bytes()) }),
		gauge("memory_evictions", "Evictions from the memory cache.", func() float64 { return float64(e.mem.Stats().Evictions) }),
	}
	if e.disk != nil {
		cs = append(cs, gauge("disk_bytes", "Bytes held by the disk cache.", func() float64 { return float64(e.disk.Bytes()) }))
	}
	if e.picker != nil {
		cs = append(cs, newMembersMetrics(e.picker))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return listener.NewMetrics(reg)
}

// metricsHandler serves g in Prometheus' text format. It is written for fasthttp rather than
// wrapping promhttp with fasthttpadaptor: the adaptor of fasthttp v1.66.0 can hang a request
// whose handler returns before the adaptor waits for it (fixed upstream in valyala/fasthttp#2081).
func metricsHandler(g prometheus.Gatherer, log *slog.Logger) fasthttp.RequestHandler {
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	return func(ctx *fasthttp.RequestCtx) {
		mfs, err := g.Gather()
		if err != nil {
			// Gather returns what it could gather along with the error.
			log.Warn("edge: gather metrics", "err", err)
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				log.Error("edge: encode metrics", "err", err)
				ctx.Error("cannot encode metrics", http.StatusInternalServerError)
				return
			}
		}
		ctx.SetContentType(string(format))
		ctx.Response.SetBodyRaw(buf.Bytes())
	}
}

// authorized reports whether the request carries the admin bearer token.
func (e *Edge) authorized(ctx *fasthttp.RequestCtx) bool { return e.bearer(ctx, e.cfg.AdminToken) }

// bearer reports whether the request carries the bearer token want, which is not empty.
func (e *Edge) bearer(ctx *fasthttp.RequestCtx, want string) bool {
	tok, ok := strings.CutPrefix(string(ctx.Request.Header.Peek("Authorization")), "Bearer ")
	return ok && want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
}

// PurgeResult is what DELETE /_edge/v/{video} answers.
type PurgeResult struct {
	Video   string            `json:"video"`
	Purged  int               `json:"purged"`            // entries dropped on this node
	Members map[string]string `json:"members,omitempty"` // other live members: "ok" or the error
}

// servePurge drops every cached object of a video here and, unless ?local=1, on every other
// live member.
func (e *Edge) servePurge(ctx *fasthttp.RequestCtx, video string) error {
	if !e.authorized(ctx) {
		return errForbidden
	}
	if !videoid.Valid(video) {
		return errNotFound
	}
	e.stats.purges.Add(1)
	res := PurgeResult{Video: video, Purged: e.Purge(video)}
	local := string(ctx.QueryArgs().Peek("local")) == "1"
	if !local && e.picker != nil {
		res.Members = e.purgeMembers(video)
	}
	// Who: the admin token, from a client address (or, with ?local=1, usually another node).
	e.log.Info("edge: purged", "video", video, "by", "admin token", "client", ctx.RemoteIP().String(),
		"local", local, "purged", res.Purged, "members", res.Members)
	writeJSON(ctx, http.StatusOK, res)
	return nil
}

// Purge drops every cached object of video on this node and returns how many it dropped.
func (e *Edge) Purge(video string) int {
	prefix := layout.Path(video, "")
	n := e.mem.DeletePrefix(prefix)
	if e.disk != nil {
		n = max(n, e.disk.DeletePrefix(prefix))
	}
	e.negMu.Lock()
	for k := range e.neg {
		if strings.HasPrefix(k, prefix) {
			delete(e.neg, k)
		}
	}
	e.negMu.Unlock()
	return n
}

// purgeMembers sends the purge, local only, to every other live member at once.
func (e *Edge) purgeMembers(video string) map[string]string {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make(map[string]string)
	)
	for _, m := range e.picker.Members() {
		if m.Name == e.self || m.State != cluster.StateAlive || m.Meta.HTTPAddr == "" {
			continue
		}
		wg.Go(func() {
			err := e.purgeMember(m.Meta.HTTPAddr, video)
			mu.Lock()
			defer mu.Unlock()
			out[m.Name] = "ok"
			if err != nil {
				out[m.Name] = err.Error()
				e.log.Warn("edge: purge on member failed", "member", m.Name, "video", video, "err", err)
			}
		})
	}
	wg.Wait()
	return out
}

var errPurgeStatus = errors.New("edge: purge refused")

func (e *Edge) purgeMember(addr, video string) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/_edge/v/" + video + "?local=1")
	req.Header.SetMethod(fasthttp.MethodDelete)
	req.Header.Set("Authorization", "Bearer "+e.cfg.AdminToken)
	if err := e.client.DoTimeout(req, resp, min(e.cfg.FetchTimeout, 5*time.Second)); err != nil {
		return err
	}
	if resp.StatusCode() != http.StatusOK {
		return fmt.Errorf("%w: status %d", errPurgeStatus, resp.StatusCode())
	}
	return nil
}
