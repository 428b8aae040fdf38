package ingest

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/videoid"
)

// Status serves GET /v1/videos/{id}: where a video is on its way from upload to playable.
type Status struct {
	db  *db.DB
	log *slog.Logger
	// playbackBase is the base URL of the HLS tier players use, e.g. an edge:
	// playback_url is playbackBase + "/v/{id}/master.m3u8".
	playbackBase string

	// SignPlayback, when set, returns the query ("exp=...&sig=...") that signs the URLs of a
	// private video for edges to serve them (see edge.SignedQuery). Without it, a private
	// video's creator gets unsigned URLs, which edges refuse.
	SignPlayback func(video string) string
}

// NewStatus returns the status API. playbackBase is the base URL of the edge (or origin) that
// serves /v/{id}/...; log may be nil.
func NewStatus(d *db.DB, playbackBase string, log *slog.Logger) *Status {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Status{db: d, log: log, playbackBase: strings.TrimSuffix(playbackBase, "/")}
}

// Handler returns the route GET /v1/videos/{id}, behind the auth middleware.
func (s *Status) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/videos/{id}", apierr.Handler(s.log, s.get))
	return mux
}

// VideoStatus is the JSON of GET /v1/videos/{id}.
type VideoStatus struct {
	ID       string `json:"id"`
	Creator  string `json:"creator"` // the creator's handle
	Status   string `json:"status"`  // uploading, processing, ready or failed
	Progress int    `json:"progress"`
	// Playable is true once playback_url plays: for a ready video, and for a processing one
	// whose first segments are published (it plays as an EVENT presentation that grows).
	Playable    bool        `json:"playable"`
	Error       *ErrorJSON  `json:"error"`
	Caption     string      `json:"caption"`
	Hashtags    []string    `json:"hashtags"`
	Visibility  string      `json:"visibility"`
	DurationMS  int64       `json:"duration_ms"`
	Width       int         `json:"width"`
	Height      int         `json:"height"`
	Renditions  []Rendition `json:"renditions"`
	PlaybackURL string      `json:"playback_url"`
	PosterURL   string      `json:"poster_url"`
	CreatedAt   time.Time   `json:"created_at"`
}

// ErrorJSON is why a video failed.
type ErrorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var errNoVideo = apierr.New(http.StatusNotFound, "not_found", "no such video")

func (s *Status) get(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !videoid.Valid(id) {
		return errNoVideo
	}
	p, _ := auth.FromContext(r.Context())
	v, err := s.db.VideoByID(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return s.uploading(w, r, id, p)
	}
	if err != nil {
		return err
	}
	// Anyone may see a ready public or unlisted video; only its creator the rest.
	mine := p.Admin || (p.UserID != 0 && p.UserID == v.UserID)
	if !mine && (v.Status != db.VideoReady || v.Visibility == VisibilityPrivate) {
		return errNoVideo
	}
	creator, err := s.db.UserByID(r.Context(), v.UserID)
	if err != nil {
		return err
	}
	out := VideoStatus{
		ID: v.ID, Creator: creator.Handle, Status: v.Status, Progress: v.Progress, Caption: v.Caption,
		Hashtags: v.Hashtags, Visibility: v.Visibility, DurationMS: v.DurationMS, Width: v.Width, Height: v.Height,
		Renditions: []Rendition{}, CreatedAt: v.CreatedAt.UTC(),
	}
	if out.Hashtags == nil {
		out.Hashtags = []string{}
	}
	if v.Status == db.VideoFailed {
		out.Error = &ErrorJSON{Code: v.ErrorCode, Message: v.Error}
	}
	ready := v.Status == db.VideoReady
	out.Playable = ready || (v.Status == db.VideoProcessing && !v.PlayableAt.IsZero())
	if ready {
		if err := json.Unmarshal([]byte(v.Renditions), &out.Renditions); err != nil {
			return err
		}
	}
	if out.Playable {
		var q string
		if v.Visibility == VisibilityPrivate && s.SignPlayback != nil {
			q = "?" + s.SignPlayback(id)
		}
		out.PlaybackURL = s.playbackBase + "/v/" + id + "/master.m3u8" + q
		if ready { // the poster is written at the end
			out.PosterURL = s.playbackBase + "/v/" + id + "/poster.jpg" + q
		}
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}

// uploading answers for an id that is not a video yet: an upload in progress, or one that was
// refused, seen only by its creator.
func (s *Status) uploading(w http.ResponseWriter, r *http.Request, id string, p auth.Principal) error {
	if p.UserID == 0 && !p.Admin {
		return errNoVideo
	}
	u, err := s.db.UploadByID(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return errNoVideo
	}
	if err != nil {
		return err
	}
	if !p.Admin && u.UserID != p.UserID {
		return errNoVideo
	}
	creator, err := s.db.UserByID(r.Context(), u.UserID)
	if err != nil {
		return err
	}
	out := VideoStatus{
		ID: id, Creator: creator.Handle, Status: "uploading", Hashtags: []string{}, Renditions: []Rendition{},
		CreatedAt: u.CreatedAt.UTC(),
	}
	if u.Length > 0 {
		out.Progress = int(u.Offset * 100 / u.Length)
	}
	switch u.State {
	case db.UploadRejected:
		out.Status = db.VideoFailed
		out.Error = &ErrorJSON{Code: u.ReasonCode, Message: u.Reason}
	case db.UploadExpired, db.UploadTerminated:
		return apierr.New(http.StatusGone, "gone", "the upload was "+u.State)
	case db.UploadFinished, db.UploadComplete:
		// Handed over (or being handed over) but without a video row yet: about to process.
		out.Status, out.Progress = db.VideoProcessing, 0
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}
