package feed

import (
	"net/http"
	"net/url"

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

// forYouItem is an item of a For You page: with explain=1, why the ranker chose it.
type forYouItem struct {
	Item
	Explain *Explanation `json:"explain,omitempty"`
}

var (
	errBadExplain       = apierr.New(http.StatusBadRequest, "bad_explain", "explain must be 1, true, 0 or false")
	errExplainForAdmins = apierr.New(http.StatusForbidden, "forbidden", "explain is for admins")
	errBadVisitor       = apierr.New(http.StatusBadRequest, "invalid_visitor", "visitor: a visitor id of 8 to 64 letters, digits, '-' or '_'")
)

// forYouParams reads the For You parameters beyond the page's: explain (admins only), and,
// visitor, the id a caller without a token has its events carry (checked always, ignored
// with a token, as in POST /v1/events).
func forYouParams(q url.Values, p auth.Principal) (explain bool, visitor string, err error) {
	switch q.Get("explain") {
	case "", "0", "false":
	case "1", "true":
		if !p.Admin {
			return false, "", errExplainForAdmins
		}
		explain = true
	default:
		return false, "", errBadExplain
	}
	if v := q.Get("visitor"); v != "" {
		if !visitorRE.MatchString(v) {
			return false, "", errBadVisitor
		}
		if p.UserID == 0 {
			visitor = v
		}
	}
	return explain, visitor, nil
}

// getForYou answers GET /v1/feed/foryou, with a token or without: a page that Config.Ranker
// chooses, leaving out what the earlier pages of the cursor served and, for a logged-in viewer,
// what their events show seen. The cursor remembers what was served, so that a visitor, of whom
// nothing is stored, does not see a video twice in the last MaxSeen; next_cursor is "" when the
// ranker has no more. An admin's explain=1 has each item say why it was chosen.
func (s *Service) getForYou(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	var c forYouCursor
	limit, err := pageParams(r, &c)
	if err != nil {
		return err
	}
	explain, visitor, err := forYouParams(r.URL.Query(), p)
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
	req := RankRequest{Viewer: p.UserID, Visitor: visitor, Exclude: seen, Limit: limit}
	var ranked []Ranked
	if ex, ok := s.cfg.Ranker.(Explainer); ok && explain {
		ranked, err = ex.Explain(r.Context(), req)
	} else {
		var ids []string
		ids, err = s.cfg.Ranker.Rank(r.Context(), req)
		for _, id := range ids {
			ranked = append(ranked, Ranked{ID: id})
		}
	}
	if err != nil {
		return err
	}
	// Whatever the ranker returns, a page holds each video once and none of the seen ones.
	skip := make(map[string]bool, len(seen)+len(ranked))
	for _, pre := range seen {
		skip[pre] = true
	}
	ids := make([]string, 0, limit)
	why := make(map[string]*Explanation, limit)
	for _, rk := range ranked {
		if len(ids) == limit || !videoid.Valid(rk.ID) || skip[rk.ID[:SeenPrefix]] {
			continue
		}
		skip[rk.ID[:SeenPrefix]] = true
		ids = append(ids, rk.ID)
		if explain {
			ex := rk.Explanation
			if ex.Reasons == nil {
				ex.Reasons = []string{}
			}
			why[rk.ID] = &ex
		}
	}
	items, err := s.items(r.Context(), p, ids)
	if err != nil {
		return err
	}
	page := make([]forYouItem, len(items))
	for i, it := range items {
		page[i] = forYouItem{Item: it, Explain: why[it.ID]}
	}
	var next string
	if len(ids) == limit {
		next = encodeCursor(forYouCursor{Seen: joinSeen(seen, ids)})
	}
	apierr.WriteJSON(w, http.StatusOK, List[forYouItem]{Items: page, NextCursor: next})
	s.servedForYou(p.UserID, items)
	return nil
}
