package feed

import (
	"fmt"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// newUser creates a user straight in s's accounts (no password hashing) and returns its id
// and a bearer token.
func newUser(t *testing.T, s *Service, handle string) (int64, string) {
	t.Helper()
	u, err := s.accounts.CreateUser(t.Context(), handle, "h")
	if err != nil {
		t.Fatal(err)
	}
	token, hash := auth.NewToken()
	if err := s.accounts.CreateToken(t.Context(), hash, u.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return u.ID, token
}

// newVideo stores a ready video of owner's with caption and hashtags and returns its id.
func newVideo(t *testing.T, s *Service, owner int64, vis video.Visibility, caption string, tags ...string) string {
	t.Helper()
	id := videoid.New()
	putVideo(t, s.db, id, owner, video.Ready, vis, fmt.Sprintf("published_at = %d", time.Now().UnixMilli()))
	if _, err := s.db.Exec(t.Context(), `DELETE FROM video_hashtags WHERE video_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(t.Context(), `UPDATE videos SET caption = $1 WHERE id = $2`, caption, id); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if _, err := s.db.Exec(t.Context(), `INSERT INTO video_hashtags (video_id, tag) VALUES ($1, $2)`, id, tag); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// eventually polls cond until it holds, failing the test after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 60s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
