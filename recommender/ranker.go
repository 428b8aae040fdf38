package recommender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
)

// Config configures a Ranker.
type Config struct {
	// Model tunes the model. The zero value is ready to use.
	Model Options
	// Window is how far back the events are replayed into the model at start. Default 30 days.
	Window time.Duration
	// Poll is how often the catalogue is read again: a new video is a candidate, and one made
	// private, hidden or deleted stops being one, within Poll. Default 3s.
	Poll time.Duration
	// MaxFollows is how many followed creators (the most recently followed) a page looks at.
	// Default 1,000.
	MaxFollows int
	// Registerer receives the ranker's metrics. Nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger logs the rebuild and failures. Default: slog.Default().
	Logger *slog.Logger
}

// ErrNotReady is Ready's answer while the model is being rebuilt from the events.
var ErrNotReady = errors.New("recommender: rebuilding from the events")

// Ranker is the For You ranking of the feed over a database: the Model, given the pickable
// videos (read at start and every Config.Poll) and the events (replayed from Config.Window
// ago at start, then as they come: Watch), asked with the viewer's follows and blocks (two
// small indexed queries per page). Every process that ranks keeps its own model, rebuilt
// from the events table when it starts, so a restart loses nothing learned but the events
// still in flight, and several API nodes can rank from one PostgreSQL. It answers before the
// rebuild is over, from what it learned so far (new videos and popularity at first); Ready
// says when it is over.
type Ranker struct {
	cfg     Config
	db      *db.DB
	model   *Model
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	loadMu  sync.Mutex       // held while the catalogue is read
	loaded  atomic.Bool      // the catalogue was read once
	catalog map[string]Video // the pickable videos, as last read (under loadMu)

	events      *feed.Events // what Watch watches
	startMu     sync.Mutex   // held by Load
	from        int64        // the rebuild's first read starts after this id (under startMu)
	started     atomic.Bool  // Load is done: target and last are set
	ready       atomic.Bool  // the rebuild is over
	target      atomic.Int64 // the last event's id when the rebuild began
	last        atomic.Int64 // the last event's id observed
	rebuildFrom time.Time    // when the rebuild began (set before started)
}

var (
	_ feed.Ranker    = (*Ranker)(nil)
	_ feed.Explainer = (*Ranker)(nil)
)

// NewRanker returns a ranker over the videos and events of d; Watch the feed's events with
// it, then Run it.
func NewRanker(cfg Config, d *db.DB) (*Ranker, error) {
	if d == nil {
		return nil, errors.New("recommender: no database")
	}
	setDefault(&cfg.Window, 30*24*time.Hour)
	setDefault(&cfg.Poll, 3*time.Second)
	setDefault(&cfg.MaxFollows, 1000)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Ranker{cfg: cfg, db: d, model: New(cfg.Model), log: cfg.Logger.With("tier", "recommender"), now: time.Now, catalog: map[string]Video{}}
	m, err := newMetrics(cfg.Registerer, r)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	return r, nil
}

// Model returns the ranker's model.
func (r *Ranker) Model() *Model { return r.model }

// Watch has the model learn from events: from those stored Config.Window ago on (the
// rebuild), then from each new one, as events' Run hands them over. Call it before the
// feed service's Run.
func (r *Ranker) Watch(events *feed.Events) {
	r.events = events
	events.Watch("recommender", func(ctx context.Context) (int64, error) {
		if err := r.Load(ctx); err != nil {
			return 0, err
		}
		return r.from, nil
	}, func(_ context.Context, evs []feed.Event) error {
		r.model.Observe(evs)
		r.metrics.events.Add(float64(len(evs)))
		last := evs[len(evs)-1].ID
		r.last.Store(last)
		r.checkReady(last)
		return nil
	})
}

// Load reads the catalogue and finds where the rebuild starts and ends, unless done: the
// events' subscription does it when it starts, and a process may call it before it serves,
// so that Ready is true at once when there are no events to replay. Call Watch first.
func (r *Ranker) Load(ctx context.Context) error {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.started.Load() {
		return nil
	}
	if r.events == nil {
		return errors.New("recommender: Load before Watch")
	}
	// The catalogue first, so that the replayed events find their videos.
	if err := r.ensureLoaded(ctx); err != nil {
		return err
	}
	start := r.now()
	from, err := r.events.After(ctx, start.Add(-r.cfg.Window))
	if err != nil {
		return err
	}
	var target int64
	if err := r.db.SQL().QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM events`).Scan(&target); err != nil {
		return fmt.Errorf("recommender: rebuild: %w", err)
	}
	r.rebuildFrom, r.from = start, from
	r.target.Store(target)
	r.last.Store(from)
	r.started.Store(true)
	r.log.Info("rebuilding from the events", "from_id", from, "to_id", target)
	r.checkReady(from)
	return nil
}

// checkReady marks the rebuild over once the events up to its target were observed.
func (r *Ranker) checkReady(last int64) {
	if r.ready.Load() || last < r.target.Load() {
		return
	}
	r.markReady()
}

func (r *Ranker) markReady() {
	if r.ready.Swap(true) {
		return
	}
	took := r.now().Sub(r.rebuildFrom)
	r.metrics.rebuild.Set(took.Seconds())
	r.log.Info("rebuilt from the events", "took", took, "videos", r.model.Len())
}

// Ready reports whether the rebuild from the events is over (ErrNotReady until then).
func (r *Ranker) Ready(ctx context.Context) error {
	if r.ready.Load() {
		return nil
	}
	if !r.started.Load() {
		return ErrNotReady
	}
	// The ids left up to the target may be holes (inserts rolled back) that never come.
	var left int64
	if err := r.db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM events WHERE id > $1 AND id <= $2`,
		r.last.Load(), r.target.Load()).Scan(&left); err != nil {
		return fmt.Errorf("recommender: ready: %w", err)
	}
	if left > 0 {
		return ErrNotReady
	}
	r.markReady()
	return nil
}

// Run reads the catalogue every Config.Poll until ctx ends.
func (r *Ranker) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		if err := r.refresh(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reading the catalogue failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Rank implements feed.Ranker.
func (r *Ranker) Rank(ctx context.Context, req feed.RankRequest) ([]string, error) {
	picks, err := r.recommend(ctx, req, false)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(picks))
	for i, p := range picks {
		ids[i] = p.Video
	}
	return ids, nil
}

// Peek returns the first n videos of the page viewer would be served now, leaving out
// exclude, as Rank would (prefetch.Peek): ranking has no effect on the model, so a peek does
// not count as a page served.
func (r *Ranker) Peek(ctx context.Context, viewer int64, exclude []string, n int) ([]string, error) {
	return r.Rank(ctx, feed.RankRequest{Viewer: viewer, Exclude: exclude, Limit: n})
}

// Explain implements feed.Explainer.
func (r *Ranker) Explain(ctx context.Context, req feed.RankRequest) ([]feed.Ranked, error) {
	picks, err := r.recommend(ctx, req, true)
	if err != nil {
		return nil, err
	}
	out := make([]feed.Ranked, len(picks))
	for i, p := range picks {
		out[i] = feed.Ranked{ID: p.Video, Explanation: feed.Explanation{Source: p.Source, Score: p.Score, Reasons: p.Reasons}}
	}
	return out, nil
}

func (r *Ranker) recommend(ctx context.Context, req feed.RankRequest, explain bool) ([]Pick, error) {
	start := time.Now()
	if err := r.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	q := Query{User: req.Viewer, Visitor: req.Visitor, Exclude: req.Exclude, Limit: req.Limit, Now: r.now(), Explain: explain}
	if req.Viewer != 0 {
		var err error
		if q.Follows, q.Blocked, err = r.graph(ctx, req.Viewer); err != nil {
			return nil, err
		}
	}
	picks := r.model.Recommend(q)
	r.metrics.rank.Observe(time.Since(start).Seconds())
	return picks, nil
}

// maxBlocks bounds the blocked creators a page looks at.
const maxBlocks = 10_000

// graph returns the creators viewer follows (the most recent Config.MaxFollows) and the
// ones they blocked, in one query.
func (r *Ranker) graph(ctx context.Context, viewer int64) (follows, blocked []int64, err error) {
	rows, err := r.db.SQL().QueryContext(ctx, `SELECT id, blocked FROM (
			SELECT followee_id AS id, 0 AS blocked FROM follows WHERE follower_id = $1 ORDER BY created_at DESC LIMIT $2) f
		UNION ALL
		SELECT id, blocked FROM (SELECT blocked_id AS id, 1 AS blocked FROM blocks WHERE blocker_id = $1 LIMIT $3) b`,
		viewer, r.cfg.MaxFollows, maxBlocks)
	if err != nil {
		return nil, nil, fmt.Errorf("recommender: follows and blocks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, b int64
		if err := rows.Scan(&id, &b); err != nil {
			return nil, nil, fmt.Errorf("recommender: follows and blocks: %w", err)
		}
		if b == 1 {
			blocked = append(blocked, id)
		} else {
			follows = append(follows, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("recommender: follows and blocks: %w", err)
	}
	return follows, blocked, nil
}
