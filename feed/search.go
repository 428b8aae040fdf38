package feed

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
)

// Search bounds.
const (
	MaxSearchQuery  = 100  // runes of q
	maxSearchTerms  = 16   // words of q that are searched for; the rest are ignored
	maxSearchOffset = 1000 // how deep the pages of one query go
)

var errBadQuery = apierr.New(http.StatusBadRequest, "invalid_query", fmt.Sprintf("q must be 1 to %d characters of UTF-8", MaxSearchQuery))

// searchCursor is the position in the results of query Q: the offset of the next page.
// Search results are ranked by relevance, which moves as videos come and go, so the cursor
// is an offset, bounded by maxSearchOffset, rather than a key.
type searchCursor struct {
	Q      string `json:"q"`
	Type   string `json:"t"`
	Offset int    `json:"o"`
}

// searchTerms returns the words of q that search looks for: its runs of letters, digits and
// combining marks, lowercased, at most maxSearchTerms. Everything else (quotes, operators,
// '*', '#', '@', punctuation) separates words, so that no q is a query syntax error in
// either database: the terms are the only part of q that reaches a query, each quoted.
func searchTerms(q string) []string {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
	if len(words) > maxSearchTerms {
		words = words[:maxSearchTerms]
	}
	return words
}

// matchQuery returns the full-text query of terms in the dialect: every term must match,
// the last one as a prefix (search as you type). SQLite gets an FTS5 MATCH expression of
// quoted strings, PostgreSQL a to_tsquery('simple', ...) expression of quoted lexemes.
func matchQuery(dialect string, terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		if dialect == db.DialectPostgres {
			parts[i] = "'" + strings.ReplaceAll(t, "'", "''") + "'"
		} else {
			parts[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
		}
		if i == len(terms)-1 {
			if dialect == db.DialectPostgres {
				parts[i] += ":*"
			} else {
				parts[i] += "*"
			}
		}
	}
	if dialect == db.DialectPostgres {
		return strings.Join(parts, " & ")
	}
	return strings.Join(parts, " ")
}

// search answers GET /v1/search?q=&type=&cursor=&limit=.
//
// type=videos (the default): the ready, public videos that are not hidden whose caption,
// hashtags or creator's handle hold every word of q (the last one as a prefix), the most
// relevant first (bm25 on SQLite, ts_rank on PostgreSQL; a caption or hashtag match weighs
// more than a handle), as feed items. Unlisted and private videos never appear, to anyone;
// nor do the videos of creators the viewer blocked.
//
// type=users: the users whose handle or display name holds every word of q, as creators
// are shown (handle, display name, avatar), leaving out those the viewer blocked.
//
// Either goes maxSearchOffset results deep.
func (s *Service) search(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	q := r.URL.Query().Get("q")
	if n := utf8.RuneCountInString(q); n < 1 || n > MaxSearchQuery || !utf8.ValidString(q) {
		return errBadQuery
	}
	kind := r.URL.Query().Get("type")
	switch kind {
	case "":
		kind = "videos"
	case "videos", "users":
	default:
		return apierr.New(http.StatusBadRequest, "invalid_type", "type must be videos or users")
	}
	cur := searchCursor{Q: q, Type: kind}
	limit, err := pageParams(r, &cur)
	if err != nil {
		return err
	}
	if cur.Q != q || cur.Type != kind || cur.Offset < 0 || cur.Offset >= maxSearchOffset {
		return errBadCursor
	}
	terms := searchTerms(q)
	limit = min(limit, maxSearchOffset-cur.Offset)
	var next string
	page := func(n int) int { // how many of n results to show, and sets next
		if n <= limit {
			return n
		}
		if cur.Offset+limit < maxSearchOffset {
			next = encodeCursor(searchCursor{Q: q, Type: kind, Offset: cur.Offset + limit})
		}
		return limit
	}
	if kind == "users" {
		var users []Creator
		if len(terms) > 0 {
			if users, err = s.searchUsers(r.Context(), p.UserID, terms, cur.Offset, limit+1); err != nil {
				return err
			}
		}
		users = append([]Creator{}, users[:page(len(users))]...)
		apierr.WriteJSON(w, http.StatusOK, List[Creator]{Items: users, NextCursor: next})
		return nil
	}
	var ids []string
	if len(terms) > 0 {
		if ids, err = s.searchVideos(r.Context(), p.UserID, terms, cur.Offset, limit+1); err != nil {
			return err
		}
	}
	items, err := s.items(r.Context(), p, ids[:page(len(ids))])
	if err != nil {
		return err
	}
	apierr.WriteJSON(w, http.StatusOK, List[Item]{Items: items, NextCursor: next})
	return nil
}

// searchUsers returns up to limit users matching terms, ranked, from offset.
func (s *Service) searchUsers(ctx context.Context, viewer int64, terms []string, offset, limit int) ([]Creator, error) {
	const visible = ` AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2 AND b.blocked_id = u.id)`
	query := `SELECT u.handle, u.display_name, u.avatar FROM user_search JOIN users u ON u.id = user_search.rowid
		WHERE user_search MATCH $1` + visible + `
		ORDER BY bm25(user_search, 2.0, 1.0), u.follower_count DESC, u.id LIMIT $3 OFFSET $4`
	if s.db.Dialect() == db.DialectPostgres {
		query = `SELECT u.handle, u.display_name, u.avatar FROM to_tsquery('simple', $1) q, users u
			WHERE to_tsvector('simple', u.handle || ' ' || u.display_name) @@ q` + visible + `
			ORDER BY ts_rank(to_tsvector('simple', u.handle || ' ' || u.display_name), q) DESC, u.follower_count DESC, u.id
			LIMIT $3 OFFSET $4`
	}
	rows, err := s.db.SQL().QueryContext(ctx, query, matchQuery(s.db.Dialect(), terms), viewer, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("feed: search users: %w", err)
	}
	defer rows.Close()
	var out []Creator
	for rows.Next() {
		var c Creator
		var avatar string
		if err := rows.Scan(&c.Handle, &c.DisplayName, &avatar); err != nil {
			return nil, fmt.Errorf("feed: search users: %w", err)
		}
		c.AvatarURL = s.avatarURL(avatar)
		out = append(out, c)
	}
	return out, rows.Err()
}

// searchVideos returns the ids of up to limit videos matching terms, ranked, from offset.
func (s *Service) searchVideos(ctx context.Context, viewer int64, terms []string, offset, limit int) ([]string, error) {
	const visible = ` AND v.status = $2 AND v.visibility = $3 AND v.hidden = 0
		AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $4 AND b.blocked_id = v.user_id)`
	query := `SELECT v.id FROM video_search JOIN search_docs d ON d.doc = video_search.rowid JOIN videos v ON v.id = d.video_id
		WHERE video_search MATCH $1` + visible + `
		ORDER BY bm25(video_search, 4.0, 4.0, 1.0), v.published_at DESC, v.id LIMIT $5 OFFSET $6`
	if s.db.Dialect() == db.DialectPostgres {
		query = `SELECT v.id FROM to_tsquery('simple', $1) q, video_search s JOIN videos v ON v.id = s.video_id
			WHERE s.doc @@ q` + visible + `
			ORDER BY ts_rank(s.doc, q) DESC, v.published_at DESC, v.id LIMIT $5 OFFSET $6`
	}
	rows, err := s.db.SQL().QueryContext(ctx, query, matchQuery(s.db.Dialect(), terms), video.Ready, video.Public,
		viewer, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("feed: search: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("feed: search: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
