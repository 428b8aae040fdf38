package ingest

import (
	"errors"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/testenv"
)

// TestForget: only an upload that became a video (finished or complete) is forgotten.
func TestForget(t *testing.T) {
	forEachStore(t, func(t *testing.T, d *db.DB, s *Uploads, c *testenv.Clock) {
		ctx := t.Context()
		owner, err := feed.NewAccounts(d).CreateUser(ctx, "uploader", "h")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			state  string
			forgot bool
		}{
			{stateReceiving, false}, {stateFinished, true}, {stateComplete, true}, {stateRejected, false}, {stateTerminated, false},
		} {
			id := "up-" + tc.state
			if _, err := s.create(ctx, upload{ID: id, UserID: owner.ID, Length: 10, ExpiresAt: c.Now().Add(time.Hour)}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec(ctx, `UPDATE uploads SET state = $2 WHERE id = $1`, id, tc.state); err != nil {
				t.Fatal(err)
			}
			if err := s.Forget(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.UploadProgress(ctx, id); errors.Is(err, db.ErrNotFound) != tc.forgot {
				t.Errorf("%s: UploadProgress after Forget: %v; forgotten %v", tc.state, err, tc.forgot)
			}
		}
		if err := s.Forget(ctx, "missing"); err != nil {
			t.Errorf("Forget(missing): %v", err)
		}
	})
}
