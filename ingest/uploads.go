package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
)

// Upload states. An upload is receiving until its offset reaches its length; it is then
// finished until ingest has handed it over (complete) or refused it (rejected). A receiving
// upload that sees no progress before ExpiresAt becomes expired; one its owner deletes becomes
// terminated. Rejected, expired and terminated uploads are tombstones: their bytes are gone.
const (
	stateReceiving  = "receiving"
	stateFinished   = "finished"
	stateComplete   = "complete"
	stateRejected   = "rejected"
	stateExpired    = "expired"
	stateTerminated = "terminated"
)

// Uploads is the ingest tier's store of upload states (the uploads table): what the tus
// handler records of each upload, and what the status API reads of one that is not a video
// yet (UploadProgress).
type Uploads struct {
	d   *db.DB
	now func() time.Time
}

// NewUploads returns the upload states stored in d.
func NewUploads(d *db.DB) *Uploads { return &Uploads{d: d, now: time.Now} }

// upload is the stored state of one resumable upload.
type upload struct {
	ID             string
	UserID         int64 // the owner
	Length         int64 // total bytes; 0 while LengthDeferred
	LengthDeferred bool  // the client will declare Length later
	Offset         int64 // bytes received and stored
	Metadata       string
	State          string // one of the Upload* states
	ReasonCode     string // for a rejected upload: machine-readable reason
	Reason         string // for a rejected upload: the reason for people
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ExpiresAt      time.Time // a receiving upload expires after this
	Node           string    // the API node staging the bytes (Config.NodeURL); "" on a single node
}

const uploadCols = `id, user_id, upload_length, upload_offset, metadata, state, reason_code, reason,
	created_at, updated_at, expires_at, node`

func scanUpload(row db.RowScanner) (upload, error) {
	var u upload
	var length sql.NullInt64
	var created, updated, expires int64
	err := row.Scan(&u.ID, &u.UserID, &length, &u.Offset, &u.Metadata, &u.State, &u.ReasonCode, &u.Reason,
		&created, &updated, &expires, &u.Node)
	if errors.Is(err, sql.ErrNoRows) {
		return upload{}, db.ErrNotFound
	}
	if err != nil {
		return upload{}, err
	}
	u.Length, u.LengthDeferred = length.Int64, !length.Valid
	u.CreatedAt, u.UpdatedAt, u.ExpiresAt = db.Time(created), db.Time(updated), db.Time(expires)
	return u, nil
}

// create stores a new upload from u's ID, UserID, Length or LengthDeferred, Metadata,
// ExpiresAt and Node, at offset 0. Its state is receiving, or finished at once when its length is 0.
// It returns ErrDuplicate when the id is taken, and quota's error when quota, called first in
// the same transaction with the user's creations serialized, refuses the upload.
func (s *Uploads) create(ctx context.Context, u upload, quota func(tx *sql.Tx, now time.Time) error) (upload, error) {
	if u.ID == "" || u.Length < 0 {
		return upload{}, fmt.Errorf("ingest: create upload %q: invalid id or length %d", u.ID, u.Length)
	}
	var length any = u.Length
	state := stateReceiving
	if u.LengthDeferred {
		length = nil
	} else if u.Length == 0 {
		state = stateFinished
	}
	var created upload
	err := s.d.Tx(ctx, func(tx *sql.Tx) (err error) {
		t := s.now()
		if quota != nil {
			// SQLite runs one write transaction at a time; PostgreSQL needs the user's row
			// locked, or two creations could both pass the quota.
			if s.d.Dialect() == db.DialectPostgres {
				if _, err := tx.ExecContext(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, u.UserID); err != nil {
					return err
				}
			}
			if err := quota(tx, t); err != nil {
				return err
			}
		}
		now := db.Millis(t)
		created, err = scanUpload(tx.QueryRowContext(ctx, `INSERT INTO uploads
			(id, user_id, upload_length, metadata, state, created_at, updated_at, expires_at, node)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) RETURNING `+uploadCols,
			u.ID, u.UserID, length, u.Metadata, state, now, db.Millis(u.ExpiresAt), u.Node))
		return err
	})
	if db.IsUnique(err) {
		return upload{}, fmt.Errorf("ingest: create upload %s: %w", u.ID, db.ErrDuplicate)
	}
	if err != nil {
		return upload{}, fmt.Errorf("ingest: create upload %s: %w", u.ID, err)
	}
	return created, nil
}

// get returns the upload with this id, or ErrNotFound.
func (s *Uploads) get(ctx context.Context, id string) (upload, error) {
	u, err := scanUpload(s.d.SQL().QueryRowContext(ctx, `SELECT `+uploadCols+` FROM uploads WHERE id = $1`, id))
	if err != nil {
		return upload{}, fmt.Errorf("ingest: upload %s: %w", id, err)
	}
	return u, nil
}

// declareLength sets the length of a receiving upload whose length was deferred. The
// upload becomes finished when length equals its offset. It returns ErrConflict when the
// upload is not receiving, its length is already known, or length is below its offset, and
// ErrNotFound when there is no such upload.
func (s *Uploads) declareLength(ctx context.Context, id string, length int64) (upload, error) {
	return s.update(ctx, "declare length of", id, `UPDATE uploads SET upload_length = $2,
		state = CASE WHEN upload_offset = $2 THEN 'finished' ELSE state END, updated_at = $3
		WHERE id = $1 AND state = 'receiving' AND upload_length IS NULL AND upload_offset <= $2
		RETURNING `+uploadCols, id, length, db.Millis(s.now()))
}

// advance records that a receiving upload now holds to bytes instead of from, and that
// it expires at expires unless it progresses again. The upload becomes finished when to
// equals its length. It returns ErrConflict when the upload is not receiving, its offset is
// not from, or to is past its length, and ErrNotFound when there is no such upload.
func (s *Uploads) advance(ctx context.Context, id string, from, to int64, expires time.Time) (upload, error) {
	if to < from {
		return upload{}, fmt.Errorf("ingest: advance upload %s: offset %d is behind %d", id, to, from)
	}
	return s.update(ctx, "advance", id, `UPDATE uploads SET upload_offset = $3,
		state = CASE WHEN upload_length = $3 THEN 'finished' ELSE state END, updated_at = $4, expires_at = $5
		WHERE id = $1 AND state = 'receiving' AND upload_offset = $2 AND (upload_length IS NULL OR upload_length >= $3)
		RETURNING `+uploadCols, id, from, to, db.Millis(s.now()), db.Millis(expires))
}

// setState moves an upload from state from to state to, recording reasonCode and reason
// (empty unless it is rejected). It returns ErrConflict when the upload is not in state from
// and ErrNotFound when there is no such upload.
func (s *Uploads) setState(ctx context.Context, id, from, to, reasonCode, reason string) (upload, error) {
	return s.update(ctx, "set state of", id, `UPDATE uploads SET state = $3, reason_code = $4, reason = $5,
		updated_at = $6 WHERE id = $1 AND state = $2 RETURNING `+uploadCols, id, from, to, reasonCode, reason, db.Millis(s.now()))
}

// updateUpload runs a conditional UPDATE ... RETURNING on upload id. When no row matches it
// tells ErrNotFound from ErrConflict.
func (s *Uploads) update(ctx context.Context, what, id, query string, args ...any) (upload, error) {
	var u upload
	err := s.d.Tx(ctx, func(tx *sql.Tx) (err error) {
		u, err = scanUpload(tx.QueryRowContext(ctx, query, args...))
		if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM uploads WHERE id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return db.ErrConflict
		}
		return db.ErrNotFound
	})
	if err != nil {
		return upload{}, fmt.Errorf("ingest: %s upload %s: %w", what, id, err)
	}
	return u, nil
}

// expired returns up to limit receiving uploads whose ExpiresAt is not after t, the
// longest expired first.
func (s *Uploads) expired(ctx context.Context, t time.Time, limit int) ([]upload, error) {
	return s.list(ctx, `SELECT `+uploadCols+` FROM uploads WHERE state = 'receiving' AND expires_at <= $1
		ORDER BY expires_at, id LIMIT $2`, db.Millis(t), limit)
}

// inState returns up to limit uploads in state staged on node, the least recently updated
// first.
func (s *Uploads) inState(ctx context.Context, state, node string, limit int) ([]upload, error) {
	return s.list(ctx, `SELECT `+uploadCols+` FROM uploads WHERE state = $1 AND node = $2
		ORDER BY updated_at, id LIMIT $3`, state, node, limit)
}

func (s *Uploads) list(ctx context.Context, query string, args ...any) ([]upload, error) {
	rows, err := s.d.SQL().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("ingest: list uploads: %w", err)
	}
	defer rows.Close()
	var list []upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("ingest: list uploads: %w", err)
		}
		list = append(list, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ingest: list uploads: %w", err)
	}
	return list, nil
}

// purge deletes the complete uploads and the tombstones (rejected, expired, terminated)
// last updated before t, and returns their ids.
func (s *Uploads) purge(ctx context.Context, before time.Time) ([]string, error) {
	var ids []string
	err := s.d.Tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM uploads
			WHERE state IN ('complete', 'rejected', 'expired', 'terminated') AND updated_at < $1 RETURNING id`, db.Millis(before))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: purge uploads: %w", err)
	}
	return ids, nil
}

// Forget deletes the record of upload id once its video is deleted (feed's DELETE
// /v1/videos/{id}), so that the status API no longer tells of it and Run does not accept it
// again. Only an upload that became a video (finished or complete) is forgotten; forgetting
// one that is not there is not an error. A finished upload's staged bytes, if any are left
// (its hand-over had not succeeded yet), stay in the staging directory.
func (s *Uploads) Forget(ctx context.Context, id string) error {
	_, err := s.d.Exec(ctx, `DELETE FROM uploads WHERE id = $1 AND state IN ($2, $3)`, id, stateFinished, stateComplete)
	if err != nil {
		return fmt.Errorf("ingest: forget upload %s: %w", id, err)
	}
	return nil
}

// UploadProgress tells the status API where upload id stands while it is not a video: how much
// has arrived, whether it is being handed over, why it was refused, or that it is gone. It
// returns db.ErrNotFound when there is no such upload.
func (s *Uploads) UploadProgress(ctx context.Context, id string) (video.Upload, error) {
	u, err := s.get(ctx, id)
	if err != nil {
		return video.Upload{}, err
	}
	p := video.Upload{Owner: u.UserID, Status: video.Uploading, CreatedAt: u.CreatedAt}
	if u.Length > 0 {
		p.Progress = int(u.Offset * 100 / u.Length)
	}
	switch u.State {
	case stateRejected:
		p.Status, p.ErrorCode, p.Error = video.Failed, u.ReasonCode, u.Reason
	case stateExpired, stateTerminated:
		p.Gone = u.State
	case stateFinished, stateComplete:
		// Accepted (or being accepted) but without a video yet: about to process.
		p.Status, p.Progress = video.Processing, 0
	}
	return p, nil
}
