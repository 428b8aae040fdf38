package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	benchfeed "github.com/reelay/reelay/bench/feed"
	"github.com/reelay/reelay/bench/swipesim/world"
	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
)

// accounts maps the world's people to the database's: world user and creator ids to user
// ids and handles, and the tokens the simulated players and probers send.
type accounts struct {
	ids     map[int64]int64  // world id → database id
	handles map[int64]string // database id → handle
	tokens  map[int64]string // database id → bearer token (users and probers)
	probers []int64          // database ids of the feedback probes' users
}

// handle names the world's user or creator id in the database.
func handle(w *world.World, id int64) string {
	if id <= int64(len(w.Users)) {
		return "user" + strconv.FormatInt(id, 10)
	}
	return "creator" + strconv.FormatInt(id, 10)
}

// seed fills an empty database with w's people, probers users more, and the videos published
// by then (the catalogue; the uploads after it arrive during the run, see insertVideo), and
// creates a token for every user and prober. presentations[i%len] is video i's presentation.
func seed(ctx context.Context, d *db.DB, w *world.World, probers int, catalogue []world.Video, toReal func(time.Time) time.Time,
	presentations []presentation) (*accounts, error) {
	now := db.Millis(time.Now())
	var names []string
	for _, u := range w.Users {
		names = append(names, handle(w, u.ID))
	}
	for _, c := range w.Creators {
		names = append(names, handle(w, c.ID))
	}
	for i := range probers {
		names = append(names, "probe"+strconv.Itoa(i+1))
	}
	if err := benchfeed.InsertRows(ctx, d, "users (handle, password_hash, created_at)", len(names), func(i int) []any {
		return []any{names[i], "x", now}
	}); err != nil {
		return nil, err
	}
	a := &accounts{ids: map[int64]int64{}, handles: map[int64]string{}, tokens: map[int64]string{}}
	byHandle := map[string]int64{}
	rows, err := d.SQL().QueryContext(ctx, `SELECT id, handle FROM users`)
	if err != nil {
		return nil, fmt.Errorf("e2e: users: %w", err)
	}
	for rows.Next() {
		var id int64
		var h string
		if err := rows.Scan(&id, &h); err != nil {
			rows.Close()
			return nil, fmt.Errorf("e2e: users: %w", err)
		}
		byHandle[h] = id
		a.handles[id] = h
	}
	rows.Close()
	for _, u := range w.Users {
		a.ids[u.ID] = byHandle[handle(w, u.ID)]
	}
	for _, c := range w.Creators {
		a.ids[c.ID] = byHandle[handle(w, c.ID)]
	}
	for i := range probers {
		a.probers = append(a.probers, byHandle["probe"+strconv.Itoa(i+1)])
	}
	type tok struct {
		user int64
		hash []byte
	}
	var toks []tok
	for _, u := range w.Users {
		id := a.ids[u.ID]
		t, hash := auth.NewToken()
		a.tokens[id] = t
		toks = append(toks, tok{id, hash})
	}
	for _, id := range a.probers {
		t, hash := auth.NewToken()
		a.tokens[id] = t
		toks = append(toks, tok{id, hash})
	}
	if err := benchfeed.InsertRows(ctx, d, "tokens (hash, user_id, created_at)", len(toks), func(i int) []any {
		return []any{toks[i].hash, toks[i].user, now}
	}); err != nil {
		return nil, err
	}
	err = benchfeed.InsertRows(ctx, d, `videos (id, user_id, status, caption, visibility, duration_ms, width, height,
		renditions, generation, created_at, updated_at, published_at)`, len(catalogue), func(i int) []any {
		return videoRow(a, catalogue[i], presentations, toReal)
	})
	if err != nil {
		return nil, err
	}
	var tags [][2]string
	for _, v := range catalogue {
		for _, t := range v.Tags {
			tags = append(tags, [2]string{v.ID, t})
		}
	}
	if err := benchfeed.InsertRows(ctx, d, "video_hashtags (video_id, tag)", len(tags), func(i int) []any {
		return []any{tags[i][0], tags[i][1]}
	}); err != nil {
		return nil, err
	}
	_, err = d.Exec(ctx, `ANALYZE`)
	return a, err
}

// videoRow is the videos row of v, a ready public video published at toReal(v.Published).
func videoRow(a *accounts, v world.Video, presentations []presentation, toReal func(time.Time) time.Time) []any {
	p := presentations[v.Index%len(presentations)]
	at := db.Millis(toReal(v.Published))
	caption := "#" + strings.Join(v.Tags, " #")
	return []any{v.ID, a.ids[v.CreatorID], video.Ready, caption, video.Public, v.DurationMS, 540, 960,
		p.renditions, p.generation, at, at, at}
}

// insertVideo publishes a new upload: its row, ready and public, and its hashtags, as the
// pipeline leaves a finished video.
func insertVideo(ctx context.Context, d *db.DB, a *accounts, v world.Video, presentations []presentation, at time.Time) error {
	return d.Tx(ctx, func(tx *sql.Tx) error {
		row := videoRow(a, v, presentations, func(time.Time) time.Time { return at })
		if _, err := tx.ExecContext(ctx, `INSERT INTO videos (id, user_id, status, caption, visibility, duration_ms, width, height,
			renditions, generation, created_at, updated_at, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, row...); err != nil {
			return fmt.Errorf("e2e: new video: %w", err)
		}
		for _, t := range v.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO video_hashtags (video_id, tag) VALUES ($1, $2)`, v.ID, t); err != nil {
				return fmt.Errorf("e2e: new video: %w", err)
			}
		}
		return nil
	})
}
