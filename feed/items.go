package feed

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/video"
)

// Item is a video as every list of videos shows it (the feeds, a creator's videos, search):
// what a player needs to show and play it, and the viewer's state towards it.
type Item struct {
	ID          string           `json:"id"`
	PlaybackURL string           `json:"playback_url"`
	PosterURL   string           `json:"poster_url"`
	Creator     Creator          `json:"creator"`
	Caption     string           `json:"caption"`
	Hashtags    []string         `json:"hashtags"`
	Visibility  video.Visibility `json:"visibility"`
	DurationMS  int64            `json:"duration_ms"`
	Width       int              `json:"width"`
	Height      int              `json:"height"`
	Counts      Counts           `json:"counts"`
	Liked       bool             `json:"liked"`     // by the viewer
	Following   bool             `json:"following"` // the viewer follows the creator
	PublishedAt time.Time        `json:"published_at"`
}

// Creator is who made a video, as lists show it.
type Creator struct {
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name"`
	AvatarURL   string `json:"avatar_url"` // "" when the creator has none
}

// Counts are a video's counters, exact: each changes in the transaction of what it counts.
type Counts struct {
	Views    int64 `json:"views"`
	Likes    int64 `json:"likes"`
	Comments int64 `json:"comments"`
	Shares   int64 `json:"shares"`
}

// items returns the videos ids as viewer sees them, in the order of ids. It leaves out what
// viewer may not see, whatever the caller's query let through: videos that are not ready,
// others' private videos, videos hidden by reports (but to their creator), and the videos of
// creators viewer blocked.
func (s *Service) items(ctx context.Context, viewer auth.Principal, ids []string) ([]Item, error) {
	if len(ids) == 0 {
		return []Item{}, nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, viewer.UserID)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT v.id, v.user_id, u.handle, u.display_name, u.avatar, v.caption,
		v.visibility, v.status, v.hidden, v.duration_ms, v.width, v.height, v.generation, v.view_count, v.like_count,
		v.comment_count, v.share_count, v.published_at,
		EXISTS (SELECT 1 FROM likes l WHERE l.video_id = v.id AND l.user_id = $1),
		EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = v.user_id),
		EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 AND b.blocked_id = v.user_id),
		COALESCE((SELECT `+s.tagList()+` FROM video_hashtags h WHERE h.video_id = v.id), '')
		FROM videos v JOIN users u ON u.id = v.user_id WHERE v.id IN (`+placeholders(2, len(ids))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("feed: items: %w", err)
	}
	defer rows.Close()
	byID := make(map[string]*Item, len(ids))
	for rows.Next() {
		var it Item
		var owner int64
		var status video.Status
		var hidden int
		var avatar, generation string
		var published sql.NullInt64
		var blocked bool
		var tags string
		if err := rows.Scan(&it.ID, &owner, &it.Creator.Handle, &it.Creator.DisplayName, &avatar, &it.Caption,
			&it.Visibility, &status, &hidden, &it.DurationMS, &it.Width, &it.Height, &generation, &it.Counts.Views,
			&it.Counts.Likes, &it.Counts.Comments, &it.Counts.Shares, &published, &it.Liked, &it.Following, &blocked, &tags); err != nil {
			return nil, fmt.Errorf("feed: items: %w", err)
		}
		mine := viewer.Admin || (viewer.UserID != 0 && viewer.UserID == owner)
		if status != video.Ready || blocked || (!mine && (it.Visibility == video.Private || hidden != 0)) {
			continue
		}
		it.Creator.AvatarURL = s.avatarURL(avatar)
		it.PublishedAt = db.Time(published.Int64).UTC()
		it.PlaybackURL, it.PosterURL = s.playbackURLs(it.ID, it.Visibility, generation)
		it.Hashtags = strings.Fields(tags) // hashtags have no spaces (internal/video)
		slices.Sort(it.Hashtags)
		byID[it.ID] = &it
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feed: items: %w", err)
	}
	out := make([]Item, 0, len(byID))
	for _, id := range ids {
		if it, ok := byID[id]; ok {
			out = append(out, *it)
			delete(byID, id) // an id twice in ids shows once
		}
	}
	return out, nil
}

// tagList is the SQL aggregate of a video's hashtags (h.tag), separated by spaces.
func (s *Service) tagList() string {
	if s.db.Dialect() == db.DialectPostgres {
		return "string_agg(h.tag, ' ')"
	}
	return "group_concat(h.tag, ' ')"
}

// playbackURLs returns where a ready video plays and its poster, signed for a private one.
func (s *Service) playbackURLs(id string, vis video.Visibility, generation string) (playback, poster string) {
	var q string
	if vis == video.Private && s.cfg.SignPlayback != nil {
		q = "?" + s.cfg.SignPlayback(id)
	}
	return s.playbackBase + layout.Path(id, layout.Master) + q,
		s.playbackBase + layout.Path(id, layout.InGeneration(generation, layout.Poster)) + q
}

// avatarURL returns where the avatar stored under key is served, "" for none.
func (s *Service) avatarURL(key string) string {
	if key == "" {
		return ""
	}
	return s.cfg.PublicURL + AvatarPath + key[strings.LastIndexByte(key, '/')+1:]
}

// AvatarPath is where the API serves avatars: AvatarPath + the file name of the store key.
const AvatarPath = "/v1/avatars/"

// placeholders returns "$from, $from+1, ..." for n parameters.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}
