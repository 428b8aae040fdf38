package videostore

import (
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

func TestDelete(t *testing.T) {
	const id, other = "aaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbb"
	for _, keepPrivate := range []bool{false, true} {
		store, err := storage.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		keys := []string{
			layout.VideoPrefix(id) + layout.Master, layout.VideoPrefix(id) + layout.PrivateMarker,
			layout.VideoPrefix(id) + "gen1aaaa/poster.jpg", layout.VideoPrefix(id) + "gen1aaaa/720p/seg_00001.m4s",
			layout.VideoPrefix(id) + "gen2bbbb/720p/index.m3u8", layout.SourceKey(id),
			layout.VideoPrefix(other) + layout.Master, layout.SourceKey(other),
		}
		for _, k := range keys {
			if _, err := store.Put(ctx, k, strings.NewReader("x"), 1, storage.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := Delete(ctx, store, id, keepPrivate)
		want := 6
		if keepPrivate {
			want = 5
		}
		if err != nil || n != want {
			t.Errorf("keepPrivate %v: Delete = %d, %v; want %d", keepPrivate, n, err, want)
		}
		var left []string
		for _, prefix := range []string{"videos/", "sources/"} {
			store.List(ctx, prefix, func(i storage.Info) error { left = append(left, i.Key); return nil })
		}
		wantLeft := []string{layout.VideoPrefix(other) + layout.Master, layout.SourceKey(other)}
		if keepPrivate {
			wantLeft = append([]string{layout.VideoPrefix(id) + layout.PrivateMarker}, wantLeft...)
		}
		if strings.Join(left, " ") != strings.Join(wantLeft, " ") {
			t.Errorf("keepPrivate %v: left %v, want %v", keepPrivate, left, wantLeft)
		}
		if n, err := Delete(ctx, store, id, keepPrivate); err != nil || n != 0 {
			t.Errorf("again: %d, %v", n, err)
		}
	}
}
