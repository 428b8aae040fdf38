package db

import (
	"errors"
	"slices"
	"testing"
)

func TestVideos(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx := t.Context()
		u, err := d.CreateUser(ctx, "ann", "hash")
		if err != nil {
			t.Fatal(err)
		}
		in := Video{ID: "vid1", UserID: u.ID, Caption: "hello #Cats #dogs", Visibility: "public",
			Filename: "a.mp4", SourceSize: 1234, Hashtags: []string{"cats", "dogs"}}
		v, err := d.CreateVideo(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != VideoProcessing || v.Caption != in.Caption || !slices.Equal(v.Hashtags, in.Hashtags) || v.CreatedAt.IsZero() {
			t.Fatalf("created %+v", v)
		}
		// A retried hand-over changes nothing.
		if again, err := d.CreateVideo(ctx, Video{ID: "vid1", UserID: u.ID, Caption: "other"}); err != nil || again.Caption != in.Caption {
			t.Fatalf("second create: %+v, %v", again, err)
		}
		if err := d.SetVideoProgress(ctx, "vid1", 42); err != nil {
			t.Fatal(err)
		}
		if v, _ := d.VideoByID(ctx, "vid1"); v.Progress != 42 || !v.PlayableAt.IsZero() {
			t.Fatalf("progress %d, playable at %v", v.Progress, v.PlayableAt)
		}
		// Playable: the first time is kept; withdrawn, it is cleared.
		for _, playable := range []bool{true, false, true, true} {
			before, _ := d.VideoByID(ctx, "vid1")
			if err := d.SetVideoPlayable(ctx, "vid1", playable); err != nil {
				t.Fatal(err)
			}
			after, _ := d.VideoByID(ctx, "vid1")
			switch {
			case after.PlayableAt.IsZero() == playable:
				t.Fatalf("SetVideoPlayable(%v): playable at %v", playable, after.PlayableAt)
			case playable && !before.PlayableAt.IsZero() && !after.PlayableAt.Equal(before.PlayableAt):
				t.Fatalf("playable again moved the first time from %v to %v", before.PlayableAt, after.PlayableAt)
			}
		}
		p := Published{DurationMS: 4000, Width: 720, Height: 1280, Renditions: `[{"name":"720p"}]`}
		if err := d.SetVideoReady(ctx, "vid1", p); err != nil {
			t.Fatal(err)
		}
		v, _ = d.VideoByID(ctx, "vid1")
		if v.Status != VideoReady || v.Progress != 100 || v.DurationMS != 4000 || v.Width != 720 || v.Renditions != p.Renditions || v.PublishedAt.IsZero() {
			t.Fatalf("ready %+v", v)
		}
		if err := d.SetVideoReady(ctx, "vid1", p); err != nil {
			t.Fatalf("publishing again: %v", err)
		}
		if err := d.SetVideoFailed(ctx, "vid1", "x", "too late"); !errors.Is(err, ErrConflict) {
			t.Fatalf("failing a ready video: %v, want ErrConflict", err)
		}
		if err := d.SetVideoFailed(ctx, "nope", "x", "y"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("failing a missing video: %v, want ErrNotFound", err)
		}

		if _, err := d.CreateVideo(ctx, Video{ID: "vid2", UserID: u.ID, Visibility: "private"}); err != nil {
			t.Fatal(err)
		}
		if err := d.SetVideoFailed(ctx, "vid2", "undecodable", "the file is damaged"); err != nil {
			t.Fatal(err)
		}
		if v, _ := d.VideoByID(ctx, "vid2"); v.Status != VideoFailed || v.ErrorCode != "undecodable" || v.Error == "" {
			t.Fatalf("failed %+v", v)
		}
		if _, err := d.VideoByID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing video: %v", err)
		}
	})
}
