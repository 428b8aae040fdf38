package pipeline

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/video"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// forEachDB runs fn against a fresh database of each dialect.
func forEachDB(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	testenv.ForEachDSN(t, func(t *testing.T, dsn string) {
		d, err := db.Open(t.Context(), dsn, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		fn(t, d)
	})
}

// TestVideos writes videos through the pipeline's store and reads them back through the
// feed's catalogue, as the two tiers share them.
func TestVideos(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		u, err := feed.NewAccounts(d).CreateUser(ctx, "ann", "hash")
		if err != nil {
			t.Fatal(err)
		}
		vs, catalog := &videos{d: d, now: time.Now}, feed.NewCatalog(d)
		get := func(id string) feed.Entry {
			t.Helper()
			e, err := catalog.Video(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		in := newVideo{ID: "vid1", UserID: u.ID, Caption: "hello #Cats #dogs", Visibility: video.Public, Filename: "a.mp4", SourceSize: 1234}
		if err := vs.create(ctx, in); err != nil {
			t.Fatal(err)
		}
		v := get("vid1")
		if v.Status != video.Processing || v.Caption != in.Caption || v.Creator != "ann" || !slices.Equal(v.Hashtags, []string{"cats", "dogs"}) ||
			v.CreatedAt.IsZero() || v.Filename != "a.mp4" || v.SourceSize != 1234 {
			t.Fatalf("created %+v", v)
		}
		// A repeated hand-over changes nothing.
		if err := vs.create(ctx, newVideo{ID: "vid1", UserID: u.ID, Caption: "other"}); err != nil || get("vid1").Caption != in.Caption {
			t.Fatalf("second create: %+v, %v", get("vid1"), err)
		}
		if err := vs.setProgress(ctx, "vid1", 42); err != nil {
			t.Fatal(err)
		}
		if v := get("vid1"); v.Progress != 42 || !v.PlayableAt.IsZero() {
			t.Fatalf("progress %d, playable at %v", v.Progress, v.PlayableAt)
		}
		// A retried attempt starts again from 0: the progress shown waits for it to pass 42.
		for _, pct := range []int{0, 15, 42, 50} {
			if err := vs.setProgress(ctx, "vid1", pct); err != nil {
				t.Fatal(err)
			}
			if want := max(pct, 42); get("vid1").Progress != want {
				t.Fatalf("progress after %d%% = %d, want %d", pct, get("vid1").Progress, want)
			}
		}
		// Playable: the first time is kept; withdrawn, it is cleared.
		for _, playable := range []bool{true, false, true, true} {
			before := get("vid1")
			if err := vs.setPlayable(ctx, "vid1", playable); err != nil {
				t.Fatal(err)
			}
			after := get("vid1")
			switch {
			case after.PlayableAt.IsZero() == playable:
				t.Fatalf("setPlayable(%v): playable at %v", playable, after.PlayableAt)
			case playable && !before.PlayableAt.IsZero() && !after.PlayableAt.Equal(before.PlayableAt):
				t.Fatalf("playable again moved the first time from %v to %v", before.PlayableAt, after.PlayableAt)
			}
		}
		p := published{Duration: 4 * time.Second, Width: 720, Height: 1280, Renditions: []video.Rendition{{Name: "720p", Kind: "video", Bandwidth: 2_750_000}}}
		if err := vs.setReady(ctx, "vid1", p); err != nil {
			t.Fatal(err)
		}
		v = get("vid1")
		if v.Status != video.Ready || v.Progress != 100 || v.DurationMS != 4000 || v.Width != 720 || !slices.Equal(v.Renditions, p.Renditions) || v.PublishedAt.IsZero() {
			t.Fatalf("ready %+v", v)
		}
		if err := vs.setReady(ctx, "vid1", p); err != nil {
			t.Fatalf("publishing again: %v", err)
		}
		if err := vs.setFailed(ctx, "vid1", "x", "too late"); !errors.Is(err, db.ErrConflict) {
			t.Fatalf("failing a ready video: %v, want ErrConflict", err)
		}
		if err := vs.setFailed(ctx, "nope", "x", "y"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("failing a missing video: %v, want ErrNotFound", err)
		}

		if err := vs.create(ctx, newVideo{ID: "vid2", UserID: u.ID, Visibility: video.Private}); err != nil {
			t.Fatal(err)
		}
		if st, err := vs.state(ctx, "vid2"); err != nil || st.Status != video.Processing || st.Visibility != video.Private {
			t.Fatalf("state = %+v, %v", st, err)
		}
		if err := vs.setFailed(ctx, "vid2", "undecodable", "the file is damaged"); err != nil {
			t.Fatal(err)
		}
		if v := get("vid2"); v.Status != video.Failed || v.ErrorCode != "undecodable" || v.Error == "" {
			t.Fatalf("failed %+v", v)
		}
		if _, err := catalog.Video(ctx, "nope"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("missing video: %v", err)
		}
		if _, err := vs.state(ctx, "nope"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("state of a missing video: %v", err)
		}
	})
}
