package ingest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/testenv"
)

func TestUploads(t *testing.T) {
	forEachStore(t, func(t *testing.T, d *db.DB, s *Uploads, c *testenv.Clock) {
		ctx := t.Context()
		owner, err := feed.NewAccounts(d).CreateUser(ctx, "uploader", "h")
		if err != nil {
			t.Fatal(err)
		}
		expires := c.Now().Add(time.Hour)
		u, err := s.create(ctx, upload{ID: "up1", UserID: owner.ID, Length: 10, Metadata: "filename YS5tcDQ=", ExpiresAt: expires}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := upload{ID: "up1", UserID: owner.ID, Length: 10, Metadata: "filename YS5tcDQ=", State: stateReceiving,
			CreatedAt: c.Now(), UpdatedAt: c.Now(), ExpiresAt: expires}
		if u != want {
			t.Fatalf("CreateUpload = %+v, want %+v", u, want)
		}
		if got, err := s.get(ctx, "up1"); err != nil || got != want {
			t.Fatalf("UploadByID = %+v, %v; want %+v", got, err, want)
		}
		if _, err := s.create(ctx, upload{ID: "up1", UserID: owner.ID, Length: 1, ExpiresAt: expires}, nil); !errors.Is(err, db.ErrDuplicate) {
			t.Errorf("same id twice: err = %v, want db.ErrDuplicate", err)
		}
		if _, err := s.create(ctx, upload{ID: "orphan", UserID: owner.ID + 1000, Length: 1, ExpiresAt: expires}, nil); err == nil {
			t.Error("upload of a missing user was stored: foreign key not enforced")
		}
		if _, err := s.get(ctx, "missing"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("UploadByID(missing): err = %v, want db.ErrNotFound", err)
		}

		// Offsets move forward only from the offset the caller saw, never past the length.
		c.Add(time.Minute)
		later := c.Now().Add(time.Hour)
		for _, tc := range []struct {
			from, to int64
			want     error
		}{
			{1, 4, db.ErrConflict},  // stale offset
			{0, 11, db.ErrConflict}, // past the length
		} {
			if _, err := s.advance(ctx, "up1", tc.from, tc.to, later); !errors.Is(err, tc.want) {
				t.Errorf("AdvanceUpload(%d→%d): err = %v, want %v", tc.from, tc.to, err, tc.want)
			}
		}
		if _, err := s.advance(ctx, "missing", 0, 1, later); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("AdvanceUpload(missing): err = %v, want db.ErrNotFound", err)
		}
		u, err = s.advance(ctx, "up1", 0, 4, later)
		if err != nil || u.Offset != 4 || u.State != stateReceiving || !u.ExpiresAt.Equal(later) || !u.UpdatedAt.Equal(c.Now()) {
			t.Fatalf("AdvanceUpload(0→4) = %+v, %v", u, err)
		}
		if _, err := s.declareLength(ctx, "up1", 20); !errors.Is(err, db.ErrConflict) {
			t.Errorf("declaring a known length: err = %v, want db.ErrConflict", err)
		}
		u, err = s.advance(ctx, "up1", 4, 10, later)
		if err != nil || u.Offset != 10 || u.State != stateFinished {
			t.Fatalf("AdvanceUpload(4→10) = %+v, %v; want finished", u, err)
		}
		if _, err := s.advance(ctx, "up1", 10, 10, later); !errors.Is(err, db.ErrConflict) {
			t.Errorf("advancing a finished upload: err = %v, want db.ErrConflict", err)
		}

		// State changes are compare-and-set.
		if _, err := s.setState(ctx, "up1", stateReceiving, stateTerminated, "", ""); !errors.Is(err, db.ErrConflict) {
			t.Errorf("SetUploadState from the wrong state: err = %v, want db.ErrConflict", err)
		}
		if _, err := s.setState(ctx, "missing", stateReceiving, stateTerminated, "", ""); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("SetUploadState(missing): err = %v, want db.ErrNotFound", err)
		}
		u, err = s.setState(ctx, "up1", stateFinished, stateRejected, "not_a_video", "no video stream")
		if err != nil || u.State != stateRejected || u.ReasonCode != "not_a_video" || u.Reason != "no video stream" {
			t.Fatalf("SetUploadState = %+v, %v", u, err)
		}

		// An empty upload is finished at once.
		if u, err := s.create(ctx, upload{ID: "empty", UserID: owner.ID, ExpiresAt: expires}, nil); err != nil || u.State != stateFinished {
			t.Errorf("empty upload = %+v, %v; want finished", u, err)
		}
	})
}

func TestUploadDeferredLength(t *testing.T) {
	forEachStore(t, func(t *testing.T, d *db.DB, s *Uploads, c *testenv.Clock) {
		ctx := t.Context()
		owner, err := feed.NewAccounts(d).CreateUser(ctx, "streamer", "h")
		if err != nil {
			t.Fatal(err)
		}
		exp := c.Now().Add(time.Hour)
		u, err := s.create(ctx, upload{ID: "def", UserID: owner.ID, LengthDeferred: true, ExpiresAt: exp}, nil)
		if err != nil || !u.LengthDeferred || u.Length != 0 || u.State != stateReceiving {
			t.Fatalf("CreateUpload(deferred) = %+v, %v", u, err)
		}
		if u, err = s.advance(ctx, "def", 0, 1000, exp); err != nil || u.Offset != 1000 || u.State != stateReceiving {
			t.Fatalf("AdvanceUpload without a length = %+v, %v", u, err)
		}
		if _, err := s.declareLength(ctx, "def", 999); !errors.Is(err, db.ErrConflict) {
			t.Errorf("length below the offset: err = %v, want db.ErrConflict", err)
		}
		if _, err := s.declareLength(ctx, "missing", 5); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("DeclareUploadLength(missing): err = %v, want db.ErrNotFound", err)
		}
		if u, err = s.declareLength(ctx, "def", 1500); err != nil || u.LengthDeferred || u.Length != 1500 || u.State != stateReceiving {
			t.Fatalf("DeclareUploadLength(1500) = %+v, %v", u, err)
		}
		if u, err = s.advance(ctx, "def", 1000, 1500, exp); err != nil || u.State != stateFinished {
			t.Fatalf("AdvanceUpload to the declared length = %+v, %v", u, err)
		}

		// Declaring a length equal to the offset finishes the upload.
		if _, err := s.create(ctx, upload{ID: "def2", UserID: owner.ID, LengthDeferred: true, ExpiresAt: exp}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.advance(ctx, "def2", 0, 7, exp); err != nil {
			t.Fatal(err)
		}
		if u, err = s.declareLength(ctx, "def2", 7); err != nil || u.State != stateFinished || u.Length != 7 {
			t.Fatalf("DeclareUploadLength(offset) = %+v, %v; want finished", u, err)
		}
	})
}

func TestUploadGarbage(t *testing.T) {
	forEachStore(t, func(t *testing.T, d *db.DB, s *Uploads, c *testenv.Clock) {
		ctx := t.Context()
		owner, err := feed.NewAccounts(d).CreateUser(ctx, "gc", "h")
		if err != nil {
			t.Fatal(err)
		}
		start := c.Now()
		create := func(id string, expires time.Duration) {
			t.Helper()
			if _, err := s.create(ctx, upload{ID: id, UserID: owner.ID, Length: 5, ExpiresAt: start.Add(expires)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		create("soon", time.Minute)
		create("sooner", 30*time.Second)
		create("later", time.Hour)
		create("done", time.Second)
		if _, err := s.advance(ctx, "done", 0, 5, start.Add(time.Second)); err != nil {
			t.Fatal(err)
		}

		ids := func(list []upload) []string {
			var s []string
			for _, u := range list {
				s = append(s, u.ID)
			}
			return s
		}
		for _, tc := range []struct {
			at    time.Duration
			limit int
			want  []string
		}{
			{0, 10, nil},
			{30 * time.Second, 10, []string{"sooner"}},
			{2 * time.Minute, 10, []string{"sooner", "soon"}},
			{2 * time.Minute, 1, []string{"sooner"}},
		} {
			list, err := s.expired(ctx, start.Add(tc.at), tc.limit)
			if err != nil || !slices.Equal(ids(list), tc.want) {
				t.Errorf("ExpiredUploads(+%v, %d) = %v, %v; want %v", tc.at, tc.limit, ids(list), err, tc.want)
			}
		}
		if list, err := s.inState(ctx, stateFinished, "", 10); err != nil || !slices.Equal(ids(list), []string{"done"}) {
			t.Errorf("UploadsInState(finished) = %v, %v", ids(list), err)
		}

		if _, err := s.setState(ctx, "sooner", stateReceiving, stateExpired, "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.setState(ctx, "done", stateFinished, stateComplete, "", ""); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Hour)
		if _, err := s.setState(ctx, "soon", stateReceiving, stateTerminated, "", ""); err != nil {
			t.Fatal(err)
		}
		// Only terminal uploads last updated before the cut-off go; receiving ones stay.
		purged, err := s.purge(ctx, c.Now())
		slices.Sort(purged)
		if err != nil || !slices.Equal(purged, []string{"done", "sooner"}) {
			t.Fatalf("PurgeUploads = %v, %v; want [done sooner]", purged, err)
		}
		for id, want := range map[string]error{"done": db.ErrNotFound, "sooner": db.ErrNotFound, "soon": nil, "later": nil} {
			if _, err := s.get(ctx, id); !errors.Is(err, want) {
				t.Errorf("after purge, UploadByID(%s): err = %v, want %v", id, err, want)
			}
		}
	})
}

// forEachStore runs fn against the upload store of a fresh database of each dialect, whose
// clock stands still until the test moves it.
func forEachStore(t *testing.T, fn func(t *testing.T, d *db.DB, s *Uploads, c *testenv.Clock)) {
	testenv.ForEachDSN(t, func(t *testing.T, dsn string) {
		d, err := db.Open(t.Context(), dsn, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		s, c := NewUploads(d), testenv.NewClock()
		s.now = c.Now
		fn(t, d, s, c)
	})
}
