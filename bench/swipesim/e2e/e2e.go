// Package e2e is the end-to-end mode of the swipe simulator (issue 13, bench/swipesim):
// simulated players of a seeded world (bench/swipesim/world) against a running reelay, all in
// this process on 127.0.0.1. The system under test is assembled from the tiers' own
// constructors as `reelay up` assembles it: a file store holding real HLS ladders (a few
// lavfi clips transcoded once by the project's transcoder and packager, then copied under
// every video id of the world), the origin behind a handler that delays every request
// (Options.OriginLatency), Options.Edges edge nodes in one memberlist cluster, and the feed
// service on SQLite (or PostgreSQL) ranking For You with the recommender and, in one of the
// two runs, sending the next-swipe prefetch hints to the edges.
//
// Each player is one user of the world. It pages through For You and, for each video, does
// what hls.js does (the master playlist, the first variant's media playlist, its init and
// first segment, one after the other, from the one edge this player always asks; then the
// rest of the segments while the video plays), sends the events an app sends (impression and
// play, progress, skip or complete with watch_ms, like, share, follow, not_interested),
// watches for as long as the world's watch model says, in simulated time scaled down
// (Options.TimeScale per simulated second), and swipes. The world's new uploads arrive
// during the run, as ready public videos.
//
// Run runs the players twice, each time against a fresh system (fresh caches, a fresh
// database): with prefetch off, then on. With prefetch on it also probes feedback-to-ranking
// latency (a not_interested, then For You again until the page changes) while the players
// play, and after them loads For You at a fixed rate with an open loop. Everything is bounded
// in time, and every server Run starts is stopped before it returns.
//
// The system keeps the real clock: events carry the real time, and the recommender's
// half-lives and the prefetcher's dedup window are real time. Two knobs that stand for a
// person's pace are put on the simulated clock (see newRanking), and the catalogue is a day
// old when the run begins (Options.CatalogueAge), as in a steady state where each video had
// its first look.
package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of createDatabase

	"github.com/reelay/reelay/bench/swipesim/world"
	"github.com/reelay/reelay/storage"
)

// Options configures Run. The zero value of each field means its default.
type Options struct {
	// Seed makes the world and the players' choices. Default 1.
	Seed int64
	// Players is the number of simulated players, each a user of the world. Default 60.
	Players int
	// Users is the number of the world's users; the players are the first Players of them,
	// and the For You load is sent as all of them. Default 1000.
	Users int
	// Videos is the number of the world's videos: the catalogue at the start, and NewVideos
	// uploads that arrive during each run. Default 800.
	Videos int
	// NewVideos is how many of the videos are uploaded during the run. Default 12.
	NewVideos int
	// Creators is the number of the world's creators. Default Videos/8.
	Creators int
	// Duration is how long the players play in each of the two runs (prefetch off, on).
	// Default 60s: 20 simulated minutes, a whole impression window for the uploads of the
	// first half.
	Duration time.Duration
	// TimeScale is the real time of one simulated second: a video watched 15 s takes 15 ×
	// TimeScale. Default 50ms (20 simulated seconds a second): a video watched 8 s leaves
	// 400 ms for its next one's hint, which has the origin's latency to cross a few times.
	TimeScale time.Duration
	// ImpressionWindow is the simulated time after each new video's upload in which its
	// impressions are counted. Default 10 minutes; it shrinks to half the run's simulated
	// length when the run is shorter than twice that.
	ImpressionWindow time.Duration
	// CatalogueAge is how long before the run the catalogue's newest video was published:
	// each one's age in the world, plus CatalogueAge. Default 24h, the recommender's FreshAge:
	// the catalogue had its first look before the run, as in a steady state, and the new
	// videos explored during the run are its uploads.
	CatalogueAge time.Duration
	// ProgressEvery is the simulated time between a player's progress events. Default 5s.
	ProgressEvery time.Duration
	// PageSize is the limit of each For You page. Default 10.
	PageSize int
	// OriginLatency delays every request to the origin. Default 80ms; negative: none.
	OriginLatency time.Duration
	// Edges is the number of edge nodes. Default 3.
	Edges int
	// OneEdge has every player ask the first edge (the feed's playback URL), and the
	// prefetch hints go to it alone, as `reelay up --edges 3` has it. Default false: player i
	// asks edge i mod Edges, always the same, and the hints go to every edge, since the feed
	// does not know which edge a player asks.
	OneEdge bool
	// NoPeek has the prefetcher hint a page's first videos only once the page is served
	// (prefetch.Config.PeekAhead negative), as before it peeked at the next page.
	NoPeek bool
	// Probes is the number of feedback-to-ranking probes, spread over the run with prefetch
	// on, each as a user of its own. Default 20.
	Probes int
	// Rate is the request rate of the For You load. Default 1000 per second.
	Rate int
	// LoadDuration is how long the For You load is measured, after LoadWarmup of the same
	// load not measured. Defaults 5s and 1s.
	LoadDuration, LoadWarmup time.Duration
	// ClipSeconds is the length of the clips transcoded for the catalogue. Default 6.
	ClipSeconds float64
	// Postgres, when set, is a PostgreSQL URL: each run's database is created next to the one
	// it names (which must let its user CREATE DATABASE), and dropped at the end. Default "":
	// SQLite files under Dir.
	Postgres string
	// Dir is where Run makes the directory that holds the object store, the SQLite databases
	// and the edges' disk caches, which it removes at the end. Default: os.TempDir().
	Dir string
	// Logger receives the tiers' logs. Default: discarded.
	Logger *slog.Logger
	// Progress, when set, is told what Run is doing, a line at a time.
	Progress func(string)
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	def(&o.Players, 60)
	def(&o.Users, 1000)
	def(&o.Videos, 800)
	def(&o.NewVideos, 12)
	def(&o.Creators, max(1, o.Videos/8))
	def(&o.PageSize, 10)
	def(&o.Edges, 3)
	def(&o.Probes, 20)
	def(&o.Rate, 1000)
	defDur(&o.Duration, time.Minute)
	defDur(&o.TimeScale, 50*time.Millisecond)
	defDur(&o.ImpressionWindow, 10*time.Minute)
	defDur(&o.ProgressEvery, 5*time.Second)
	defDur(&o.CatalogueAge, 24*time.Hour)
	defDur(&o.LoadDuration, 5*time.Second)
	defDur(&o.LoadWarmup, time.Second)
	if o.OriginLatency == 0 {
		o.OriginLatency = 80 * time.Millisecond
	}
	if o.ClipSeconds <= 0 {
		o.ClipSeconds = 6
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.Players > o.Users:
		return fmt.Errorf("e2e: %d players for %d users", o.Players, o.Users)
	case o.NewVideos >= o.Videos:
		return fmt.Errorf("e2e: %d new videos of %d", o.NewVideos, o.Videos)
	case o.PageSize > 50:
		return fmt.Errorf("e2e: page size %d above 50", o.PageSize)
	}
	return nil
}

// simLength is how much simulated time a run covers.
func (o Options) simLength() time.Duration {
	return time.Duration(float64(o.Duration) / float64(o.TimeScale) * float64(time.Second))
}

// window is the simulated time after an upload in which its impressions count: at most half
// of a run, so that the uploads of its first half have theirs whole.
func (o Options) window() time.Duration { return min(o.ImpressionWindow, o.simLength()/2) }

// Report is what Run measured. It marshals to the "e2e" object of `go run ./bench/swipesim
// -json`.
type Report struct {
	// FirstSegmentHitRatio is the share of the videos swiped to whose first segment the
	// player's edge answered from its own cache (Cache-Status "hit").
	FirstSegmentHitRatio HitRatios `json:"first_segment_hit_ratio"`
	// SwipeStartMS is the time from a swipe to the first byte of the next video's first
	// segment (after its master playlist, media playlist and init segment, as hls.js).
	SwipeStartMS SwipeStart `json:"swipe_start_ms"`
	// PrefetchWasteRatio is the share of the bytes prefetched into the edges (with prefetch on)
	// that no player asked for: the bytes of each hinted video on each edge, unless a player
	// asking that edge started the video after the hint was sent (see hintLog).
	PrefetchWasteRatio float64 `json:"prefetch_waste_ratio"`
	// FeedbackToRankingP95MS is the p95 of the time from a not_interested event to a first
	// For You page without the creator (a probe that waited probeTimeout counts that long).
	FeedbackToRankingP95MS float64 `json:"feedback_to_ranking_p95_ms"`
	// ForYouP99MS is the p99 latency of the first For You page under Options.Rate requests a
	// second, from when each request was due; ForYouRPS the rate of the answers.
	ForYouP99MS float64 `json:"foryou_p99_ms"`
	ForYouRPS   float64 `json:"foryou_rps"`
	// NewVideoMinImpressions10Min is the fewest impressions a new upload got in its first
	// Options.ImpressionWindow (simulated) with prefetch on, over the uploads whose window
	// ended before the run did.
	NewVideoMinImpressions10Min int `json:"new_video_min_impressions_10min"`
	// SameCreatorAdjacencies counts the items served right after one by the same creator, in
	// every player's and prober's feed, in both runs.
	SameCreatorAdjacencies int `json:"same_creator_adjacencies"`

	// Details are the counts behind the figures, for people; they are not in the JSON.
	Details Details `json:"-"`
}

// HitRatios are first-segment hit ratios with prefetch on and off.
type HitRatios struct {
	PrefetchOn  float64 `json:"prefetch_on"`
	PrefetchOff float64 `json:"prefetch_off"`
}

// SwipeStart are swipe-start latencies in milliseconds.
type SwipeStart struct {
	P50On  float64 `json:"p50_on"`
	P95On  float64 `json:"p95_on"`
	P50Off float64 `json:"p50_off"`
	P95Off float64 `json:"p95_off"`
}

// Details are the counts behind a Report.
type Details struct {
	Seed                     int64
	Off, On                  RunDetails
	Probes, ProbeTimeouts    int
	LoadSent, LoadErrors     int
	LoadFirstError           string
	LoadP50MS                float64
	Prefetched, PrefetchUsed int64            // objects, summed over the edges, with prefetch on
	Hints                    map[string]int64 // the prefetcher's hinted videos by what became of them
	HintBytes                int64            // the bytes the edges reported fetching for the hints
	// EdgeWasteRatio is the edges' own account of waste: 1 - PrefetchUsed/Prefetched, by
	// objects, where an object counts as used when a request hits it (not when a request comes
	// while the prefetch is still filling it, which shares that fill).
	EdgeWasteRatio float64
	// HintedVideos and HintedBytes are the (edge, video) pairs the edges fetched something
	// for, and the bytes, by the harness's log of the hints (the report's waste is from it).
	HintedVideos int
	HintedBytes  int64
	// Slow are the slow swipe starts with prefetch on (a missed first segment, or a first
	// byte after slowAfter), by cause.
	Slow                 SlowCauses
	NewVideosCounted     int // uploads whose whole window was in the run
	Window               time.Duration
	SetupTime, TotalTime time.Duration
}

// RunDetails are one run's counts.
type RunDetails struct {
	Swipes, Hits, Views, Pages, Items, Adjacencies, Errors int
	FirstError                                             string
	// StepsP50MS and StepsP95MS are the percentiles of each request of a swipe's start: the
	// master playlist, the media playlist, the init segment, the first segment's first byte.
	StepsP50MS, StepsP95MS [4]float64
}

// String is the details in a few lines.
func (d Details) String() string {
	s := fmt.Sprintf("seed %d; setup %v, total %v\n", d.Seed, d.SetupTime.Round(time.Second), d.TotalTime.Round(time.Second))
	for _, r := range []struct {
		name string
		r    RunDetails
	}{{"prefetch off", d.Off}, {"prefetch on", d.On}} {
		s += fmt.Sprintf("%s: %d swipes (%d hits), %d views, %d pages of %d items, %d adjacencies, %d errors %s\n",
			r.name, r.r.Swipes, r.r.Hits, r.r.Views, r.r.Pages, r.r.Items, r.r.Adjacencies, r.r.Errors, r.r.FirstError)
		s += fmt.Sprintf("  swipe start by request (master, media, init, segment): p50 %v ms, p95 %v ms\n", r.r.StepsP50MS, r.r.StepsP95MS)
	}
	s += fmt.Sprintf("prefetch hints (videos): %v, %d bytes fetched\n", d.Hints, d.HintBytes)
	s += fmt.Sprintf("prefetch by the hints' log: %d (edge, video) pairs, %d bytes; by the edges' counts: %d objects, %d used (waste %.3f)\n",
		d.HintedVideos, d.HintedBytes, d.Prefetched, d.PrefetchUsed, d.EdgeWasteRatio)
	s += fmt.Sprintf("slow swipe starts with prefetch on (first segment missed, or first byte after %v): %+v\n", slowAfter, d.Slow)
	s += fmt.Sprintf("feedback: %d probes, %d timed out; new videos counted: %d (window %v simulated)\n",
		d.Probes, d.ProbeTimeouts, d.NewVideosCounted, d.Window)
	s += fmt.Sprintf("For You load: %d sent, %d errors %s, p50 %.1f ms\n", d.LoadSent, d.LoadErrors, d.LoadFirstError, d.LoadP50MS)
	return s
}

// Run builds the world of opts, runs the players against a fresh system with prefetch off,
// then with prefetch on, and reports what they measured.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	began := time.Now()
	dir, err := os.MkdirTemp(opts.Dir, "swipesim-e2e-")
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	defer os.RemoveAll(dir)
	window := opts.window()
	w := world.New(world.Config{
		Seed: opts.Seed, Users: opts.Users, Videos: opts.Videos, Creators: opts.Creators,
		Uploads: opts.simLength() - window, NewShare: float64(opts.NewVideos) / float64(opts.Videos),
	})
	store, err := storage.NewFSWith(filepath.Join(dir, "objects"), storage.FSOptions{NoSync: true})
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	opts.Progress("transcoding the clips")
	pres, err := makePresentations(ctx, store, dir, opts.ClipSeconds)
	if err != nil {
		return nil, err
	}
	opts.Progress(fmt.Sprintf("publishing %d videos of %d objects each", len(w.Videos), len(pres[0].objects)))
	if err := publishAll(ctx, store, pres, w.Videos); err != nil {
		return nil, err
	}
	rep := &Report{Details: Details{Seed: opts.Seed, Window: window, SetupTime: time.Since(began)}}
	for _, on := range []bool{false, true} {
		if err := runMode(ctx, opts, w, store, pres, on, dir, rep); err != nil {
			return nil, err
		}
	}
	rep.Details.TotalTime = time.Since(began)
	return rep, nil
}

// publishAll publishes the presentations of videos, a few at a time.
func publishAll(ctx context.Context, store storage.Store, pres []presentation, videos []world.Video) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(videos))
	sem := make(chan struct{}, 4)
	for _, v := range videos {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := publish(ctx, store, pres[v.Index%len(pres)], v.ID); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// runEnv is one run: the world, the system under test and what the players share.
type runEnv struct {
	opts     Options
	world    *world.World
	videos   map[string]*world.Video
	sys      *system
	client   *client
	rec      *recorder
	accounts *accounts
	began    time.Time // real time at the world's Start
}

// sleepSim waits for d of simulated time, and reports whether it did before ctx's end.
func (e *runEnv) sleepSim(ctx context.Context, d time.Duration) bool {
	return sleepUntil(ctx, time.Now().Add(e.real(d)))
}

// real is the real time of simulated time d.
func (e *runEnv) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / float64(time.Second) * float64(e.opts.TimeScale))
}

// at is the real time of the world's time t during the run; times before the world's Start
// keep their distance to it, plus Options.CatalogueAge.
func (e *runEnv) at(t time.Time) time.Time {
	d := t.Sub(e.world.Config.Start)
	if d < 0 {
		return e.began.Add(d - e.opts.CatalogueAge)
	}
	return e.began.Add(e.real(d))
}

// runMode runs the players against a fresh system with prefetch on or off, and fills its part
// of rep.
func runMode(ctx context.Context, opts Options, w *world.World, store storage.Store, pres []presentation, on bool, dir string, rep *Report) (err error) {
	mode := map[bool]string{false: "off", true: "on"}[on]
	dsn := filepath.Join(dir, "prefetch-"+mode+".db")
	if opts.Postgres != "" {
		var drop func() error
		if dsn, drop, err = createDatabase(ctx, opts.Postgres, fmt.Sprintf("swipesim_%d_%s_%d", opts.Seed, mode, time.Now().UnixNano())); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, drop()) }()
	}
	opts.Progress("prefetch " + mode + ": starting the system")
	sys, err := startSystem(ctx, systemConfig{dsn: dsn, dir: filepath.Join(dir, "edges-"+mode), edges: opts.Edges,
		originLatency: opts.OriginLatency, prefetch: on, oneEdge: opts.OneEdge, noPeek: opts.NoPeek, seed: opts.Seed, timeScale: opts.TimeScale, log: opts.Logger}, store)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sys.close()) }()
	cl := newClient(sys.api, opts.Players+opts.Probes)
	defer cl.close()
	e := &runEnv{opts: opts, world: w, sys: sys, client: cl, rec: newRecorder(), videos: map[string]*world.Video{}, began: time.Now()}
	for i := range w.Videos {
		e.videos[w.Videos[i].ID] = &w.Videos[i]
	}
	catalogue := w.Catalogue(w.Config.Start)
	if e.accounts, err = seed(ctx, sys.db, w, opts.Probes, catalogue, e.at, pres); err != nil {
		return err
	}
	if err := e.ready(ctx); err != nil {
		return err
	}

	opts.Progress(fmt.Sprintf("prefetch %s: %d players for %v", mode, opts.Players, opts.Duration))
	e.began = time.Now()
	runCtx, cancel := context.WithDeadline(ctx, e.began.Add(opts.Duration))
	defer cancel()
	var wg sync.WaitGroup
	arrived := map[string]time.Time{}
	var arrivedMu sync.Mutex
	wg.Go(func() {
		for _, v := range w.Videos[len(catalogue):] {
			if !sleepUntil(runCtx, e.at(v.Published)) {
				return
			}
			now := time.Now()
			if err := insertVideo(runCtx, sys.db, e.accounts, v, pres, now); err != nil {
				if runCtx.Err() == nil {
					e.rec.fail(err)
				}
				return
			}
			arrivedMu.Lock()
			arrived[v.ID] = now
			arrivedMu.Unlock()
		}
	})
	var probeLat []time.Duration
	var probeTimeouts int
	if on {
		wg.Go(func() { probeLat, probeTimeouts = e.probes(ctx, runCtx, opts.Duration) })
	}
	for i := range opts.Players {
		edge := sys.edges[i%len(sys.edges)]
		if opts.OneEdge {
			edge = sys.edges[0]
		}
		p := &player{env: e, user: &w.Users[i], token: e.accounts.tokens[e.accounts.ids[w.Users[i].ID]],
			edge: edge.URL(), host: edge.Addr().String(), rng: newRand(opts.Seed, i), follows: map[int64]bool{}}
		wg.Go(func() { p.play(runCtx) })
	}
	wg.Wait()
	end := time.Now()

	r := e.rec
	d := RunDetails{Swipes: len(r.swipes), Hits: r.hits, Views: r.views, Pages: r.pages, Items: r.items, Adjacencies: r.adjacent,
		Errors: r.errors, FirstError: r.firstErr}
	for i, st := range r.steps {
		d.StepsP50MS[i], d.StepsP95MS[i] = ms(percentile(st, 50)), ms(percentile(st, 95))
	}
	hitRatio := 0.0
	if d.Swipes > 0 {
		hitRatio = float64(d.Hits) / float64(d.Swipes)
	}
	rep.SameCreatorAdjacencies += d.Adjacencies
	if !on {
		rep.Details.Off = d
		rep.FirstSegmentHitRatio.PrefetchOff = round3(hitRatio)
		rep.SwipeStartMS.P50Off, rep.SwipeStartMS.P95Off = ms(percentile(r.swipes, 50)), ms(percentile(r.swipes, 95))
		return nil
	}
	rep.Details.On = d
	rep.Details.Slow = sys.rank.log.causes(r.slow)
	rep.FirstSegmentHitRatio.PrefetchOn = round3(hitRatio)
	rep.SwipeStartMS.P50On, rep.SwipeStartMS.P95On = ms(percentile(r.swipes, 50)), ms(percentile(r.swipes, 95))
	rep.FeedbackToRankingP95MS = ms(percentile(probeLat, 95))
	rep.Details.Probes, rep.Details.ProbeTimeouts = len(probeLat), probeTimeouts

	// New videos: the fewest impressions in a whole window.
	minImp, counted := math.MaxInt, 0
	for id, at := range arrived {
		until := at.Add(e.real(rep.Details.Window))
		if until.After(end) {
			continue
		}
		counted++
		minImp = min(minImp, r.impressionsWithin(id, at, until))
	}
	if counted == 0 {
		minImp = 0
	}
	rep.NewVideoMinImpressions10Min, rep.Details.NewVideosCounted = minImp, counted

	// Prefetch waste, by the edges' counts.
	for _, n := range sys.edges {
		st := n.Stats()
		rep.Details.Prefetched += st.Prefetched
		rep.Details.PrefetchUsed += st.PrefetchUsed
	}
	if rep.Details.Hints, rep.Details.HintBytes, err = sys.rank.hints(); err != nil {
		return err
	}
	if p := rep.Details.Prefetched; p > 0 {
		rep.Details.EdgeWasteRatio = round3(max(0, float64(p-rep.Details.PrefetchUsed)/float64(p)))
	}
	var waste float64
	rep.Details.HintedBytes, waste, rep.Details.HintedVideos = sys.rank.log.waste(r.started)
	rep.PrefetchWasteRatio = round3(waste)

	// For You at a fixed rate, the players gone.
	opts.Progress(fmt.Sprintf("For You at %d requests/s for %v", opts.Rate, opts.LoadDuration))
	var tokens []string
	for _, u := range w.Users {
		tokens = append(tokens, e.accounts.tokens[e.accounts.ids[u.ID]])
	}
	lc := newClient(sys.api, 512)
	lc.http.Timeout = loadTimeout
	defer lc.close()
	loadForYou(ctx, lc, tokens, opts.Rate, opts.PageSize, opts.LoadWarmup)
	lr := loadForYou(ctx, lc, tokens, opts.Rate, opts.PageSize, opts.LoadDuration)
	rep.ForYouP99MS, rep.ForYouRPS = ms(lr.P99), math.Round(lr.RPS)
	rep.Details.LoadSent, rep.Details.LoadErrors, rep.Details.LoadFirstError, rep.Details.LoadP50MS = lr.Sent, lr.Errors, lr.FirstErr, ms(lr.P50)
	return ctx.Err()
}

// newRand is player i's generator.
func newRand(seed int64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(i)+0x9e3779b9))
}

// ready waits until For You serves a page, to a user who plays no part (the last of the
// world's): the ranking has the catalogue.
func (e *runEnv) ready(ctx context.Context) error {
	token := e.accounts.tokens[e.accounts.ids[e.world.Users[len(e.world.Users)-1].ID]]
	deadline := time.Now().Add(time.Minute)
	for {
		pg, err := e.client.forYou(ctx, token, "", e.opts.PageSize)
		if err == nil && len(pg.Items) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("e2e: For You served no page within a minute: %v", err)
		}
		if !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) { // polling interval
			return ctx.Err()
		}
	}
}

// loadTimeout bounds each request of the For You load, and so the load's time: a request
// not answered by then counts as an error, and as this long.
const loadTimeout = 10 * time.Second

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// createDatabase creates the database name next to the one of the PostgreSQL URL admin, and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context, admin, name string) (string, func() error, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("e2e: PostgreSQL URL: %w", err)
	}
	conn, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, fmt.Errorf("e2e: PostgreSQL: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		conn.Close()
		return "", nil, fmt.Errorf("e2e: create database: %w", err)
	}
	u.Path = "/" + name
	drop := func() error {
		defer conn.Close()
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(dctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			return fmt.Errorf("e2e: drop database: %w", err)
		}
		return nil
	}
	return u.String(), drop, nil
}
