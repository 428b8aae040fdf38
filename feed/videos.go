package feed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// Uploads tells the video resource about videos that are still uploads; *ingest.Uploads is one.
type Uploads interface {
	// UploadProgress returns where upload id stands, or db.ErrNotFound.
	UploadProgress(ctx context.Context, id string) (video.Upload, error)
}

// Video is the JSON of GET /v1/videos/{id}: where a video is on its way from upload to
// playback, and what it is.
type Video struct {
	ID       string       `json:"id"`
	Creator  Creator      `json:"creator"`
	Status   video.Status `json:"status"` // uploading, processing, ready or failed
	Progress int          `json:"progress"`
	// Playable is true once playback_url plays: for a ready video, and for a processing one
	// whose first segments are published (it plays as an EVENT presentation that grows).
	Playable    bool              `json:"playable"`
	Error       *ErrorJSON        `json:"error"`
	Caption     string            `json:"caption"`
	Hashtags    []string          `json:"hashtags"`
	Visibility  video.Visibility  `json:"visibility"`
	DurationMS  int64             `json:"duration_ms"`
	Width       int               `json:"width"`
	Height      int               `json:"height"`
	Renditions  []video.Rendition `json:"renditions"`
	PlaybackURL string            `json:"playback_url"`
	PosterURL   string            `json:"poster_url"`
	CreatedAt   time.Time         `json:"created_at"`
	Counts      Counts            `json:"counts"`
	Liked       bool              `json:"liked"`     // by the viewer; false without a token
	Following   bool              `json:"following"` // the viewer follows the creator; false without a token
}

// ErrorJSON is why a video failed.
type ErrorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var errNoVideo = apierr.New(http.StatusNotFound, "not_found", "no such video")

// getVideo answers GET /v1/videos/{id}. Anyone may see a ready public or unlisted video; only
// its creator (or the admin) the others, and an upload that is not a video yet.
func (s *Service) getVideo(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !videoid.Valid(id) {
		return errNoVideo
	}
	p, _ := auth.FromContext(r.Context())
	e, err := s.catalog.Video(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		if st, ok, err := s.liveStream(r.Context(), id); err != nil {
			return err
		} else if ok {
			return s.writeLive(w, r, p, st)
		}
		return s.uploading(w, r, id, p)
	}
	if err != nil {
		return err
	}
	if !canSee(p, e) {
		return errNoVideo
	}
	if !owns(p, e) {
		if blocked, err := s.blocked(r.Context(), p.UserID, e.UserID); err != nil {
			return err
		} else if blocked { // the viewer blocked its creator: no more of their videos
			return errNoVideo
		}
	}
	return s.writeVideo(w, r, p, e)
}

// canSee reports whether p may see video e: anyone a ready public or unlisted video that
// reports have not hidden; its creator and the admin any.
func canSee(p auth.Principal, e Entry) bool {
	return owns(p, e) || (e.Status == video.Ready && e.Visibility != video.Private && !e.Hidden)
}

// owns reports whether p may edit and delete video e: its creator and the admin.
func owns(p auth.Principal, e Entry) bool {
	return p.Admin || (p.UserID != 0 && p.UserID == e.UserID)
}

// writeVideo answers with e as p sees it.
func (s *Service) writeVideo(w http.ResponseWriter, r *http.Request, p auth.Principal, e Entry) error {
	out := s.videoJSON(e)
	if p.UserID != 0 {
		err := s.db.SQL().QueryRowContext(r.Context(), `SELECT
			EXISTS (SELECT 1 FROM likes WHERE video_id = $1 AND user_id = $2),
			EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $3)`, e.ID, p.UserID, e.UserID).
			Scan(&out.Liked, &out.Following)
		if err != nil {
			return fmt.Errorf("feed: video %s for %d: %w", e.ID, p.UserID, err)
		}
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}

// videoJSON returns e as the video resource shows it, but the viewer's state (Liked,
// Following), which it leaves false.
func (s *Service) videoJSON(e Entry) Video {
	out := Video{
		ID: e.ID, Creator: Creator{e.Creator, e.CreatorName, s.avatarURL(e.CreatorAvatar)}, Counts: e.Counts, Status: e.Status, Progress: e.Progress, Caption: e.Caption,
		Hashtags: e.Hashtags, Visibility: e.Visibility, DurationMS: e.DurationMS, Width: e.Width, Height: e.Height,
		Renditions: []video.Rendition{}, CreatedAt: e.CreatedAt.UTC(),
	}
	if out.Hashtags == nil {
		out.Hashtags = []string{}
	}
	if e.Status == video.Failed {
		out.Error = &ErrorJSON{Code: e.ErrorCode, Message: e.Error}
	}
	ready := e.Status == video.Ready
	out.Playable = ready || (e.Status == video.Processing && !e.PlayableAt.IsZero())
	if ready && e.Renditions != nil {
		out.Renditions = e.Renditions
	}
	if out.Playable {
		out.PlaybackURL, out.PosterURL = s.playbackURLs(e.ID, e.Visibility, e.Generation)
		if !ready { // the poster is written at the end
			out.PosterURL = ""
		}
	}
	return out
}

// uploading answers for an id that is not a video yet: an upload in progress, or one that was
// refused, seen only by its creator.
func (s *Service) uploading(w http.ResponseWriter, r *http.Request, id string, p auth.Principal) error {
	if s.uploads == nil || (p.UserID == 0 && !p.Admin) {
		return errNoVideo
	}
	u, err := s.uploads.UploadProgress(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) || (err == nil && !p.Admin && u.Owner != p.UserID) {
		return errNoVideo
	}
	if err != nil {
		return err
	}
	if u.Gone != "" {
		return apierr.New(http.StatusGone, "gone", "the upload was "+u.Gone)
	}
	creator, err := s.creator(r.Context(), u.Owner)
	if err != nil {
		return err
	}
	out := Video{
		ID: id, Creator: creator, Status: u.Status, Progress: u.Progress, Hashtags: []string{},
		Renditions: []video.Rendition{}, CreatedAt: u.CreatedAt.UTC(),
	}
	if u.Status == video.Failed {
		out.Error = &ErrorJSON{Code: u.ErrorCode, Message: u.Error}
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}

// creator returns user as the creator of a video.
func (s *Service) creator(ctx context.Context, user int64) (Creator, error) {
	var c Creator
	var avatar string
	err := s.db.SQL().QueryRowContext(ctx, `SELECT handle, display_name, avatar FROM users WHERE id = $1`, user).
		Scan(&c.Handle, &c.DisplayName, &avatar)
	if err != nil {
		return Creator{}, fmt.Errorf("feed: creator %d: %w", user, err)
	}
	c.AvatarURL = s.avatarURL(avatar)
	return c, nil
}
