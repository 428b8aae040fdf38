package feed

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
)

// A block (PUT /v1/users/{handle}/block) hides the blocked user's videos and comments from the
// blocker, ends the follows between the two both ways, and refuses new ones either way, and
// likes and comments of the blocked user on the blocker's videos. The blocked user's comments
// are hidden from the blocker, and the blocker's from the blocked user.

// blocked reports whether viewer has blocked creator: then viewer sees nothing of creator's
// (their videos, in lists and at GET /v1/videos/{id}, and their comments). A zero viewer (no
// token, the admin token) has blocked nobody.
func (s *Service) blocked(ctx context.Context, viewer, creator int64) (bool, error) {
	if viewer == 0 {
		return false, nil
	}
	return blockedBy(ctx, s.db.SQL(), viewer, creator)
}

// querier is what *sql.DB and *sql.Tx have in common for reads.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// blockedBy reports whether blocker has blocked blocked.
func blockedBy(ctx context.Context, q querier, blocker, blocked int64) (bool, error) {
	var yes bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2)`,
		blocker, blocked).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("feed: block of %d by %d: %w", blocked, blocker, err)
	}
	return yes, nil
}

// blockedEither reports whether a has blocked b or b has blocked a.
func blockedEither(ctx context.Context, q querier, a, b int64) (bool, error) {
	var yes bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2)
		OR (blocker_id = $2 AND blocked_id = $1))`, a, b).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("feed: blocks between %d and %d: %w", a, b, err)
	}
	return yes, nil
}

type blockState struct {
	Blocked bool `json:"blocked"`
}

// putBlock answers PUT /v1/users/{handle}/block, deleteBlock DELETE: 200 {"blocked": bool}.
func (s *Service) putBlock(w http.ResponseWriter, r *http.Request) error {
	return s.setBlock(w, r, true)
}
func (s *Service) deleteBlock(w http.ResponseWriter, r *http.Request) error {
	return s.setBlock(w, r, false)
}

func (s *Service) setBlock(w http.ResponseWriter, r *http.Request, on bool) error {
	p, _ := auth.FromContext(r.Context())
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	target, err := s.pathUser(r)
	if err != nil {
		return err
	}
	if target.ID == p.UserID {
		return apierr.New(http.StatusBadRequest, "cannot_block_self", "you cannot block yourself")
	}
	ctx := r.Context()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := lockPair(ctx, tx, p.UserID, target.ID); err != nil {
			return err
		}
		if !on {
			_, err := tx.ExecContext(ctx, `DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2`, p.UserID, target.ID)
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, p.UserID, target.ID, db.Millis(s.accounts.now()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		for _, f := range [][2]int64{{p.UserID, target.ID}, {target.ID, p.UserID}} {
			if err := unfollow(ctx, tx, f[0], f[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("feed: block %d by %d: %w", target.ID, p.UserID, err)
	}
	return state(w, blockState{Blocked: on})
}
