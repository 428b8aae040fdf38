package feed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
)

// Profile is the JSON of GET /v1/users/{handle}, and of PATCH /v1/me.
type Profile struct {
	Handle         string `json:"handle"`
	DisplayName    string `json:"display_name"`
	Bio            string `json:"bio"`
	AvatarURL      string `json:"avatar_url"` // "" when the user has none
	FollowerCount  int64  `json:"follower_count"`
	FollowingCount int64  `json:"following_count"`
	// VideoCount is how many of the user's videos the viewer can list
	// (GET /v1/users/{handle}/videos): the ready public ones that are not hidden by reports,
	// and for the user themself (and the admin) every ready one, unlisted and private too.
	VideoCount int64     `json:"video_count"`
	CreatedAt  time.Time `json:"created_at"`
	Following  bool      `json:"following"` // the viewer follows the user; false without a token
}

// Limits of a profile's text.
const (
	maxDisplayNameRunes = 50
	maxBioRunes         = 300
)

var (
	errNoProfile  = errors.New("feed: no such user")
	errBadDisplay = apierr.Errorf(http.StatusBadRequest, "invalid_display_name",
		"a display name is at most %d characters, without control characters", maxDisplayNameRunes)
	errBadBio = apierr.Errorf(http.StatusBadRequest, "invalid_bio",
		"a bio is at most %d characters, without control characters but line breaks", maxBioRunes)
)

// profile returns the profile of the user with handle (already normalised) as viewer sees it,
// or errNoProfile.
func (s *Service) profile(ctx context.Context, viewer auth.Principal, handle string) (Profile, error) {
	var p Profile
	var id, created int64
	var avatar string
	admin := 0
	if viewer.Admin {
		admin = 1
	}
	err := s.db.SQL().QueryRowContext(ctx, `SELECT u.id, u.handle, u.display_name, u.bio, u.avatar, u.follower_count,
		u.following_count, u.created_at,
		(SELECT COUNT(*) FROM videos v WHERE v.user_id = u.id AND v.status = $4
			AND (u.id = $2 OR $3 = 1 OR (v.visibility = $5 AND v.hidden = 0))),
		EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $2 AND f.followee_id = u.id)
		FROM users u WHERE u.handle = $1`, handle, viewer.UserID, admin, video.Ready, video.Public).Scan(
		&id, &p.Handle, &p.DisplayName, &p.Bio, &avatar, &p.FollowerCount, &p.FollowingCount, &created,
		&p.VideoCount, &p.Following)
	if errors.Is(err, sql.ErrNoRows) {
		return Profile{}, errNoProfile
	}
	if err != nil {
		return Profile{}, fmt.Errorf("feed: profile %s: %w", handle, err)
	}
	p.AvatarURL = s.avatarURL(avatar)
	p.CreatedAt = db.Time(created).UTC()
	return p, nil
}

// getProfile answers GET /v1/users/{handle}.
func (s *Service) getProfile(w http.ResponseWriter, r *http.Request) error {
	handle, err := NormalizeHandle(r.PathValue("handle"))
	if err != nil {
		return errNoUser
	}
	viewer, _ := auth.FromContext(r.Context())
	p, err := s.profile(r.Context(), viewer, handle)
	if errors.Is(err, errNoProfile) {
		return errNoUser
	}
	if err != nil {
		return err
	}
	apierr.WriteJSON(w, http.StatusOK, p)
	return nil
}

// profileEdit is the body of PATCH /v1/me: a field that is absent or null stays as it is.
type profileEdit struct {
	DisplayName *string `json:"display_name"`
	Bio         *string `json:"bio"`
}

// validate checks the fields given.
func (e profileEdit) validate() error {
	if e.DisplayName != nil && !validText(*e.DisplayName, maxDisplayNameRunes, false) {
		return errBadDisplay
	}
	if e.Bio != nil && !validText(*e.Bio, maxBioRunes, true) {
		return errBadBio
	}
	return nil
}

// validText reports whether s is valid UTF-8 of at most max characters without control
// characters, but line breaks ("\n") when multiline.
func validText(s string, max int, multiline bool) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && r == '\n')
	})
}

// patchMe answers PATCH /v1/me with the edited profile.
func (s *Service) patchMe(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context()) // a user's: see userOnly
	var e profileEdit
	if err := apierr.DecodeJSON(r, &e, 0); err != nil {
		return err
	}
	if err := e.validate(); err != nil {
		return err
	}
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	var name, bio sql.NullString
	if e.DisplayName != nil {
		name = sql.NullString{String: *e.DisplayName, Valid: true}
	}
	if e.Bio != nil {
		bio = sql.NullString{String: *e.Bio, Valid: true}
	}
	if _, err := s.db.Exec(r.Context(), `UPDATE users SET display_name = COALESCE($2, display_name),
		bio = COALESCE($3, bio) WHERE id = $1`, p.UserID, name, bio); err != nil {
		return fmt.Errorf("feed: editing the profile of %d: %w", p.UserID, err)
	}
	out, err := s.profile(r.Context(), p, p.Handle)
	if err != nil {
		return err
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}
