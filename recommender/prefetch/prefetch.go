// Package prefetch is the next-swipe prefetch: it predicts which videos each viewer of the For
// You feed will swipe to next, and has the edges warm their first segments before the player
// asks for them.
//
//	pf, err := prefetch.New(prefetch.Config{Edges: []string{"http://edge-1:8081"}, AdminToken: tok})
//	svc, err := feed.New(feed.Config{ForYouServed: pf.Served, ...}, d, uploads)
//	pf.SetPeek(ranker.Peek)
//	pf.Watch(svc.Events()) // before svc.Run
//	go pf.Run(ctx)
//
// The feed tells it each For You page it serves to a logged-in viewer (Served), and the
// players' events tell it where each viewer is in those pages (Watch: play and progress put
// the viewer on a video, skips and completes teach how fast they skip). From there Predict
// gives the videos they may watch next with probabilities (near the end of what was served,
// on into the next page that the ranking would serve them, which SetPeek lets it ask for), and
// those at Config.Threshold or above, at most Config.MaxVideos, go to every edge of Config.Edges as a hint: POST
// /_edge/prefetch with the admin token, for the rendition the viewer last played (as their
// play and progress events say; Config.Rendition until one does), its playlists, init segment
// and first Config.Segments segments, and the same of the audio that plays with it. The hint
// sets "local", so that the edge the player asks keeps the objects itself and answers the
// player a hit: a prefetch without it warms only each object's owner in the cluster, and a
// player asking another node gets a fill from the owner, a miss on that node.
//
// Hints stay within a budget per viewer (Config.UserBurst, then one a Config.UserInterval)
// and a cluster-wide bandwidth cap (Config.BytesPerSecond, a token bucket of bytes fed by what
// the edges report fetching); a video hinted within Config.Dedup is not hinted again. They are
// sent in the background: Served and the events only queue them, on a bounded queue that
// drops what does not fit. Every dropped video is counted by its reason.
//
// Only the process that served a page knows it; since every process watches every event, it
// is that process that sends the viewer's hints. Visitors without a token are not tracked:
// their page requests do not say who they are.
package prefetch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/ratelimit"
)

// Defaults of Config.
const (
	DefaultSegments       = 2
	DefaultRendition      = "auto"
	DefaultThreshold      = 0.25
	DefaultMaxVideos      = 2
	DefaultContinue       = 0.95
	DefaultFastSkip       = 2 * time.Second
	DefaultPriorFastSkip  = 0.3
	DefaultUserBurst      = 10
	DefaultUserInterval   = 3 * time.Second
	DefaultBytesPerSecond = 64 << 20
	DefaultEstimate       = 1 << 20
	DefaultDedup          = 5 * time.Minute
	DefaultQueue          = 1024
	DefaultWorkers        = 32
	DefaultTimeout        = 10 * time.Second
	DefaultMaxViewers     = 100_000
	DefaultViewerTTL      = 30 * time.Minute
	DefaultPeekAhead      = 2
)

// ErrInvalidConfig is returned by New for an unusable Config.
var ErrInvalidConfig = errors.New("prefetch: invalid config")

// Config configures a Prefetcher.
type Config struct {
	// Edges are the base URLs of the edges that players ask (http://edge-1:8081), each of
	// which gets every hint and keeps what it prefetches: the edge of the feed's playback URL,
	// or each edge behind it when players are spread over several. Required.
	Edges []string
	// AdminToken is the edges' admin token, which POST /_edge/prefetch needs. Required.
	AdminToken string
	// Segments is how many media segments of each video are warmed, after its playlists and
	// init segment. Default DefaultSegments (2).
	Segments int
	// Rendition is the rendition warmed for a viewer whose player has not said which it plays
	// (feed.Event.Rendition of a play or progress): "auto" (the first variant of the master
	// playlist, the one a player starts with) or a rendition's name. Default
	// DefaultRendition ("auto").
	Rendition string
	// Threshold is the least probability of being watched next that a video is hinted at.
	// Default DefaultThreshold (0.25): the next video always, the one after it for a viewer
	// who skips fast often enough.
	Threshold float64
	// MaxVideos is the most videos hinted at once. Default DefaultMaxVideos (2).
	MaxVideos int
	// Continue is the probability that a viewer goes on to the next video (Swipes.Continue).
	// Default DefaultContinue (0.95).
	Continue float64
	// FastSkip is how soon a skip is a fast one (Swipes.FastSkip). Default DefaultFastSkip (2s).
	FastSkip time.Duration
	// PriorFastSkip is a new viewer's rate of fast skips, before their own skips teach it.
	// Default DefaultPriorFastSkip (0.3).
	PriorFastSkip float64
	// UserBurst is how many videos may be hinted for one viewer at once, before they are
	// slowed to one a UserInterval. Default DefaultUserBurst (10).
	UserBurst int
	// UserInterval is the refill interval of each viewer's budget. Default
	// DefaultUserInterval (3s): 20 videos a minute, sustained, more than anyone watches.
	UserInterval time.Duration
	// BytesPerSecond caps the bytes that the hints make the edges fetch, all edges together:
	// a token bucket holding one second's worth, fed by the bytes the edges report. Default
	// DefaultBytesPerSecond (64 MiB/s).
	BytesPerSecond int64
	// Estimate is the bytes expected of one video's hint on one edge, before the edges'
	// reports teach it. Default DefaultEstimate (1 MiB).
	Estimate int64
	// Dedup is how long a video hinted is not hinted again. Default DefaultDedup (5 min).
	Dedup time.Duration
	// Queue bounds the hints waiting to be sent; past it they are dropped. Default
	// DefaultQueue (1,024).
	Queue int
	// Workers is how many hints are sent at once. Each waits for the edges' fills, three
	// round trips to the origin one after the other, so about Workers hints go out in that
	// time: with 4, at an origin 80 ms away, 13 a second, fewer than 60 viewers swiping every
	// few seconds ask for: hints then wait in the queue while their viewers swipe on.
	// Default DefaultWorkers (32).
	Workers int
	// Timeout bounds each prefetch request to an edge. Default DefaultTimeout (10s).
	Timeout time.Duration
	// MaxViewers bounds the viewers tracked; past it new ones are not, until idle ones are
	// forgotten. Default DefaultMaxViewers (100,000).
	MaxViewers int
	// ViewerTTL is how long an idle viewer is remembered. Default DefaultViewerTTL (30 min).
	ViewerTTL time.Duration
	// PeekAhead: once a viewer is within PeekAhead videos of the end of what was served to
	// them, the Prefetcher asks the ranking (SetPeek) for their likely next page, so that its
	// first videos are hinted before the player asks for that page and starts its first
	// video, rather than when it is served, as the player starts it. Default
	// DefaultPeekAhead (2); negative: never.
	PeekAhead int
	// Client sends the hints. Default: a client of its own.
	Client *http.Client
	// Registerer receives the metrics. Default nil: registered nowhere.
	Registerer prometheus.Registerer
	// Logger receives the logs, with "tier"="prefetch". Default: discarded.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Prefetcher predicts each viewer's next videos and sends them as hints to the edges.
type Prefetcher struct {
	cfg    Config
	edges  []string // Config.Edges without trailing slashes
	log    *slog.Logger
	users  *ratelimit.Limiter // each viewer's budget, by user id
	cap    *byteCap
	recent *recent // the videos hinted lately
	queue  chan hint
	m      metrics

	mu      sync.Mutex
	viewers map[int64]*viewer
	peek    Peek
}

// Peek returns the first n videos of the page the ranking would serve viewer now, leaving
// out exclude (the videos served to them lately). It must not count as a page served.
type Peek func(ctx context.Context, viewer int64, exclude []string, n int) ([]string, error)

// SetPeek sets how the Prefetcher learns a viewer's likely next page (see Config.PeekAhead);
// until it is set, it does not peek. Call it before Run.
func (p *Prefetcher) SetPeek(f Peek) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peek = f
}

// hint is one batch of videos to warm on every edge.
type hint struct {
	videos    []string
	rendition string
	taken     int64 // the bytes taken from the cap for it
}

// New validates cfg and returns a Prefetcher; Run sends its hints.
func New(cfg Config) (*Prefetcher, error) {
	cfg.Segments = cmp.Or(cfg.Segments, DefaultSegments)
	cfg.Rendition = cmp.Or(cfg.Rendition, DefaultRendition)
	cfg.Threshold = cmp.Or(cfg.Threshold, DefaultThreshold)
	cfg.MaxVideos = cmp.Or(cfg.MaxVideos, DefaultMaxVideos)
	cfg.Continue = cmp.Or(cfg.Continue, DefaultContinue)
	cfg.FastSkip = cmp.Or(cfg.FastSkip, DefaultFastSkip)
	cfg.PriorFastSkip = cmp.Or(cfg.PriorFastSkip, DefaultPriorFastSkip)
	cfg.UserBurst = cmp.Or(cfg.UserBurst, DefaultUserBurst)
	cfg.UserInterval = cmp.Or(cfg.UserInterval, DefaultUserInterval)
	cfg.BytesPerSecond = cmp.Or(cfg.BytesPerSecond, DefaultBytesPerSecond)
	cfg.Estimate = cmp.Or(cfg.Estimate, DefaultEstimate)
	cfg.Dedup = cmp.Or(cfg.Dedup, DefaultDedup)
	cfg.Queue = cmp.Or(cfg.Queue, DefaultQueue)
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.MaxViewers = cmp.Or(cfg.MaxViewers, DefaultMaxViewers)
	cfg.ViewerTTL = cmp.Or(cfg.ViewerTTL, DefaultViewerTTL)
	cfg.PeekAhead = cmp.Or(cfg.PeekAhead, DefaultPeekAhead)
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case len(cfg.Edges) == 0:
		return nil, fmt.Errorf("%w: no Edges", ErrInvalidConfig)
	case cfg.AdminToken == "":
		return nil, fmt.Errorf("%w: no AdminToken", ErrInvalidConfig)
	case cfg.Segments < 0 || cfg.Segments > 50:
		return nil, fmt.Errorf("%w: Segments %d, want 0 (the default) to 50", ErrInvalidConfig, cfg.Segments)
	case cfg.Rendition != DefaultRendition && !layout.ValidRendition(cfg.Rendition):
		return nil, fmt.Errorf("%w: Rendition %q", ErrInvalidConfig, cfg.Rendition)
	case cfg.Threshold < 0 || cfg.Threshold > 1 || cfg.Continue < 0 || cfg.Continue > 1 || cfg.PriorFastSkip < 0 || cfg.PriorFastSkip > 1:
		return nil, fmt.Errorf("%w: Threshold, Continue and PriorFastSkip are probabilities, from 0 to 1", ErrInvalidConfig)
	case cfg.MaxVideos < 0 || cfg.MaxVideos > 100 || cfg.UserBurst < 0 || cfg.Queue < 0 || cfg.Workers < 0 || cfg.MaxViewers < 0:
		return nil, fmt.Errorf("%w: negative MaxVideos, UserBurst, Queue, Workers or MaxViewers, or MaxVideos past 100", ErrInvalidConfig)
	case cfg.BytesPerSecond < 0 || cfg.Estimate < 0 || cfg.UserInterval < 0 || cfg.Dedup < 0 || cfg.Timeout < 0 || cfg.FastSkip < 0 || cfg.ViewerTTL < 0:
		return nil, fmt.Errorf("%w: a negative size or duration", ErrInvalidConfig)
	}
	p := &Prefetcher{
		cfg:     cfg,
		log:     cfg.Logger.With("tier", "prefetch"),
		users:   ratelimit.New(cfg.UserBurst, cfg.UserInterval, cfg.Now),
		cap:     newByteCap(cfg.BytesPerSecond, cfg.BytesPerSecond, cfg.Estimate, cfg.Now),
		recent:  newRecent(cfg.Dedup, cfg.Now),
		queue:   make(chan hint, cfg.Queue),
		viewers: make(map[int64]*viewer),
	}
	for _, e := range cfg.Edges {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: edge %q is not an http(s) URL", ErrInvalidConfig, e)
		}
		p.edges = append(p.edges, strings.TrimSuffix(e, "/"))
	}
	p.m = newMetrics(func() float64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return float64(len(p.viewers))
	}, func() float64 { return float64(len(p.queue)) })
	if cfg.Registerer != nil {
		if err := p.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("prefetch: metrics: %w", err)
		}
	}
	return p, nil
}

// Served is told a For You page served to viewer, its videos in order (feed.Config's
// ForYouServed). It hints the videos that viewer is likely to watch next, and returns at once.
func (p *Prefetcher) Served(viewer int64, videos []string) {
	if viewer == 0 || len(videos) == 0 {
		return
	}
	p.mu.Lock()
	v := p.viewer(viewer)
	var (
		next      []Candidate
		rendition string
	)
	if v != nil {
		v.served(videos, p.cfg.Now())
		next, rendition = p.predict(v), v.rendition
	}
	p.mu.Unlock()
	p.hint(viewer, rendition, next)
}

// Watch subscribes the Prefetcher to the players' events (feed.Events.Watch), from those
// stored at the time it starts on: what the viewers did before that does not tell where they
// are now. Call it before the events' Run.
func (p *Prefetcher) Watch(events *feed.Events) {
	events.Watch("prefetch", func(ctx context.Context) (int64, error) {
		return events.After(ctx, p.cfg.Now())
	}, p.handle)
}

// handle applies a batch of events and hints the next videos of each viewer who moved; for a
// viewer near the end of what was served to them, it peeks at their next page first.
func (p *Prefetcher) handle(ctx context.Context, events []feed.Event) error {
	type move struct {
		viewer    int64
		rendition string
		next      []Candidate
	}
	type peekAt struct {
		viewer  int64
		pages   int // the viewer's pages served when asked
		exclude []string
	}
	var peeks []peekAt
	p.mu.Lock()
	now := p.cfg.Now()
	moved := map[int64]bool{}
	for _, ev := range events {
		v := p.viewers[ev.UserID] // only the viewers this process served pages to
		if ev.UserID == 0 || v == nil {
			continue
		}
		if v.event(ev, p.cfg.FastSkip, now) {
			moved[ev.UserID] = true
		}
	}
	peek := p.peek
	for id := range moved {
		if v := p.viewers[id]; peek != nil && p.cfg.PeekAhead > 0 && v.pos >= len(v.seq)-p.cfg.PeekAhead && v.peeked != v.pages {
			v.peeked = v.pages
			peeks = append(peeks, peekAt{id, v.pages, slices.Clone(v.seq)})
		}
	}
	p.mu.Unlock()
	// Outside the lock: the ranking takes a while.
	got := make(map[int64][]string, len(peeks))
	for _, pk := range peeks {
		ids, err := peek(ctx, pk.viewer, pk.exclude, p.cfg.MaxVideos)
		if err != nil {
			p.m.peeks("failed")
			p.log.Warn("prefetch: peek failed", "viewer", pk.viewer, "err", err)
			continue
		}
		p.m.peeks("done")
		got[pk.viewer] = ids
	}
	var moves []move
	p.mu.Lock()
	for _, pk := range peeks {
		if v := p.viewers[pk.viewer]; v != nil && v.pages == pk.pages && got[pk.viewer] != nil {
			v.next = got[pk.viewer]
		}
	}
	for id := range moved {
		if v := p.viewers[id]; v != nil {
			moves = append(moves, move{id, v.rendition, p.predict(v)})
		}
	}
	p.mu.Unlock()
	for _, m := range moves {
		p.hint(m.viewer, m.rendition, m.next)
	}
	return nil
}

// viewer returns the state of a viewer, a new one unless MaxViewers are tracked (then nil).
// The caller holds p.mu.
func (p *Prefetcher) viewer(id int64) *viewer {
	v := p.viewers[id]
	if v == nil && len(p.viewers) < p.cfg.MaxViewers {
		v = newViewer(p.cfg.PriorFastSkip, p.cfg.Now())
		p.viewers[id] = v
	}
	return v
}

// predict returns the videos at or above the threshold that v may watch next, at most
// MaxVideos. The caller holds p.mu.
func (p *Prefetcher) predict(v *viewer) []Candidate {
	seq := v.seq
	if len(v.next) > 0 {
		seq = append(slices.Clip(seq), v.next...)
	}
	all := Predict(seq, v.pos, Swipes{Continue: p.cfg.Continue, FastSkip: v.fastSkip}, p.cfg.MaxVideos)
	for i, c := range all {
		if c.P < p.cfg.Threshold {
			return all[:i]
		}
	}
	return all
}

// hint queues the candidates of viewer, in rendition ("": Config.Rendition), that pass the
// dedup, the viewer's budget and the bandwidth cap, counting those that do not by their reason.
func (p *Prefetcher) hint(viewer int64, rendition string, next []Candidate) {
	key := strconv.FormatInt(viewer, 10)
	rendition = cmp.Or(rendition, p.cfg.Rendition)
	var videos []string
	for _, c := range next {
		if !p.recent.add(rendition + "/" + c.Video) {
			p.m.dropped("duplicate", 1)
			continue
		}
		if ok, _ := p.users.Allow(key); !ok {
			p.recent.forget(rendition + "/" + c.Video)
			p.m.dropped("budget", 1)
			continue
		}
		videos = append(videos, c.Video)
	}
	if len(videos) == 0 {
		return
	}
	forget := func() {
		for _, v := range videos {
			p.recent.forget(rendition + "/" + v)
		}
	}
	taken, ok := p.cap.take(len(videos) * len(p.edges))
	if !ok {
		forget()
		p.m.dropped("cap", len(videos))
		return
	}
	select {
	case p.queue <- hint{videos: videos, rendition: rendition, taken: taken}:
	default:
		p.cap.settle(taken, 0, 0, false)
		forget()
		p.m.dropped("queue", len(videos))
	}
}

// Run sends the queued hints, Config.Workers at once, and forgets idle viewers, until ctx
// is done.
func (p *Prefetcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case h := <-p.queue:
					p.send(ctx, h)
				}
			}
		})
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			p.sweep()
		}
	}
}

// sweep forgets the viewers idle for longer than ViewerTTL.
func (p *Prefetcher) sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	for id, v := range p.viewers {
		if now.Sub(v.seen) > p.cfg.ViewerTTL {
			delete(p.viewers, id)
		}
	}
}

// prefetchRequest is the body of the edges' POST /_edge/prefetch (edge.PrefetchRequest).
type prefetchRequest struct {
	Videos    []string `json:"videos"`
	Rendition string   `json:"rendition"`
	Segments  int      `json:"segments"`
	Local     bool     `json:"local"`
}

// prefetchResult is the part of the edges' answer that the cap is fed with.
type prefetchResult struct {
	Bytes int64 `json:"bytes"`
}

// errEdge is an edge's refusal of a hint.
var errEdge = errors.New("prefetch: edge refused the hint")

// send sends h to every edge at once and settles its bytes with the cap.
func (p *Prefetcher) send(ctx context.Context, h hint) {
	body, _ := json.Marshal(prefetchRequest{Videos: h.videos, Rendition: h.rendition, Segments: p.cfg.Segments, Local: true})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		sent  int
	)
	for _, edge := range p.edges {
		wg.Go(func() {
			n, err := p.post(ctx, edge, body)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				p.m.dropped("failed", len(h.videos))
				p.log.Warn("prefetch: hint failed", "edge", edge, "videos", len(h.videos), "err", err)
				return
			}
			sent++
		})
	}
	wg.Wait()
	if sent == 0 { // no edge has them: they may be hinted again
		for _, v := range h.videos {
			p.recent.forget(h.rendition + "/" + v)
		}
	}
	p.cap.settle(h.taken, sent*len(h.videos), total, sent > 0)
	p.m.sent(sent*len(h.videos), total)
}

// post sends one prefetch request and returns the bytes the edge reports fetching.
func (p *Prefetcher) post(ctx context.Context, edge string, body []byte) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, edge+"/_edge/prefetch", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("prefetch: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.cfg.AdminToken)
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("prefetch: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("prefetch: %s: %w", edge, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: %s: %s", errEdge, resp.Status, bytes.TrimSpace(b))
	}
	var res prefetchResult
	if err := json.Unmarshal(b, &res); err != nil {
		return 0, fmt.Errorf("prefetch: %s: %w", edge, err)
	}
	return max(0, res.Bytes), nil
}
