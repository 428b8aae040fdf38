package live

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reelay/reelay/db"
)

// Defaults of DirectoryConfig and of Config.Heartbeat.
const (
	DefaultHeartbeat = 5 * time.Second
	DefaultFresh     = 15 * time.Second // three heartbeats
	DefaultCacheFor  = time.Second
)

// DirectoryConfig configures a Directory.
type DirectoryConfig struct {
	// Fresh is how recent a stream's heartbeat must be for Live to list it: a node that
	// died leaves its streams, which then go stale. Default DefaultFresh (15 s, three of the
	// live node's heartbeats, Config.Heartbeat).
	Fresh time.Duration
	// CacheFor is how long Live answers from its last read of the table, so that Following
	// pages read it about once a second however many are served. A write through this
	// Directory (a stream of this process starting, beating or ending) drops the cache.
	// Default DefaultCacheFor (1 s).
	CacheFor time.Duration
	// Now is the clock of the heartbeats and of their freshness. Default time.Now.
	Now func() time.Time
}

// Directory is the live_streams table: the streams live now on any node. The Server of a
// live node writes it (a stream when its session is answered, a heartbeat every
// Config.Heartbeat, its end), and reads it back after a crash to know whose recordings it
// finds; every feed node reads it through Live.
type Directory struct {
	db  *db.DB
	cfg DirectoryConfig

	gen     atomic.Int64 // bumped by each write through this Directory
	mu      sync.Mutex   // one read of the table at a time; guards the cache
	cached  []Stream
	cacheAt time.Time // when cached was read; zero: never
	cacheOf int64     // gen when cached was read
}

// NewDirectory returns the Directory of d.
func NewDirectory(d *db.DB, cfg DirectoryConfig) (*Directory, error) {
	if d == nil {
		return nil, errors.New("live: the directory needs a database")
	}
	if cfg.Fresh <= 0 {
		cfg.Fresh = DefaultFresh
	}
	if cfg.CacheFor <= 0 {
		cfg.CacheFor = DefaultCacheFor
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Directory{db: d, cfg: cfg}, nil
}

// Live returns the streams live now, on any node: not ended, their heartbeat fresh; the
// newest first. It answers from a cache for DirectoryConfig.CacheFor.
func (dir *Directory) Live(ctx context.Context) ([]Stream, error) {
	dir.mu.Lock()
	defer dir.mu.Unlock()
	now, gen := dir.cfg.Now(), dir.gen.Load()
	if !dir.cacheAt.IsZero() && dir.cacheOf == gen && now.Sub(dir.cacheAt) < dir.cfg.CacheFor && !now.Before(dir.cacheAt) {
		return dir.cached, nil
	}
	rows, err := dir.db.SQL().QueryContext(ctx, `SELECT id, user_id, playback_url, started_at FROM live_streams
		WHERE ended_at = 0 AND heartbeat_at >= $1 ORDER BY started_at DESC, id`, db.Millis(now.Add(-dir.cfg.Fresh)))
	if err != nil {
		return nil, fmt.Errorf("live: live streams: %w", err)
	}
	defer rows.Close()
	out := []Stream{}
	for rows.Next() {
		var st Stream
		var started int64
		if err := rows.Scan(&st.ID, &st.UserID, &st.PlaybackURL, &started); err != nil {
			return nil, fmt.Errorf("live: live streams: %w", err)
		}
		st.StartedAt = db.Time(started)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("live: live streams: %w", err)
	}
	dir.cached, dir.cacheAt, dir.cacheOf = out, now, gen
	return out, nil
}

// started records stream st, live from now on, recorded to the file recording ("" for none).
// It refuses with errAlreadyLive a creator who has a stream live on any node (not ended, its
// heartbeat fresh): the one-session-per-creator rule across the cluster. Two nodes starting
// the same creator's streams in the same instant may both pass, on PostgreSQL's default
// isolation; each node's own rule (Server.reserve) holds regardless.
func (dir *Directory) started(ctx context.Context, st Stream, recording string) error {
	defer dir.gen.Add(1)
	now := dir.cfg.Now()
	res, err := dir.db.Exec(ctx, `INSERT INTO live_streams (id, user_id, playback_url, started_at, heartbeat_at, recording)
		SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS TEXT), CAST($4 AS BIGINT), CAST($5 AS BIGINT), CAST($6 AS TEXT)
		WHERE NOT EXISTS (SELECT 1 FROM live_streams WHERE user_id = CAST($2 AS BIGINT) AND ended_at = 0 AND heartbeat_at >= CAST($7 AS BIGINT))`,
		st.ID, st.UserID, st.PlaybackURL, db.Millis(st.StartedAt), db.Millis(now), recording, db.Millis(now.Add(-dir.cfg.Fresh)))
	if err != nil {
		return fmt.Errorf("live: record stream %s: %w", st.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("live: record stream %s: %w", st.ID, err)
	} else if n == 0 {
		return errAlreadyLive
	}
	return nil
}

// beat records that streams ids are still live now.
func (dir *Directory) beat(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	defer dir.gen.Add(1)
	args := []any{db.Millis(dir.cfg.Now())}
	ph := ""
	for i, id := range ids {
		if i > 0 {
			ph += ", "
		}
		args = append(args, id)
		ph += fmt.Sprintf("$%d", i+2)
	}
	if _, err := dir.db.Exec(ctx, `UPDATE live_streams SET heartbeat_at = $1 WHERE ended_at = 0 AND id IN (`+ph+`)`, args...); err != nil {
		return fmt.Errorf("live: heartbeat: %w", err)
	}
	return nil
}

// ended records that stream id ended now (if it had not already).
func (dir *Directory) ended(ctx context.Context, id string) error {
	defer dir.gen.Add(1)
	if _, err := dir.db.Exec(ctx, `UPDATE live_streams SET ended_at = $1 WHERE id = $2 AND ended_at = 0`,
		db.Millis(dir.cfg.Now()), id); err != nil {
		return fmt.Errorf("live: end stream %s: %w", id, err)
	}
	return nil
}

// handed records that the recording of stream id was handed over, or dropped: a later run
// of its node has nothing left to do with it.
func (dir *Directory) handed(ctx context.Context, id string) error {
	if _, err := dir.db.Exec(ctx, `UPDATE live_streams SET handed_at = $1 WHERE id = $2 AND handed_at = 0`,
		db.Millis(dir.cfg.Now()), id); err != nil {
		return fmt.Errorf("live: recording of %s handed over: %w", id, err)
	}
	return nil
}

// unhandedRecording is a stream whose recording was not handed over yet.
type unhandedRecording struct {
	Stream
	path string
	// over: the stream ended, or its heartbeat is older than DirectoryConfig.Fresh (its
	// node stopped beating it). A stream not over may be live on another node.
	over bool
}

// unhanded returns the streams started before before whose recordings were not handed over
// yet, on any node, the oldest first.
func (dir *Directory) unhanded(ctx context.Context, before time.Time) ([]unhandedRecording, error) {
	rows, err := dir.db.SQL().QueryContext(ctx, `SELECT id, user_id, playback_url, started_at, recording, ended_at, heartbeat_at FROM live_streams
		WHERE handed_at = 0 AND recording <> '' AND started_at < $1 ORDER BY started_at, id`, db.Millis(before))
	if err != nil {
		return nil, fmt.Errorf("live: recordings not handed over: %w", err)
	}
	defer rows.Close()
	var out []unhandedRecording
	for rows.Next() {
		var u unhandedRecording
		var started, ended, beat int64
		if err := rows.Scan(&u.ID, &u.UserID, &u.PlaybackURL, &started, &u.path, &ended, &beat); err != nil {
			return nil, fmt.Errorf("live: recordings not handed over: %w", err)
		}
		u.StartedAt = db.Time(started)
		u.over = ended != 0 || beat < db.Millis(dir.cfg.Now().Add(-dir.cfg.Fresh))
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("live: recordings not handed over: %w", err)
	}
	return out, nil
}
