package feed

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
)

// Comment is the JSON of a comment.
type Comment struct {
	ID        string    `json:"id"`
	Body      string    `json:"body"`
	Author    Creator   `json:"author"`
	CreatedAt time.Time `json:"created_at"`
}

// commentRequest is the body of POST /v1/videos/{id}/comments.
type commentRequest struct {
	Body string `json:"body"`
}

// commentBody returns body trimmed of surrounding white space if it is a comment's body: 1 to
// maxRunes characters, no control characters but the newline.
func commentBody(body string, maxRunes int) (string, error) {
	body = strings.TrimSpace(body)
	n := utf8.RuneCountInString(body)
	if n == 0 || n > maxRunes {
		return "", apierr.Errorf(http.StatusBadRequest, "invalid_body", "a comment is 1 to %d characters", maxRunes)
	}
	if strings.IndexFunc(body, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }) >= 0 {
		return "", apierr.New(http.StatusBadRequest, "invalid_body", "a comment holds no control characters but newlines")
	}
	return body, nil
}

// createComment answers POST /v1/videos/{id}/comments: 201 and the comment. The video is one
// the viewer may see (else 404) and its creator has not blocked the viewer (else 403 blocked);
// videos.comment_count changes in the comment's transaction.
func (s *Service) createComment(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	var req commentRequest
	if err := apierr.DecodeJSON(r, &req, 0); err != nil {
		return err
	}
	body, err := commentBody(req.Body, s.cfg.CommentMaxRunes)
	if err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("id")
	owner, err := s.visibleVideo(ctx, p, id)
	if err != nil {
		return err
	}
	if err := s.notBlockedBy(ctx, owner, p.UserID); err != nil {
		return err
	}
	now := db.Millis(s.accounts.now())
	var cid int64
	var avatar string
	out := Comment{Body: body, CreatedAt: db.Time(now)}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO comments (video_id, user_id, body, created_at) VALUES ($1, $2, $3, $4)
			RETURNING id`, id, p.UserID, body, now).Scan(&cid)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE videos SET comment_count = comment_count + 1 WHERE id = $1`, id); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT handle, display_name, avatar FROM users WHERE id = $1`, p.UserID).Scan(
			&out.Author.Handle, &out.Author.DisplayName, &avatar)
	})
	if err != nil {
		return fmt.Errorf("feed: comment on %s: %w", id, err)
	}
	out.ID = strconv.FormatInt(cid, 10)
	out.Author.AvatarURL = s.avatarURL(avatar)
	apierr.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// commentCursor is the position in a video's comments: the last comment's id. Comments run
// newest first.
type commentCursor struct {
	Before int64 `json:"b"`
}

// comments answers GET /v1/videos/{id}/comments: newest first, cursor-paginated, on a video
// the viewer may see. It leaves out the comments of users whom the viewer blocked and of users
// who blocked the viewer.
func (s *Service) comments(w http.ResponseWriter, r *http.Request) error {
	var c commentCursor
	limit, err := pageParams(r, &c)
	if err != nil {
		return err
	}
	if c.Before < 0 {
		return errBadCursor
	}
	if c.Before == 0 {
		c.Before = math.MaxInt64
	}
	p, _ := auth.FromContext(r.Context())
	ctx, id := r.Context(), r.PathValue("id")
	if _, err := s.visibleVideo(ctx, p, id); err != nil {
		return err
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT c.id, c.body, c.created_at, u.handle, u.display_name, u.avatar
		FROM comments c JOIN users u ON u.id = c.user_id
		WHERE c.video_id = $1 AND c.id < $2 AND NOT EXISTS (SELECT 1 FROM blocks b
			WHERE (b.blocker_id = $3 AND b.blocked_id = c.user_id) OR (b.blocker_id = c.user_id AND b.blocked_id = $3))
		ORDER BY c.id DESC LIMIT $4`, id, c.Before, p.UserID, limit+1)
	if err != nil {
		return fmt.Errorf("feed: comments of %s: %w", id, err)
	}
	defer rows.Close()
	out := List[Comment]{Items: []Comment{}}
	for rows.Next() {
		var cm Comment
		var cid, created int64
		var avatar string
		if err := rows.Scan(&cid, &cm.Body, &created, &cm.Author.Handle, &cm.Author.DisplayName, &avatar); err != nil {
			return fmt.Errorf("feed: comments of %s: %w", id, err)
		}
		if len(out.Items) == limit {
			out.NextCursor = encodeCursor(c)
			break
		}
		c.Before = cid
		cm.ID = strconv.FormatInt(cid, 10)
		cm.CreatedAt = db.Time(created)
		cm.Author.AvatarURL = s.avatarURL(avatar)
		out.Items = append(out.Items, cm)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("feed: comments of %s: %w", id, err)
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}

var errNoComment = apierr.New(http.StatusNotFound, "not_found", "no such comment")

// deleteComment answers DELETE /v1/comments/{id}: 204. The comment's author, the video's
// owner and admins may delete it; others get 403.
func (s *Service) deleteComment(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	cid, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || cid <= 0 {
		return errNoComment
	}
	ctx := r.Context()
	var author, owner int64
	var video string
	err = s.db.SQL().QueryRowContext(ctx, `SELECT c.user_id, c.video_id, v.user_id FROM comments c
		JOIN videos v ON v.id = c.video_id WHERE c.id = $1`, cid).Scan(&author, &video, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoComment
	}
	if err != nil {
		return fmt.Errorf("feed: comment %d: %w", cid, err)
	}
	if !p.Admin && p.UserID != author && p.UserID != owner {
		return apierr.New(http.StatusForbidden, "forbidden", "only the comment's author, the video's owner or an admin may delete it")
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM comments WHERE id = $1`, cid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE videos SET comment_count = comment_count - 1 WHERE id = $1`, video)
		return err
	})
	if err != nil {
		return fmt.Errorf("feed: delete comment %d: %w", cid, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
