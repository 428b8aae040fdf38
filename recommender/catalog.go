package recommender

import (
	"context"
	"fmt"
	"slices"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
)

// pickable is the condition of the videos the recommender may pick, on videos v.
const pickable = `v.status = $1 AND v.visibility = $2 AND v.hidden = 0 AND v.published_at IS NOT NULL`

// ensureLoaded reads the catalogue unless it was read already.
func (r *Ranker) ensureLoaded(ctx context.Context) error {
	if r.loaded.Load() {
		return nil
	}
	return r.refresh(ctx)
}

// refresh reads the pickable videos and tells the model what changed since the last read:
// the new and changed videos are Upserted, the ones gone Removed.
func (r *Ranker) refresh(ctx context.Context) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	now, err := r.read(ctx)
	if err != nil {
		return err
	}
	for id, v := range now {
		if old, ok := r.catalog[id]; !ok || !sameVideo(old, v) {
			r.model.Upsert(v)
		}
	}
	for id := range r.catalog {
		if _, ok := now[id]; !ok {
			r.model.Remove(id)
		}
	}
	r.catalog = now
	r.metrics.catalog.Set(float64(len(now)))
	r.loaded.Store(true)
	return nil
}

// read returns the pickable videos, with their hashtags.
func (r *Ranker) read(ctx context.Context) (map[string]Video, error) {
	rows, err := r.db.SQL().QueryContext(ctx, `SELECT v.id, v.user_id, v.duration_ms, v.published_at FROM videos v WHERE `+pickable,
		video.Ready, video.Public)
	if err != nil {
		return nil, fmt.Errorf("recommender: catalogue: %w", err)
	}
	defer rows.Close()
	out := make(map[string]Video, len(r.catalog)+16)
	for rows.Next() {
		var v Video
		var published int64
		if err := rows.Scan(&v.ID, &v.Creator, &v.DurationMS, &published); err != nil {
			return nil, fmt.Errorf("recommender: catalogue: %w", err)
		}
		v.Published = db.Time(published)
		out[v.ID] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recommender: catalogue: %w", err)
	}
	rows.Close()
	tags, err := r.db.SQL().QueryContext(ctx, `SELECT h.video_id, h.tag FROM video_hashtags h JOIN videos v ON v.id = h.video_id
		WHERE `+pickable+` ORDER BY h.video_id, h.tag`, video.Ready, video.Public)
	if err != nil {
		return nil, fmt.Errorf("recommender: catalogue: %w", err)
	}
	defer tags.Close()
	for tags.Next() {
		var id, tag string
		if err := tags.Scan(&id, &tag); err != nil {
			return nil, fmt.Errorf("recommender: catalogue: %w", err)
		}
		if v, ok := out[id]; ok {
			v.Tags = append(v.Tags, tag)
			out[id] = v
		}
	}
	if err := tags.Err(); err != nil {
		return nil, fmt.Errorf("recommender: catalogue: %w", err)
	}
	return out, nil
}

func sameVideo(a, b Video) bool {
	return a.ID == b.ID && a.Creator == b.Creator && a.DurationMS == b.DurationMS && a.Published.Equal(b.Published) && slices.Equal(a.Tags, b.Tags)
}
