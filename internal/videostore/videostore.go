// Package videostore does to a video's objects as a whole what the tiers that own a video
// need done: the pipeline when it finds its video deleted, the feed when its owner deletes it.
// The names are internal/layout's; this package only walks them in the object store.
package videostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

// Delete removes every object of video id from store: its presentation (videos/{id}/..., every
// generation), its source (sources/{id}) and, unless keepPrivate, its private marker. It
// deletes master.m3u8 first, so that no playlist ever names a deleted object, and the private
// marker last, so that no object of a private video is ever served as public while the others
// go; keepPrivate leaves the marker for whoever may still write under the video (a transcode
// under way) to delete with the rest. Missing objects are not an error, and Delete can run
// again after a failure. It returns how many objects it deleted.
func Delete(ctx context.Context, store storage.Store, id string, keepPrivate bool) (int, error) {
	prefix := layout.VideoPrefix(id)
	n := 0
	del := func(key string) error {
		if err := store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("videostore: deleting %s: %w", key, err)
		}
		n++
		return nil
	}
	var keys []string
	err := store.List(ctx, prefix, func(info storage.Info) error {
		if k := info.Key; k != prefix+layout.Master && k != prefix+layout.PrivateMarker {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("videostore: listing %s: %w", prefix, err)
	}
	if _, err := store.Stat(ctx, prefix+layout.Master); err == nil {
		keys = append([]string{prefix + layout.Master}, keys...)
	}
	if _, err := store.Stat(ctx, layout.SourceKey(id)); err == nil {
		keys = append(keys, layout.SourceKey(id))
	}
	if !keepPrivate {
		if _, err := store.Stat(ctx, prefix+layout.PrivateMarker); err == nil {
			keys = append(keys, prefix+layout.PrivateMarker)
		}
	}
	for _, k := range keys {
		if err := del(k); err != nil {
			return n, err
		}
	}
	return n, nil
}
