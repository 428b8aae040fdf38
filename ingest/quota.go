package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/progress"
)

// Quota bounds what one creator may have in flight, so that one account cannot fill the
// staging disk or the database. Each limit is checked when an upload is created, in the
// transaction that creates it; a negative limit is no limit.
type Quota struct {
	// Unfinished bounds a creator's uploads still receiving (not yet expired). Default
	// DefaultQuotaUnfinished (10).
	Unfinished int
	// Bytes bounds the declared lengths of a creator's uploads still receiving, together; an
	// upload whose length is deferred counts as Config.MaxSize until it declares it. It may
	// not be below MaxSize. Default 4 × MaxSize.
	Bytes int64
	// PerDay bounds the uploads a creator creates in any 24 hours. Default
	// DefaultQuotaPerDay (100).
	PerDay int
}

// Defaults of Quota.
const (
	DefaultQuotaUnfinished = 10
	DefaultQuotaPerDay     = 100
	quotaDay               = 24 * time.Hour
)

// withDefaults fills in q's defaults for uploads of at most maxSize bytes.
func (q Quota) withDefaults(maxSize int64) (Quota, error) {
	if q.Unfinished == 0 {
		q.Unfinished = DefaultQuotaUnfinished
	}
	if q.PerDay == 0 {
		q.PerDay = DefaultQuotaPerDay
	}
	switch {
	case q.Bytes == 0:
		q.Bytes = 4 * maxSize
	case q.Bytes > 0 && q.Bytes < maxSize:
		return q, fmt.Errorf("ingest: Config.Quota.Bytes %d is below Config.MaxSize %d: no upload of the largest size could start", q.Bytes, maxSize)
	}
	return q, nil
}

// quotaError refuses an upload over a creator's quota: 429, with Retry-After when waiting
// alone lifts the limit.
type quotaError struct {
	err        *apierr.Error
	retryAfter time.Duration
}

func (e *quotaError) Error() string { return e.err.Error() }
func (e *quotaError) Unwrap() error { return e.err }

// checkQuota refuses, inside tx, a new upload of length bytes (maxSize when deferred) by user
// that would take them over q at now.
func checkQuota(ctx context.Context, tx *sql.Tx, q Quota, user int64, length, maxSize int64, now time.Time) error {
	nowMs, dayAgo := db.Millis(now), db.Millis(now.Add(-quotaDay))
	var unfinished, bytes, today int64
	var oldestToday sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN state = $2 AND expires_at > $3 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN state = $2 AND expires_at > $3 THEN COALESCE(upload_length, $5) ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN created_at > $4 THEN 1 ELSE 0 END), 0),
			MIN(CASE WHEN created_at > $4 THEN created_at END)
		FROM uploads WHERE user_id = $1 AND (state = $2 OR created_at > $4)`,
		user, stateReceiving, nowMs, dayAgo, maxSize).Scan(&unfinished, &bytes, &today, &oldestToday)
	if err != nil {
		return fmt.Errorf("ingest: quota of user %d: %w", user, err)
	}
	switch {
	case q.PerDay >= 0 && today >= int64(q.PerDay):
		wait := db.Time(oldestToday.Int64).Add(quotaDay).Sub(now)
		return &quotaError{err: apierr.Errorf(http.StatusTooManyRequests, "upload_quota_daily",
			"you have created %d uploads in the last 24 hours, the most allowed; the next may start in %s",
			today, wait.Round(time.Minute)), retryAfter: wait}
	case q.Unfinished >= 0 && unfinished >= int64(q.Unfinished):
		return &quotaError{err: apierr.Errorf(http.StatusTooManyRequests, "upload_quota_unfinished",
			"you have %d unfinished uploads, the most allowed: finish or delete (DELETE) one first, or let it expire", unfinished)}
	case q.Bytes >= 0 && bytes+length > q.Bytes:
		return &quotaError{err: apierr.Errorf(http.StatusTooManyRequests, "upload_quota_bytes",
			"your unfinished uploads declare %s and this one %s, over the %s allowed at once: finish or delete (DELETE) one first",
			progress.Size(float64(bytes)), progress.Size(float64(length)), progress.Size(float64(q.Bytes)))}
	}
	return nil
}
