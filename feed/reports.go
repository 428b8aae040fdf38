package feed

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
)

// Reports: a user reports a video once (POST /v1/videos/{id}/reports); videos.report_count
// counts the distinct users whose reports are open, and at Config.ReportThreshold of them the
// video is hidden (videos.hidden = 1) from everyone but its creator and admins. An admin
// resolves all the open reports of a video at once (POST /v1/admin/reports/{id}/resolve):
// "keep" shows it again (hidden = 0), "remove" hides it for good (hidden = 2). A user's
// report stays theirs after it is resolved: reporting the video again answers it, and does
// not count again.

// ReportReasons are the reasons a report may give.
var ReportReasons = []string{"spam", "nudity", "violence", "harassment", "hate", "misinformation", "other"}

// maxReportNote bounds a report's note, in characters.
const maxReportNote = 500

// reportRequest is the body of POST /v1/videos/{id}/reports.
type reportRequest struct {
	Reason string `json:"reason"`
	Note   string `json:"note"`
}

// check validates a report: a reason of ReportReasons, and a note (trimmed) of at most
// maxReportNote characters without control characters but newlines.
func (q *reportRequest) check() error {
	if !slices.Contains(ReportReasons, q.Reason) {
		return apierr.New(http.StatusBadRequest, "invalid_reason", "reason must be one of "+strings.Join(ReportReasons, ", "))
	}
	q.Note = strings.TrimSpace(q.Note)
	if utf8.RuneCountInString(q.Note) > maxReportNote ||
		strings.IndexFunc(q.Note, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }) >= 0 {
		return apierr.Errorf(http.StatusBadRequest, "invalid_note", "a note is at most %d characters, without control characters but newlines", maxReportNote)
	}
	return nil
}

// Report is the JSON of a report.
type Report struct {
	ID        string    `json:"id"`
	VideoID   string    `json:"video_id"`
	Reporter  string    `json:"reporter"` // the reporter's handle
	Reason    string    `json:"reason"`
	Note      string    `json:"note"`
	Status    string    `json:"status"` // open, or how it was resolved: keep or remove
	CreatedAt time.Time `json:"created_at"`
}

// scanReport reads the columns of reportCols.
func scanReport(row db.RowScanner) (Report, error) {
	var rp Report
	var id, created int64
	if err := row.Scan(&id, &rp.VideoID, &rp.Reporter, &rp.Reason, &rp.Note, &rp.Status, &created); err != nil {
		return Report{}, err
	}
	rp.ID, rp.CreatedAt = strconv.FormatInt(id, 10), db.Time(created)
	if rp.Status == "" {
		rp.Status = "open"
	}
	return rp, nil
}

const reportCols = `r.id, r.video_id, u.handle, r.reason, r.note, r.resolution, r.created_at`

// createReport answers POST /v1/videos/{id}/reports: 201 and the report, or 200 and the
// user's earlier report of the video, which is not counted again.
func (s *Service) createReport(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	var req reportRequest
	if err := apierr.DecodeJSON(r, &req, 0); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("id")
	if _, err := s.visibleVideo(ctx, p, id); err != nil {
		return err
	}
	status := http.StatusOK
	var out Report
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var rid int64
		err := tx.QueryRowContext(ctx, `INSERT INTO reports (video_id, user_id, reason, note, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (video_id, user_id) DO NOTHING RETURNING id`,
			id, p.UserID, req.Reason, req.Note, db.Millis(s.accounts.now())).Scan(&rid)
		switch {
		case errors.Is(err, sql.ErrNoRows): // reported before
		case err != nil:
			return err
		default:
			status = http.StatusCreated
			if _, err := tx.ExecContext(ctx, `UPDATE videos SET report_count = report_count + 1,
				hidden = CASE WHEN hidden = $2 AND report_count + 1 >= $3 THEN $4 ELSE hidden END WHERE id = $1`,
				id, shown, s.cfg.ReportThreshold, hiddenByReports); err != nil {
				return err
			}
		}
		out, err = scanReport(tx.QueryRowContext(ctx, `SELECT `+reportCols+` FROM reports r JOIN users u ON u.id = r.user_id
			WHERE r.video_id = $1 AND r.user_id = $2`, id, p.UserID))
		return err
	})
	if err != nil {
		return fmt.Errorf("feed: report of %s by %d: %w", id, p.UserID, err)
	}
	apierr.WriteJSON(w, status, out)
	return nil
}

// ReportedVideo is an item of GET /v1/admin/reports: a video with open reports, and them.
type ReportedVideo struct {
	Video struct {
		ID          string `json:"id"`
		Creator     string `json:"creator"` // the creator's handle
		Caption     string `json:"caption"`
		Visibility  string `json:"visibility"`
		State       string `json:"state"`        // shown, hidden (by reports) or removed
		ReportCount int64  `json:"report_count"` // distinct users with open reports
	} `json:"video"`
	Reasons   map[string]int `json:"reasons"` // open reports by reason
	ReportIDs []string       `json:"report_ids"`
	Reports   []Report       `json:"reports"` // oldest first
}

// moderationStates names the values of videos.hidden.
var moderationStates = map[int]string{shown: "shown", hiddenByReports: "hidden", removed: "removed"}

// reportsCursor is the position in the moderation queue: the oldest open report's id of the
// last video listed.
type reportsCursor struct {
	After int64 `json:"a"`
}

// adminReports answers GET /v1/admin/reports: the videos with open reports, one item per
// video, the video whose oldest open report is the oldest first; cursor-paginated.
func (s *Service) adminReports(w http.ResponseWriter, r *http.Request) error {
	var c reportsCursor
	limit, err := pageParams(r, &c)
	if err != nil {
		return err
	}
	if c.After < 0 {
		return errBadCursor
	}
	ctx := r.Context()
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT video_id, MIN(id) FROM reports WHERE resolved_at IS NULL
		GROUP BY video_id HAVING MIN(id) > $1 ORDER BY MIN(id) LIMIT $2`, c.After, limit+1)
	if err != nil {
		return fmt.Errorf("feed: reported videos: %w", err)
	}
	var ids []any
	var firsts []int64
	for rows.Next() {
		var id string
		var first int64
		if err := rows.Scan(&id, &first); err != nil {
			rows.Close()
			return fmt.Errorf("feed: reported videos: %w", err)
		}
		ids, firsts = append(ids, id), append(firsts, first)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("feed: reported videos: %w", err)
	}
	out := List[ReportedVideo]{Items: []ReportedVideo{}}
	if len(ids) > limit {
		ids = ids[:limit]
		out.NextCursor = encodeCursor(reportsCursor{After: firsts[limit-1]})
	}
	if len(ids) == 0 {
		apierr.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	byID := make(map[string]*ReportedVideo, len(ids))
	rows, err = s.db.SQL().QueryContext(ctx, `SELECT v.id, u.handle, v.caption, v.visibility, v.hidden, v.report_count
		FROM videos v JOIN users u ON u.id = v.user_id WHERE v.id IN (`+placeholders(1, len(ids))+`)`, ids...)
	if err != nil {
		return fmt.Errorf("feed: reported videos: %w", err)
	}
	for rows.Next() {
		rv := &ReportedVideo{Reasons: map[string]int{}, ReportIDs: []string{}, Reports: []Report{}}
		var hidden int
		v := &rv.Video
		if err := rows.Scan(&v.ID, &v.Creator, &v.Caption, &v.Visibility, &hidden, &v.ReportCount); err != nil {
			rows.Close()
			return fmt.Errorf("feed: reported videos: %w", err)
		}
		v.State = moderationStates[hidden]
		byID[v.ID] = rv
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("feed: reported videos: %w", err)
	}
	rows, err = s.db.SQL().QueryContext(ctx, `SELECT `+reportCols+` FROM reports r JOIN users u ON u.id = r.user_id
		WHERE r.resolved_at IS NULL AND r.video_id IN (`+placeholders(1, len(ids))+`) ORDER BY r.id`, ids...)
	if err != nil {
		return fmt.Errorf("feed: open reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		rp, err := scanReport(rows)
		if err != nil {
			return fmt.Errorf("feed: open reports: %w", err)
		}
		if rv := byID[rp.VideoID]; rv != nil {
			rv.Reasons[rp.Reason]++
			rv.ReportIDs = append(rv.ReportIDs, rp.ID)
			rv.Reports = append(rv.Reports, rp)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("feed: open reports: %w", err)
	}
	for _, id := range ids {
		if rv := byID[id.(string)]; rv != nil && len(rv.Reports) > 0 { // not resolved meanwhile
			out.Items = append(out.Items, *rv)
		}
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}

// resolveRequest is the body of POST /v1/admin/reports/{id}/resolve.
type resolveRequest struct {
	Action string `json:"action"` // keep or remove
}

// Resolution is the answer of POST /v1/admin/reports/{id}/resolve.
type Resolution struct {
	VideoID  string `json:"video_id"`
	Action   string `json:"action"`
	Resolved int64  `json:"resolved"` // how many open reports this resolved
	State    string `json:"state"`    // the video's: shown or removed
}

// resolveReport answers POST /v1/admin/reports/{id}/resolve: it resolves every open report of
// report id's video. "keep" shows the video again and zeroes its report count; "remove" keeps
// it hidden for good (videos.hidden = 2). Deleting its objects is the owner's DELETE's business.
func (s *Service) resolveReport(w http.ResponseWriter, r *http.Request) error {
	var req resolveRequest
	if err := apierr.DecodeJSON(r, &req, 0); err != nil {
		return err
	}
	hidden := shown
	switch req.Action {
	case "keep":
	case "remove":
		hidden = removed
	default:
		return apierr.New(http.StatusBadRequest, "invalid_action", `action must be "keep" or "remove"`)
	}
	errNoReport := apierr.New(http.StatusNotFound, "not_found", "no such report")
	rid, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || rid <= 0 {
		return errNoReport
	}
	ctx := r.Context()
	out := Resolution{Action: req.Action, State: moderationStates[hidden]}
	err = s.db.SQL().QueryRowContext(ctx, `SELECT video_id FROM reports WHERE id = $1`, rid).Scan(&out.VideoID)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoReport
	}
	if err != nil {
		return fmt.Errorf("feed: report %d: %w", rid, err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// The video's row first: a report arriving meanwhile waits for it to count, and so
		// stays open, counted, or was resolved here.
		if _, err := tx.ExecContext(ctx, `UPDATE videos SET report_count = 0, hidden = $2 WHERE id = $1`,
			out.VideoID, hidden); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE reports SET resolved_at = $2, resolution = $3
			WHERE video_id = $1 AND resolved_at IS NULL`, out.VideoID, db.Millis(s.accounts.now()), req.Action)
		if err != nil {
			return err
		}
		out.Resolved, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("feed: resolve reports of %s: %w", out.VideoID, err)
	}
	s.log.Info("reports resolved", "video", out.VideoID, "action", req.Action, "reports", out.Resolved)
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}
