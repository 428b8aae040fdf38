package feed

import (
	"net/http"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/videoid"
)

// forYouCursor is the position in a For You feed: the videos its earlier pages served, the most
// recent MaxSeen, each as the first SeenPrefix characters of its id, concatenated. At 500 it
// encodes to about 6,700 characters, under maxCursor.
type forYouCursor struct {
	Seen string `json:"s"`
}

// getForYou answers GET /v1/feed/foryou, with a token or without: a page that Config.Ranker
// chooses, leaving out what the earlier pages of the cursor served and, for a logged-in viewer,
// what their events show seen. The cursor remembers what was served, so that a visitor, of whom
// nothing is stored, does not see a video twice in the last MaxSeen; next_cursor is "" when the
// ranker has no more.
func (s *Service) getForYou(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	var c forYouCursor
	limit, err := pageParams(r, &c)
	if err != nil {
		return err
	}
	var seen []string
	if r.URL.Query().Get("cursor") != "" {
		var ok bool
		if seen, ok = seenPrefixes(c.Seen); !ok {
			return errBadCursor
		}
	}
	ranked, err := s.cfg.Ranker.Rank(r.Context(), RankRequest{Viewer: p.UserID, Exclude: seen, Limit: limit})
	if err != nil {
		return err
	}
	// Whatever the ranker returns, a page holds each video once and none of the seen ones.
	skip := make(map[string]bool, len(seen)+len(ranked))
	for _, pre := range seen {
		skip[pre] = true
	}
	ids := make([]string, 0, limit)
	for _, id := range ranked {
		if len(ids) == limit || !videoid.Valid(id) || skip[id[:SeenPrefix]] {
			continue
		}
		skip[id[:SeenPrefix]] = true
		ids = append(ids, id)
	}
	items, err := s.items(r.Context(), p, ids)
	if err != nil {
		return err
	}
	var next string
	if len(ids) == limit {
		next = encodeCursor(forYouCursor{Seen: joinSeen(seen, ids)})
	}
	apierr.WriteJSON(w, http.StatusOK, List[Item]{Items: items, NextCursor: next})
	s.servedForYou(p.UserID, items)
	return nil
}
