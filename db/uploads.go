package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Upload states. An upload is receiving until its offset reaches its length; it is then
// finished until ingest has handed it over (complete) or refused it (rejected). A receiving
// upload that sees no progress before ExpiresAt becomes expired; one its owner deletes becomes
// terminated. Rejected, expired and terminated uploads are tombstones: their bytes are gone.
const (
	UploadReceiving  = "receiving"
	UploadFinished   = "finished"
	UploadComplete   = "complete"
	UploadRejected   = "rejected"
	UploadExpired    = "expired"
	UploadTerminated = "terminated"
)

// ErrConflict is returned by a conditional update whose condition no longer holds: another
// request changed the row first.
var ErrConflict = errors.New("db: changed concurrently")

// Upload is the stored state of one resumable upload.
type Upload struct {
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
}

const uploadCols = `id, user_id, upload_length, upload_offset, metadata, state, reason_code, reason,
	created_at, updated_at, expires_at`

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface{ Scan(dest ...any) error }

func scanUpload(row rowScanner) (Upload, error) {
	var u Upload
	var length sql.NullInt64
	var created, updated, expires int64
	err := row.Scan(&u.ID, &u.UserID, &length, &u.Offset, &u.Metadata, &u.State, &u.ReasonCode, &u.Reason,
		&created, &updated, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, ErrNotFound
	}
	if err != nil {
		return Upload{}, err
	}
	u.Length, u.LengthDeferred = length.Int64, !length.Valid
	u.CreatedAt, u.UpdatedAt, u.ExpiresAt = fromMS(created), fromMS(updated), fromMS(expires)
	return u, nil
}

// CreateUpload stores a new upload from u's ID, UserID, Length or LengthDeferred, Metadata and
// ExpiresAt, at offset 0. Its state is receiving, or finished at once when its length is 0.
// It returns ErrDuplicate when the id is taken.
func (d *DB) CreateUpload(ctx context.Context, u Upload) (Upload, error) {
	if u.ID == "" || u.Length < 0 {
		return Upload{}, fmt.Errorf("db: create upload %q: invalid id or length %d", u.ID, u.Length)
	}
	var length any = u.Length
	state := UploadReceiving
	if u.LengthDeferred {
		length = nil
	} else if u.Length == 0 {
		state = UploadFinished
	}
	var created Upload
	err := d.inTx(ctx, func(tx *sql.Tx) (err error) {
		now := ms(d.now())
		created, err = scanUpload(tx.QueryRowContext(ctx, `INSERT INTO uploads
			(id, user_id, upload_length, metadata, state, created_at, updated_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING `+uploadCols,
			u.ID, u.UserID, length, u.Metadata, state, now, ms(u.ExpiresAt)))
		return err
	})
	if isUnique(err) {
		return Upload{}, fmt.Errorf("db: create upload %s: %w", u.ID, ErrDuplicate)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("db: create upload %s: %w", u.ID, err)
	}
	return created, nil
}

// UploadByID returns the upload with this id, or ErrNotFound.
func (d *DB) UploadByID(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(d.sql.QueryRowContext(ctx, `SELECT `+uploadCols+` FROM uploads WHERE id = $1`, id))
	if err != nil {
		return Upload{}, fmt.Errorf("db: upload %s: %w", id, err)
	}
	return u, nil
}

// DeclareUploadLength sets the length of a receiving upload whose length was deferred. The
// upload becomes finished when length equals its offset. It returns ErrConflict when the
// upload is not receiving, its length is already known, or length is below its offset, and
// ErrNotFound when there is no such upload.
func (d *DB) DeclareUploadLength(ctx context.Context, id string, length int64) (Upload, error) {
	return d.updateUpload(ctx, "declare length of", id, `UPDATE uploads SET upload_length = $2,
		state = CASE WHEN upload_offset = $2 THEN 'finished' ELSE state END, updated_at = $3
		WHERE id = $1 AND state = 'receiving' AND upload_length IS NULL AND upload_offset <= $2
		RETURNING `+uploadCols, id, length, ms(d.now()))
}

// AdvanceUpload records that a receiving upload now holds to bytes instead of from, and that
// it expires at expires unless it progresses again. The upload becomes finished when to
// equals its length. It returns ErrConflict when the upload is not receiving, its offset is
// not from, or to is past its length, and ErrNotFound when there is no such upload.
func (d *DB) AdvanceUpload(ctx context.Context, id string, from, to int64, expires time.Time) (Upload, error) {
	if to < from {
		return Upload{}, fmt.Errorf("db: advance upload %s: offset %d is behind %d", id, to, from)
	}
	return d.updateUpload(ctx, "advance", id, `UPDATE uploads SET upload_offset = $3,
		state = CASE WHEN upload_length = $3 THEN 'finished' ELSE state END, updated_at = $4, expires_at = $5
		WHERE id = $1 AND state = 'receiving' AND upload_offset = $2 AND (upload_length IS NULL OR upload_length >= $3)
		RETURNING `+uploadCols, id, from, to, ms(d.now()), ms(expires))
}

// SetUploadState moves an upload from state from to state to, recording reasonCode and reason
// (empty unless it is rejected). It returns ErrConflict when the upload is not in state from
// and ErrNotFound when there is no such upload.
func (d *DB) SetUploadState(ctx context.Context, id, from, to, reasonCode, reason string) (Upload, error) {
	return d.updateUpload(ctx, "set state of", id, `UPDATE uploads SET state = $3, reason_code = $4, reason = $5,
		updated_at = $6 WHERE id = $1 AND state = $2 RETURNING `+uploadCols, id, from, to, reasonCode, reason, ms(d.now()))
}

// updateUpload runs a conditional UPDATE ... RETURNING on upload id. When no row matches it
// tells ErrNotFound from ErrConflict.
func (d *DB) updateUpload(ctx context.Context, what, id, query string, args ...any) (Upload, error) {
	var u Upload
	err := d.inTx(ctx, func(tx *sql.Tx) (err error) {
		u, err = scanUpload(tx.QueryRowContext(ctx, query, args...))
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM uploads WHERE id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		return ErrNotFound
	})
	if err != nil {
		return Upload{}, fmt.Errorf("db: %s upload %s: %w", what, id, err)
	}
	return u, nil
}

// ExpiredUploads returns up to limit receiving uploads whose ExpiresAt is not after t, the
// longest expired first.
func (d *DB) ExpiredUploads(ctx context.Context, t time.Time, limit int) ([]Upload, error) {
	return d.listUploads(ctx, `SELECT `+uploadCols+` FROM uploads WHERE state = 'receiving' AND expires_at <= $1
		ORDER BY expires_at, id LIMIT $2`, ms(t), limit)
}

// UploadsInState returns up to limit uploads in state, the least recently updated first.
func (d *DB) UploadsInState(ctx context.Context, state string, limit int) ([]Upload, error) {
	return d.listUploads(ctx, `SELECT `+uploadCols+` FROM uploads WHERE state = $1
		ORDER BY updated_at, id LIMIT $2`, state, limit)
}

func (d *DB) listUploads(ctx context.Context, query string, args ...any) ([]Upload, error) {
	rows, err := d.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list uploads: %w", err)
	}
	defer rows.Close()
	var list []Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("db: list uploads: %w", err)
		}
		list = append(list, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list uploads: %w", err)
	}
	return list, nil
}

// PurgeUploads deletes the complete uploads and the tombstones (rejected, expired, terminated)
// last updated before t, and returns their ids.
func (d *DB) PurgeUploads(ctx context.Context, before time.Time) ([]string, error) {
	var ids []string
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM uploads
			WHERE state IN ('complete', 'rejected', 'expired', 'terminated') AND updated_at < $1 RETURNING id`, ms(before))
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
		return nil, fmt.Errorf("db: purge uploads: %w", err)
	}
	return ids, nil
}
