package db

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestUploads(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		owner, err := d.CreateUser(ctx, "uploader", "h")
		if err != nil {
			t.Fatal(err)
		}
		expires := c.now().Add(time.Hour)
		u, err := d.CreateUpload(ctx, Upload{ID: "up1", UserID: owner.ID, Length: 10, Metadata: "filename YS5tcDQ=", ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		want := Upload{ID: "up1", UserID: owner.ID, Length: 10, Metadata: "filename YS5tcDQ=", State: UploadReceiving,
			CreatedAt: c.now(), UpdatedAt: c.now(), ExpiresAt: expires}
		if u != want {
			t.Fatalf("CreateUpload = %+v, want %+v", u, want)
		}
		if got, err := d.UploadByID(ctx, "up1"); err != nil || got != want {
			t.Fatalf("UploadByID = %+v, %v; want %+v", got, err, want)
		}
		if _, err := d.CreateUpload(ctx, Upload{ID: "up1", UserID: owner.ID, Length: 1, ExpiresAt: expires}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("same id twice: err = %v, want ErrDuplicate", err)
		}
		if _, err := d.CreateUpload(ctx, Upload{ID: "orphan", UserID: owner.ID + 1000, Length: 1, ExpiresAt: expires}); err == nil {
			t.Error("upload of a missing user was stored: foreign key not enforced")
		}
		if _, err := d.UploadByID(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("UploadByID(missing): err = %v, want ErrNotFound", err)
		}

		// Offsets move forward only from the offset the caller saw, never past the length.
		c.add(time.Minute)
		later := c.now().Add(time.Hour)
		for _, tc := range []struct {
			from, to int64
			want     error
		}{
			{1, 4, ErrConflict},  // stale offset
			{0, 11, ErrConflict}, // past the length
		} {
			if _, err := d.AdvanceUpload(ctx, "up1", tc.from, tc.to, later); !errors.Is(err, tc.want) {
				t.Errorf("AdvanceUpload(%d→%d): err = %v, want %v", tc.from, tc.to, err, tc.want)
			}
		}
		if _, err := d.AdvanceUpload(ctx, "missing", 0, 1, later); !errors.Is(err, ErrNotFound) {
			t.Errorf("AdvanceUpload(missing): err = %v, want ErrNotFound", err)
		}
		u, err = d.AdvanceUpload(ctx, "up1", 0, 4, later)
		if err != nil || u.Offset != 4 || u.State != UploadReceiving || !u.ExpiresAt.Equal(later) || !u.UpdatedAt.Equal(c.now()) {
			t.Fatalf("AdvanceUpload(0→4) = %+v, %v", u, err)
		}
		if _, err := d.DeclareUploadLength(ctx, "up1", 20); !errors.Is(err, ErrConflict) {
			t.Errorf("declaring a known length: err = %v, want ErrConflict", err)
		}
		u, err = d.AdvanceUpload(ctx, "up1", 4, 10, later)
		if err != nil || u.Offset != 10 || u.State != UploadFinished {
			t.Fatalf("AdvanceUpload(4→10) = %+v, %v; want finished", u, err)
		}
		if _, err := d.AdvanceUpload(ctx, "up1", 10, 10, later); !errors.Is(err, ErrConflict) {
			t.Errorf("advancing a finished upload: err = %v, want ErrConflict", err)
		}

		// State changes are compare-and-set.
		if _, err := d.SetUploadState(ctx, "up1", UploadReceiving, UploadTerminated, "", ""); !errors.Is(err, ErrConflict) {
			t.Errorf("SetUploadState from the wrong state: err = %v, want ErrConflict", err)
		}
		if _, err := d.SetUploadState(ctx, "missing", UploadReceiving, UploadTerminated, "", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetUploadState(missing): err = %v, want ErrNotFound", err)
		}
		u, err = d.SetUploadState(ctx, "up1", UploadFinished, UploadRejected, "not_a_video", "no video stream")
		if err != nil || u.State != UploadRejected || u.ReasonCode != "not_a_video" || u.Reason != "no video stream" {
			t.Fatalf("SetUploadState = %+v, %v", u, err)
		}

		// An empty upload is finished at once.
		if u, err := d.CreateUpload(ctx, Upload{ID: "empty", UserID: owner.ID, ExpiresAt: expires}); err != nil || u.State != UploadFinished {
			t.Errorf("empty upload = %+v, %v; want finished", u, err)
		}
	})
}

func TestUploadDeferredLength(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		owner, err := d.CreateUser(ctx, "streamer", "h")
		if err != nil {
			t.Fatal(err)
		}
		exp := c.now().Add(time.Hour)
		u, err := d.CreateUpload(ctx, Upload{ID: "def", UserID: owner.ID, LengthDeferred: true, ExpiresAt: exp})
		if err != nil || !u.LengthDeferred || u.Length != 0 || u.State != UploadReceiving {
			t.Fatalf("CreateUpload(deferred) = %+v, %v", u, err)
		}
		if u, err = d.AdvanceUpload(ctx, "def", 0, 1000, exp); err != nil || u.Offset != 1000 || u.State != UploadReceiving {
			t.Fatalf("AdvanceUpload without a length = %+v, %v", u, err)
		}
		if _, err := d.DeclareUploadLength(ctx, "def", 999); !errors.Is(err, ErrConflict) {
			t.Errorf("length below the offset: err = %v, want ErrConflict", err)
		}
		if _, err := d.DeclareUploadLength(ctx, "missing", 5); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeclareUploadLength(missing): err = %v, want ErrNotFound", err)
		}
		if u, err = d.DeclareUploadLength(ctx, "def", 1500); err != nil || u.LengthDeferred || u.Length != 1500 || u.State != UploadReceiving {
			t.Fatalf("DeclareUploadLength(1500) = %+v, %v", u, err)
		}
		if u, err = d.AdvanceUpload(ctx, "def", 1000, 1500, exp); err != nil || u.State != UploadFinished {
			t.Fatalf("AdvanceUpload to the declared length = %+v, %v", u, err)
		}

		// Declaring a length equal to the offset finishes the upload.
		if _, err := d.CreateUpload(ctx, Upload{ID: "def2", UserID: owner.ID, LengthDeferred: true, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.AdvanceUpload(ctx, "def2", 0, 7, exp); err != nil {
			t.Fatal(err)
		}
		if u, err = d.DeclareUploadLength(ctx, "def2", 7); err != nil || u.State != UploadFinished || u.Length != 7 {
			t.Fatalf("DeclareUploadLength(offset) = %+v, %v; want finished", u, err)
		}
	})
}

func TestUploadGarbage(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		owner, err := d.CreateUser(ctx, "gc", "h")
		if err != nil {
			t.Fatal(err)
		}
		start := c.now()
		create := func(id string, expires time.Duration) {
			t.Helper()
			if _, err := d.CreateUpload(ctx, Upload{ID: id, UserID: owner.ID, Length: 5, ExpiresAt: start.Add(expires)}); err != nil {
				t.Fatal(err)
			}
		}
		create("soon", time.Minute)
		create("sooner", 30*time.Second)
		create("later", time.Hour)
		create("done", time.Second)
		if _, err := d.AdvanceUpload(ctx, "done", 0, 5, start.Add(time.Second)); err != nil {
			t.Fatal(err)
		}

		ids := func(list []Upload) []string {
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
			list, err := d.ExpiredUploads(ctx, start.Add(tc.at), tc.limit)
			if err != nil || !slices.Equal(ids(list), tc.want) {
				t.Errorf("ExpiredUploads(+%v, %d) = %v, %v; want %v", tc.at, tc.limit, ids(list), err, tc.want)
			}
		}
		if list, err := d.UploadsInState(ctx, UploadFinished, 10); err != nil || !slices.Equal(ids(list), []string{"done"}) {
			t.Errorf("UploadsInState(finished) = %v, %v", ids(list), err)
		}

		if _, err := d.SetUploadState(ctx, "sooner", UploadReceiving, UploadExpired, "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SetUploadState(ctx, "done", UploadFinished, UploadComplete, "", ""); err != nil {
			t.Fatal(err)
		}
		c.add(time.Hour)
		if _, err := d.SetUploadState(ctx, "soon", UploadReceiving, UploadTerminated, "", ""); err != nil {
			t.Fatal(err)
		}
		// Only terminal uploads last updated before the cut-off go; receiving ones stay.
		purged, err := d.PurgeUploads(ctx, c.now())
		slices.Sort(purged)
		if err != nil || !slices.Equal(purged, []string{"done", "sooner"}) {
			t.Fatalf("PurgeUploads = %v, %v; want [done sooner]", purged, err)
		}
		for id, want := range map[string]error{"done": ErrNotFound, "sooner": ErrNotFound, "soon": nil, "later": nil} {
			if _, err := d.UploadByID(ctx, id); !errors.Is(err, want) {
				t.Errorf("after purge, UploadByID(%s): err = %v, want %v", id, err, want)
			}
		}
	})
}
