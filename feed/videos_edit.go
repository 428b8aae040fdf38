package feed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/internal/videostore"
	"github.com/reelay/reelay/storage"
)

// maxCaptionRunes bounds a caption, as ingest bounds the one given at upload.
const maxCaptionRunes = 2200

var (
	errNotOwner   = apierr.New(http.StatusForbidden, "forbidden", "only the video's creator may change it")
	errBadCaption = apierr.Errorf(http.StatusBadRequest, "invalid_caption",
		"a caption is at most %d characters, without control characters but line breaks and tabs", maxCaptionRunes)
	errBadVisibility  = apierr.New(http.StatusBadRequest, "invalid_visibility", "visibility is public, unlisted or private")
	errNoStoreToGuard = apierr.New(http.StatusServiceUnavailable, "not_configured",
		"this server has no object store to mark a video private in")
)

// ownedVideo returns the video of the request's id for p to change: 404 when p may not see
// it (as GET /v1/videos/{id} answers), 403 when p sees it but is not its creator or the admin.
func (s *Service) ownedVideo(r *http.Request, p auth.Principal) (Entry, error) {
	id := r.PathValue("id")
	if !videoid.Valid(id) {
		return Entry{}, errNoVideo
	}
	e, err := s.catalog.Video(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return Entry{}, errNoVideo
	}
	if err != nil {
		return Entry{}, err
	}
	if !canSee(p, e) {
		return Entry{}, errNoVideo
	}
	if !owns(p, e) {
		return Entry{}, errNotOwner
	}
	return e, nil
}

// videoEdit is the body of PATCH /v1/videos/{id}: a field that is absent or null stays as
// it is.
type videoEdit struct {
	Caption    *string `json:"caption"`
	Visibility *string `json:"visibility"`
}

// parse validates the edit and returns the new visibility ("" for unchanged).
func (e videoEdit) parse() (video.Visibility, error) {
	if e.Caption != nil && !validCaption(*e.Caption) {
		return "", errBadCaption
	}
	if e.Visibility == nil {
		return "", nil
	}
	v, ok := video.ParseVisibility(*e.Visibility)
	if !ok || *e.Visibility == "" {
		return "", errBadVisibility
	}
	return v, nil
}

// validCaption reports whether s may be a caption: at most maxCaptionRunes of UTF-8 text
// whose only control characters are line breaks and tabs.
func validCaption(s string) bool {
	return validText(strings.NewReplacer("\r", "\n", "\t", " ").Replace(s), maxCaptionRunes, true)
}

// patchVideo answers PATCH /v1/videos/{id} with the edited video. A new caption's hashtags
// replace the old ones in the same transaction. Making a video private marks it private in the
// store before the edges are purged of it, so that what they fetch again is served only on
// signed URLs; making it public or unlisted removes the mark, then purges.
func (s *Service) patchVideo(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	e, err := s.ownedVideo(r, p)
	if err != nil {
		return err
	}
	var edit videoEdit
	if err := apierr.DecodeJSON(r, &edit, 0); err != nil {
		return err
	}
	vis, err := edit.parse()
	if err != nil {
		return err
	}
	// A visibility given is applied whole (mark, row, purge) even when it is the video's
	// already, so that repeating a request that failed midway completes it.
	store := s.cfg.Store
	if vis != "" && (vis == video.Private || e.Visibility == video.Private) && store == nil {
		return errNoStoreToGuard
	}
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	ctx := r.Context()
	marker := layout.VideoPrefix(e.ID) + layout.PrivateMarker
	if vis == video.Private {
		if _, err := store.Put(ctx, marker, strings.NewReader(""), 0, storage.PutOptions{}); err != nil {
			return fmt.Errorf("feed: marking video %s private: %w", e.ID, err)
		}
	}
	if err := s.editVideo(ctx, e.ID, edit.Caption, vis); err != nil {
		if vis == video.Private && e.Visibility != video.Private {
			store.Delete(context.WithoutCancel(ctx), marker) // still public: unsigned URLs must play
		}
		return err
	}
	if vis != "" {
		if vis != video.Private && store != nil {
			if err := store.Delete(ctx, marker); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("feed: unmarking video %s private: %w", e.ID, err)
			}
		}
		s.purge(ctx, e.ID)
	}
	if vis == video.Public && e.Visibility != video.Public && e.Status == video.Ready {
		// Its fan-out on publish pushed nothing (it was not public then): push it now. The key
		// is new each time; pushing a video twice changes nothing.
		key := e.ID + "@" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if _, err := s.db.Enqueue(ctx, video.FanoutJob, []byte(e.ID), db.EnqueueOptions{Key: key}); err != nil {
			return fmt.Errorf("feed: fan-out of video %s made public: %w", e.ID, err)
		}
	}
	if e, err = s.catalog.Video(ctx, e.ID); err != nil {
		return err
	}
	return s.writeVideo(w, r, p, e)
}

// editVideo stores a new caption (nil: unchanged), with its hashtags, and visibility (""
// unchanged) of video id.
func (s *Service) editVideo(ctx context.Context, id string, caption *string, vis video.Visibility) error {
	now := db.Millis(time.Now())
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if vis != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE videos SET visibility = $2, updated_at = $3 WHERE id = $1`, id, vis, now); err != nil {
				return err
			}
		}
		if caption == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE videos SET caption = $2, updated_at = $3 WHERE id = $1`, id, *caption, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM video_hashtags WHERE video_id = $1`, id); err != nil {
			return err
		}
		for _, tag := range video.Hashtags(*caption) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO video_hashtags (video_id, tag) VALUES ($1, $2)`, id, tag); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("feed: editing video %s: %w", id, err)
	}
	return nil
}

// deleteVideo answers DELETE /v1/videos/{id}: 204 once the video is gone from the database
// (and so from every feed and list: its likes, comments, timelines and reports go with it),
// from the store, and from the edges.
//
// The upload the video came from is forgotten first (uploadForgetter), so that neither the
// status API nor ingest's retries bring it back as one. A video still processing is deleted
// too. Its row goes first; the store then gets the
// video's private marker, so that whatever its transcode still writes is never served to
// anyone (no one can get a signed URL for a video without a row), and every other object is
// deleted. The pipeline's worker, finding its video gone when it records progress or the
// result, deletes what it wrote, the marker with it, and ends the job.
func (s *Service) deleteVideo(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	e, err := s.ownedVideo(r, p)
	if err != nil {
		return err
	}
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	ctx := r.Context()
	if f, ok := s.uploads.(uploadForgetter); ok {
		if err := f.Forget(ctx, e.ID); err != nil {
			return err
		}
	}
	store := s.cfg.Store
	processing := e.Status == video.Processing
	marker := layout.VideoPrefix(e.ID) + layout.PrivateMarker
	if processing && store != nil {
		// Before the row goes, so that the worker, which cleans up once it finds the row
		// gone, finds the marker there to delete too.
		if _, err := store.Put(ctx, marker, strings.NewReader(""), 0, storage.PutOptions{}); err != nil {
			return fmt.Errorf("feed: marking video %s private before deleting it: %w", e.ID, err)
		}
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM videos WHERE id = $1`, e.ID); err != nil {
		if processing && store != nil && e.Visibility != video.Private {
			store.Delete(context.WithoutCancel(ctx), marker) // still there, and public
		}
		return fmt.Errorf("feed: deleting video %s: %w", e.ID, err)
	}
	s.log.Info("video deleted", "video", e.ID, "by", p.UserID, "admin", p.Admin)
	if store != nil {
		if n, err := videostore.Delete(ctx, store, e.ID, processing); err != nil {
			// Nothing names them any more; an operator can remove videos/{id}/ and sources/{id}.
			s.log.Error("deleting a deleted video's objects; some are left in the store", "video", e.ID, "deleted", n, "err", err)
		}
	}
	s.purge(ctx, e.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// uploadForgetter is Uploads that can forget the upload a deleted video came from, so that
// the status API does not answer for it as an upload; *ingest.Uploads is one.
type uploadForgetter interface {
	Forget(ctx context.Context, id string) error
}

// purge drops video id from the edges (Config.Purge). A failure is logged, not answered: the
// change is made, and only an operator's purge (DELETE /_edge/v/{id}) can then drop what the
// edges cached.
func (s *Service) purge(ctx context.Context, id string) {
	if s.cfg.Purge == nil {
		return
	}
	if err := s.cfg.Purge(ctx, id); err != nil {
		s.log.Warn("purging a video from the edges", "video", id, "err", err)
	}
}
