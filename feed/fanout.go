package feed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// The fan-out's queue settings.
const (
	// fanoutLease is how long a claim of a fan-out job lasts; each batch renews it.
	fanoutLease = time.Minute
	// fanoutPoll is how often an idle fan-out worker looks for jobs that no wake-up announces
	// (retries, expired leases, jobs queued while PostgreSQL's listener was down).
	fanoutPoll = 5 * time.Second
)

// runFanout claims and runs fan-out jobs (video.FanoutJob) until ctx is done.
func (s *Service) runFanout(ctx context.Context, worker string) {
	for {
		queued := s.db.Enqueued(video.FanoutJob) // before Claim: a job queued in between wakes the wait below
		job, err := s.db.Claim(ctx, video.FanoutJob, worker, fanoutLease)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, db.ErrNoJob):
		case err != nil:
			s.log.Warn("claiming a fan-out job", "err", err)
		default:
			s.runFanoutJob(ctx, job)
			continue
		}
		t := time.NewTimer(fanoutPoll)
		select {
		case <-ctx.Done():
		case <-queued:
		case <-t.C:
		}
		t.Stop()
	}
}

// runFanoutJob runs one fan-out job and records its outcome. Running it again is harmless:
// the timeline rows it writes are keyed by follower and video.
func (s *Service) runFanoutJob(ctx context.Context, job db.Job) {
	id := string(job.Payload)
	log := s.log.With("job", job.ID, "video", id)
	if job.Orphaned { // every attempt died midway: what they pushed stays, nothing to undo
		if err := s.db.Fail(ctx, job, "lease expired on the last attempt"); err != nil && ctx.Err() == nil {
			log.Warn("failing an orphaned fan-out job", "err", err)
		}
		return
	}
	start := time.Now()
	n, err := s.fanout(ctx, job, id)
	if err == nil {
		if n > 0 {
			log.Debug("pushed a video to its followers' timelines", "followers", n, "took", time.Since(start))
		}
		err = s.db.Complete(ctx, job)
	} else if ctx.Err() == nil && !errors.Is(err, db.ErrLeaseLost) {
		log.Warn("fan-out failed", "err", err)
		err = s.db.Fail(ctx, job, err.Error())
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("recording a fan-out job's outcome", "err", err)
	}
}

// fanout pushes video id into the timelines of its creator's followers, in batches of
// Config.FanoutBatch, and returns how many it pushed it to. It pushes only a ready public
// video that is not hidden, and nothing for a creator with more than Config.CelebrityThreshold
// followers at this moment: it marks them pulled (users.feed_pulled) instead, and their followers'
// Following feeds pull the creator's videos at read time.
func (s *Service) fanout(ctx context.Context, job db.Job, id string) (int, error) {
	if !videoid.Valid(id) {
		return 0, nil // not a payload the pipeline writes: nothing to push
	}
	var creator, followers int64
	var status video.Status
	var vis video.Visibility
	var hidden int
	var published sql.NullInt64
	err := s.db.SQL().QueryRowContext(ctx, `SELECT v.user_id, v.status, v.visibility, v.hidden, v.published_at,
		u.follower_count FROM videos v JOIN users u ON u.id = v.user_id WHERE v.id = $1`, id).Scan(
		&creator, &status, &vis, &hidden, &published, &followers)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // deleted since
	}
	if err != nil {
		return 0, fmt.Errorf("feed: fan-out of %s: %w", id, err)
	}
	if status != video.Ready || vis != video.Public || hidden != 0 || !published.Valid {
		return 0, nil
	}
	if followers > int64(s.cfg.CelebrityThreshold) {
		// The followers' feeds pull the creator's videos, from now on whatever their count.
		if _, err := s.db.Exec(ctx, `UPDATE users SET feed_pulled = 1 WHERE id = $1 AND feed_pulled = 0`, creator); err != nil {
			return 0, fmt.Errorf("feed: fan-out of %s: %w", id, err)
		}
		return 0, nil
	}
	total := 0
	var after int64 // the last follower id pushed to
	for {
		var last sql.NullInt64
		var n int
		err := s.db.SQL().QueryRowContext(ctx, `SELECT MAX(follower_id), COUNT(*) FROM (SELECT follower_id FROM follows
			WHERE followee_id = $1 AND follower_id > $2 ORDER BY follower_id LIMIT $3) b`,
			creator, after, s.cfg.FanoutBatch).Scan(&last, &n)
		if err != nil {
			return total, fmt.Errorf("feed: fan-out of %s: %w", id, err)
		}
		if n == 0 {
			return total, nil
		}
		if _, err := s.db.Exec(ctx, `INSERT INTO timelines (user_id, video_id, creator_id, published_at)
			SELECT follower_id, $1, $2, $3 FROM follows WHERE followee_id = $2 AND follower_id > $4 AND follower_id <= $5
			ON CONFLICT (user_id, video_id) DO NOTHING`, id, creator, published.Int64, after, last.Int64); err != nil {
			return total, fmt.Errorf("feed: fan-out of %s: %w", id, err)
		}
		total += n
		after = last.Int64
		if n < s.cfg.FanoutBatch {
			return total, nil
		}
		if err := s.db.Heartbeat(ctx, job, fanoutLease); err != nil {
			return total, err
		}
	}
}
