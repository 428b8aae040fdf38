package feed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reelay/reelay/db"
)

// Event is one thing a player reported (POST /v1/events), as the events table holds it.
type Event struct {
	ID        int64     // increasing in the order of the inserts; see Events for the gaps
	UserID    int64     // 0 for a visitor
	Visitor   string    // a visitor's id, when UserID is 0
	Video     string    // the video's id
	Type      EventType // impression, play, ...
	WatchMS   int64     // how long the video was watched
	Position  int64     // the item's position in the feed page
	Rendition string    // the rendition played (play, progress), "" when the player did not say
	At        time.Time // when the player says it happened
	CreatedAt time.Time // when the service stored it
}

// Events is the log of what players report: the events table, appended to by POST
// /v1/events, and its subscribers, which each get every event once, in id order.
//
// A subscriber does not receive the events from the request that stored them: it tails the
// table by id (WHERE id > last ORDER BY id LIMIT n), woken at once by this process's appends
// and polling otherwise, so that it sees the appends of every process sharing the database.
// Its position, the last id it handled, is checkpointed in event_subscribers under its name;
// a restart resumes there.
//
// On PostgreSQL ids are allocated at insert but become visible at commit, in another order:
// a tailer reading ids 1, 2, 4 may be looking at a gap where 3 commits a moment later, or at
// a hole that stays (a rolled-back insert, sequence values lost in a crash). A tailer
// therefore hands on the rows up to the first gap and stops there; it passes a gap only once
// the row after it was stored more than Config.EventsGrace ago, when the insert that took the
// missing id, begun before that row's, has had the grace period to commit. An insert that
// takes longer than that between allocating its ids and committing (one multi-row INSERT
// and its COMMIT; the clocks of the processes that insert and tail are assumed to agree to
// well within the grace) is lost to subscribers that passed it. On SQLite writes are
// serialised and ids committed in order, so there are no gaps to wait for.
type Events struct {
	d     *db.DB
	log   *slog.Logger
	now   func() time.Time
	grace time.Duration // see Config.EventsGrace
	poll  time.Duration // see Config.EventsPoll
	batch int           // see Config.EventsBatch

	mu   sync.Mutex
	subs []*subscription
}

// subscription is one subscriber: exactly one of tx and fn is set. A watcher (start set)
// keeps its position in last rather than in event_subscribers.
type subscription struct {
	name  string
	tx    func(ctx context.Context, tx *sql.Tx, events []Event) error
	fn    func(ctx context.Context, events []Event) error
	start func(ctx context.Context) (int64, error)
	wake  chan struct{} // buffered 1: an append happened since the last read

	started bool  // a watcher's start has returned its position
	last    int64 // a watcher's position: the last id it handled
}

// Subscribe has fn called with every event, in id order and in batches, from the first
// event the subscriber called name has not yet handled; once fn returns nil the batch is
// checkpointed. It is at-least-once: a batch whose fn returned but whose checkpoint was not
// stored (a crash in between) is handed over again after a restart, so fn should be
// idempotent by Event.ID (the ids of a subscriber's batches only grow). A batch fn fails is
// retried after Config.EventsPoll. Subscribe before Run: Run serves the subscribers it finds
// when it starts. A name is one position: two subscribers of one name share it.
func (e *Events) Subscribe(name string, fn func(ctx context.Context, events []Event) error) {
	e.add(&subscription{name: name, fn: fn})
}

// SubscribeTx is Subscribe for a subscriber whose effect is in the database: fn runs in the
// transaction that moves the checkpoint, so that its writes and the checkpoint commit, or
// not, together, and every event takes effect exactly once, across restarts and processes.
func (e *Events) SubscribeTx(name string, fn func(ctx context.Context, tx *sql.Tx, events []Event) error) {
	e.add(&subscription{name: name, tx: fn})
}

// Watch is Subscribe for a subscriber whose state is in this process's memory and rebuilt
// from the events when it starts, such as a recommender's: each process needs every event,
// so its position is kept in memory, not checkpointed and shared. Its first read starts after
// the id that start returns (0 for every event; see After). fn is called as Subscribe calls
// it, and a batch it fails is handed over again. Watch before Run.
func (e *Events) Watch(name string, start func(ctx context.Context) (int64, error), fn func(ctx context.Context, events []Event) error) {
	e.add(&subscription{name: name, fn: fn, start: start})
}

// After returns an id such that a watcher starting there gets about the events stored from
// t on: the id of the last event stored before t, found by bisecting the ids (they grow with
// the time of storing, but for the commits of concurrent inserts, a moment apart). It is 0 when
// every event was stored from t on.
func (e *Events) After(ctx context.Context, t time.Time) (int64, error) {
	var lo, hi sql.NullInt64
	if err := e.d.SQL().QueryRowContext(ctx, `SELECT min(id), max(id) FROM events`).Scan(&lo, &hi); err != nil {
		return 0, fmt.Errorf("feed: events after %v: %w", t, err)
	}
	// Invariant: the events up to lo-1 were stored before t; those from hi+1 on, from t on.
	a, b, cut := lo.Int64, hi.Int64, db.Millis(t)
	for a <= b && lo.Valid {
		mid := a + (b-a)/2
		var id, created int64
		err := e.d.SQL().QueryRowContext(ctx, `SELECT id, created_at FROM events WHERE id >= $1 ORDER BY id LIMIT 1`, mid).Scan(&id, &created)
		if err != nil {
			return 0, fmt.Errorf("feed: events after %v: %w", t, err)
		}
		if created < cut {
			a = id + 1
		} else {
			b = mid - 1
		}
	}
	if !lo.Valid || a <= lo.Int64 {
		return 0, nil
	}
	return a - 1, nil
}

func (e *Events) add(s *subscription) {
	s.wake = make(chan struct{}, 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = append(e.subs, s)
}

// Append stores events in one transaction and wakes the subscribers. Their IDs and
// CreatedAt are set by Append.
func (e *Events) Append(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	created := db.Millis(e.now())
	var q strings.Builder
	q.WriteString(`INSERT INTO events (user_id, visitor, video_id, type, watch_ms, position, rendition, at, created_at) VALUES `)
	args := make([]any, 0, 9*len(events))
	for i, ev := range events {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(" + placeholders(len(args)+1, 9) + ")")
		args = append(args, ev.UserID, ev.Visitor, ev.Video, string(ev.Type), ev.WatchMS, ev.Position, ev.Rendition, db.Millis(ev.At), created)
	}
	if _, err := e.d.Exec(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("feed: append events: %w", err)
	}
	e.mu.Lock()
	for _, s := range e.subs {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	e.mu.Unlock()
	return nil
}

// Run serves the subscribers until ctx ends.
func (e *Events) Run(ctx context.Context) error {
	e.mu.Lock()
	subs := append([]*subscription(nil), e.subs...)
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { e.tail(ctx, s) })
	}
	wg.Wait()
	return nil
}

// tail hands the events on to s until ctx ends.
func (e *Events) tail(ctx context.Context, s *subscription) {
	log := e.log.With("subscriber", s.name)
	for ctx.Err() == nil {
		wait := e.poll
		n, gap, err := e.deliver(ctx, s)
		switch {
		case err != nil:
			if ctx.Err() == nil && !errors.Is(err, db.ErrConflict) {
				log.Warn("events subscriber failed; retrying", "err", err)
			}
		case gap:
			wait = min(e.poll, e.grace/10) // look again soon: the gap may be filled by now
		case n == e.batch:
			continue // there may be more at once
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliver hands s the next batch of events after its checkpoint and moves the checkpoint.
// It returns how many events it read, and whether it stopped at a gap too young to pass.
func (e *Events) deliver(ctx context.Context, s *subscription) (read int, gap bool, err error) {
	last, err := e.position(ctx, s)
	if err != nil {
		return 0, false, fmt.Errorf("feed: subscriber %s: %w", s.name, err)
	}
	events, err := e.read(ctx, last)
	if err != nil {
		return 0, false, err
	}
	read = len(events)
	next := last + 1
	passable := db.Millis(e.now().Add(-e.grace))
	for i, ev := range events {
		if ev.ID != next && db.Millis(ev.CreatedAt) > passable {
			events, gap = events[:i], true
			break
		}
		next = ev.ID + 1
	}
	if len(events) == 0 {
		return read, gap, nil
	}
	to := events[len(events)-1].ID
	checkpoint := func(ctx context.Context, exec func(context.Context, string, ...any) (sql.Result, error)) error {
		res, err := exec(ctx, `UPDATE event_subscribers SET last_id = $1, updated_at = $2 WHERE name = $3 AND last_id = $4`,
			to, db.Millis(e.now()), s.name, last)
		if err != nil {
			return fmt.Errorf("feed: subscriber %s: checkpoint: %w", s.name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("feed: subscriber %s: %w", s.name, db.ErrConflict) // another process handled them
		}
		return nil
	}
	if s.start != nil {
		if err = s.fn(ctx, events); err == nil {
			s.last = to
		}
		return read, gap, err
	}
	if s.tx != nil {
		// The checkpoint moves first: on PostgreSQL its row lock makes another process
		// handing on the same events wait, then find the checkpoint moved, and roll back.
		err = e.d.Tx(ctx, func(tx *sql.Tx) error {
			if err := checkpoint(ctx, tx.ExecContext); err != nil {
				return err
			}
			return s.tx(ctx, tx, events)
		})
	} else if err = s.fn(ctx, events); err == nil {
		err = checkpoint(ctx, e.d.Exec)
	}
	return read, gap, err
}

// position returns the id of the last event s handled.
func (e *Events) position(ctx context.Context, s *subscription) (int64, error) {
	if s.start != nil {
		if !s.started {
			last, err := s.start(ctx)
			if err != nil {
				return 0, err
			}
			s.last, s.started = last, true
		}
		return s.last, nil
	}
	var last int64
	err := e.d.SQL().QueryRowContext(ctx, `SELECT last_id FROM event_subscribers WHERE name = $1`, s.name).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) { // a new subscriber starts at the first event
		_, err = e.d.Exec(ctx, `INSERT INTO event_subscribers (name, last_id, updated_at) VALUES ($1, 0, $2)
			ON CONFLICT (name) DO NOTHING`, s.name, db.Millis(e.now()))
	}
	return last, err
}

// read returns up to e.batch events after id last, in id order.
func (e *Events) read(ctx context.Context, last int64) ([]Event, error) {
	rows, err := e.d.SQL().QueryContext(ctx, `SELECT id, user_id, visitor, video_id, type, watch_ms, position, rendition, at, created_at
		FROM events WHERE id > $1 ORDER BY id LIMIT $2`, last, e.batch)
	if err != nil {
		return nil, fmt.Errorf("feed: read events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var at, created int64
		if err := rows.Scan(&ev.ID, &ev.UserID, &ev.Visitor, &ev.Video, &ev.Type, &ev.WatchMS, &ev.Position, &ev.Rendition, &at, &created); err != nil {
			return nil, fmt.Errorf("feed: read events: %w", err)
		}
		ev.At, ev.CreatedAt = db.Time(at), db.Time(created)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// countViews is the subscriber of the view counts: each play event counts one view of its
// video, in the transaction of the subscriber's checkpoint.
func countViews(ctx context.Context, tx *sql.Tx, events []Event) error {
	plays := map[string]int64{}
	var videos []string
	for _, ev := range events {
		if ev.Type == EventPlay {
			if plays[ev.Video] == 0 {
				videos = append(videos, ev.Video)
			}
			plays[ev.Video]++
		}
	}
	slices.Sort(videos) // one order of row locks for every transaction that takes several
	for _, v := range videos {
		if _, err := tx.ExecContext(ctx, `UPDATE videos SET view_count = view_count + $1 WHERE id = $2`, plays[v], v); err != nil {
			return fmt.Errorf("feed: count views: %w", err)
		}
	}
	return nil
}
