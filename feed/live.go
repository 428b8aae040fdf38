package feed

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
)

// LiveStream is a creator's live stream now, as Config.LiveNow reports it.
type LiveStream struct {
	ID          string
	UserID      int64
	PlaybackURL string
	StartedAt   time.Time
}

// LiveItem is a live stream of a followed creator, as the first page of the Following feed
// shows it, above the videos.
type LiveItem struct {
	ID          string    `json:"id"`
	PlaybackURL string    `json:"playback_url"`
	Creator     Creator   `json:"creator"`
	StartedAt   time.Time `json:"started_at"`
}

// followingPage is a page of the Following feed: the first one lists the followed creators'
// live streams too.
type followingPage struct {
	List[Item]
	Live []LiveItem `json:"live,omitempty"`
}

// liveFollowed returns the live streams of the creators viewer follows and has not blocked,
// the newest first.
func (s *Service) liveFollowed(ctx context.Context, viewer int64) ([]LiveItem, error) {
	if s.cfg.LiveNow == nil {
		return nil, nil
	}
	streams, err := s.cfg.LiveNow(ctx)
	if err != nil {
		return nil, fmt.Errorf("feed: live streams: %w", err)
	}
	if len(streams) == 0 {
		return nil, nil
	}
	args := []any{viewer}
	for _, st := range streams {
		args = append(args, st.UserID)
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT u.id, u.handle, u.display_name, u.avatar
		FROM follows f JOIN users u ON u.id = f.followee_id
		WHERE f.follower_id = $1 AND f.followee_id IN (`+placeholders(2, len(streams))+`)
		AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 AND b.blocked_id = u.id)`, args...)
	if err != nil {
		return nil, fmt.Errorf("feed: live streams: %w", err)
	}
	defer rows.Close()
	creators := map[int64]Creator{}
	for rows.Next() {
		var id int64
		var c Creator
		var avatar string
		if err := rows.Scan(&id, &c.Handle, &c.DisplayName, &avatar); err != nil {
			return nil, fmt.Errorf("feed: live streams: %w", err)
		}
		c.AvatarURL = s.avatarURL(avatar)
		creators[id] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feed: live streams: %w", err)
	}
	var out []LiveItem
	for _, st := range streams {
		if c, ok := creators[st.UserID]; ok {
			out = append(out, LiveItem{ID: st.ID, PlaybackURL: st.PlaybackURL, Creator: c, StartedAt: st.StartedAt.UTC()})
		}
	}
	slices.SortFunc(out, func(a, b LiveItem) int { return b.StartedAt.Compare(a.StartedAt) })
	return out, nil
}

// liveStream returns the live stream id, when it is on (Config.LiveNow).
func (s *Service) liveStream(ctx context.Context, id string) (LiveStream, bool, error) {
	if s.cfg.LiveNow == nil {
		return LiveStream{}, false, nil
	}
	streams, err := s.cfg.LiveNow(ctx)
	if err != nil {
		return LiveStream{}, false, fmt.Errorf("feed: live streams: %w", err)
	}
	for _, st := range streams {
		if st.ID == id {
			return st, true, nil
		}
	}
	return LiveStream{}, false, nil
}

// writeLive answers the status API for a live stream: status live, playable at its LL-HLS
// playback URL; it is public, but not to a viewer who blocked its creator.
func (s *Service) writeLive(w http.ResponseWriter, r *http.Request, p auth.Principal, st LiveStream) error {
	if blocked, err := s.blocked(r.Context(), p.UserID, st.UserID); err != nil {
		return err
	} else if blocked {
		return errNoVideo
	}
	creator, err := s.creator(r.Context(), st.UserID)
	if err != nil {
		return err
	}
	following := false
	if p.UserID != 0 {
		err := s.db.SQL().QueryRowContext(r.Context(), `SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2)`,
			p.UserID, st.UserID).Scan(&following)
		if err != nil {
			return fmt.Errorf("feed: live stream: %w", err)
		}
	}
	apierr.WriteJSON(w, http.StatusOK, Video{
		ID: st.ID, Creator: creator, Status: video.Live, Playable: true, Hashtags: []string{}, Visibility: video.Public,
		Renditions: []video.Rendition{}, PlaybackURL: st.PlaybackURL, CreatedAt: st.StartedAt.UTC(), Following: following,
	})
	return nil
}
