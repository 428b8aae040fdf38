// Package feed benchmarks the feed service's reads on a generated social graph: the Following
// and For You feeds at a fixed request rate, and a creator's publish fan-out. It runs as a Go
// benchmark, which gives it the tests' PostgreSQL (internal/testenv):
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./bench/feed
//	go test -run '^$' -bench 'Feed/postgres' -benchtime 1x ./bench/feed -users 20000 -rate 500
//
// See the flags in feed_test.go. Results go to bench/RESULTS.md by hand.
package feed

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/videoid"
)

// Graph is the size of a generated social graph.
type Graph struct {
	Users   int     // accounts
	Follows int     // follow edges (fewer after duplicates are dropped)
	Videos  int     // ready public videos
	Zipf    float64 // exponent of the followees' popularity
	Days    int     // videos are published over the last Days days
	Seed    uint64
}

// Generated is what Generate made.
type Generated struct {
	Follows     int64   // edges kept
	Celebrities int     // creators above the threshold
	Top         []int64 // user ids by popularity, most followed first (ranks 0..)
	Timelines   int64   // pushed timeline rows
}

// Generate fills an empty reelay database with g: users with power-law followers, follow
// edges, videos, the counters, and the timelines the fan-out would have pushed for creators
// at or under threshold. Users are 1..g.Users in popularity order (user 1 the most followed).
func Generate(ctx context.Context, d *db.DB, g Graph, threshold int, progress func(string)) (Generated, error) {
	var out Generated
	rng := rand.New(rand.NewPCG(g.Seed, 0x5eed))
	now := time.Now()
	// Users.
	if err := InsertRows(ctx, d, "users (handle, password_hash, created_at)", g.Users, func(i int) []any {
		return []any{"user" + strconv.Itoa(i+1), "x", db.Millis(now.Add(-time.Duration(g.Days) * 24 * time.Hour))}
	}); err != nil {
		return out, err
	}
	progress(fmt.Sprintf("%d users", g.Users))
	zipf := rand.NewZipf(rng, g.Zipf, 1, uint64(g.Users-1))
	// Follows: the follower uniform, the followee by popularity; duplicates and self-follows dropped.
	type edge struct{ follower, followee int64 }
	seen := make(map[edge]bool, g.Follows)
	followers := make(map[int64][]int64)
	var edges []edge
	for range g.Follows {
		e := edge{rng.Int64N(int64(g.Users)) + 1, int64(zipf.Uint64()) + 1}
		if e.follower == e.followee || seen[e] {
			continue
		}
		seen[e] = true
		edges = append(edges, e)
		followers[e.followee] = append(followers[e.followee], e.follower)
	}
	out.Follows = int64(len(edges))
	if err := InsertRows(ctx, d, "follows (follower_id, followee_id, created_at)", len(edges), func(i int) []any {
		return []any{edges[i].follower, edges[i].followee, db.Millis(now) - rng.Int64N(int64(g.Days)*86400000)}
	}); err != nil {
		return out, err
	}
	for _, q := range []string{
		`UPDATE users SET follower_count = (SELECT COUNT(*) FROM follows WHERE followee_id = users.id)`,
		`UPDATE users SET following_count = (SELECT COUNT(*) FROM follows WHERE follower_id = users.id)`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			return out, err
		}
	}
	for _, f := range followers {
		if len(f) > threshold {
			out.Celebrities++
		}
	}
	progress(fmt.Sprintf("%d follows, %d creators above %d followers", out.Follows, out.Celebrities, threshold))
	// Videos: by anyone, uniformly (most accounts post now and then; the popular ones are
	// popular for their followers, not their output), so that the pushed timelines hold about
	// Follows rows in all, as a fan-out on publish would make them.
	type vid struct {
		id      string
		creator int64
		at      int64
	}
	vids := make([]vid, g.Videos)
	span := int64(g.Days) * 86400000
	for i := range vids {
		vids[i] = vid{videoid.New(), rng.Int64N(int64(g.Users)) + 1, db.Millis(now) - rng.Int64N(span)}
	}
	if err := InsertRows(ctx, d, `videos (id, user_id, status, caption, visibility, duration_ms, width, height,
		renditions, generation, created_at, updated_at, published_at, view_count, like_count, comment_count, share_count)`, g.Videos, func(i int) []any {
		v := vids[i]
		views := rng.Int64N(10000)
		return []any{v.id, v.creator, "ready", "video " + strconv.Itoa(i) + " #bench", "public", 15000, 1080, 1920,
			"[]", "g1", v.at, v.at, v.at, views, views / 10, views / 50, views / 100}
	}); err != nil {
		return out, err
	}
	progress(fmt.Sprintf("%d videos", g.Videos))
	// What the fan-out pushes: each video of a creator at or under the threshold, to every follower.
	type push struct {
		user int64
		v    *vid
	}
	var pushes []push
	for i := range vids {
		if f := followers[vids[i].creator]; len(f) <= threshold {
			for _, u := range f {
				pushes = append(pushes, push{u, &vids[i]})
			}
		}
	}
	if err := InsertRows(ctx, d, "timelines (user_id, video_id, creator_id, published_at)", len(pushes), func(i int) []any {
		p := pushes[i]
		return []any{p.user, p.v.id, p.v.creator, p.v.at}
	}); err != nil {
		return out, err
	}
	out.Timelines = int64(len(pushes))
	progress(fmt.Sprintf("%d timeline rows", out.Timelines))
	rows, err := d.SQL().QueryContext(ctx, `SELECT id FROM users ORDER BY follower_count DESC, id LIMIT 1000`)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return out, err
		}
		out.Top = append(out.Top, id)
	}
	if err := rows.Err(); err != nil {
		return out, err
	}
	_, err = d.Exec(ctx, `ANALYZE`) // both dialects: fresh statistics for the planner
	return out, err
}

// InsertRows inserts n rows into table (with its column list), values of row i from row(i):
// a few hundred parameters per statement (SQLite looks each "$N" up by name, so a statement of
// thousands of them is slow), many statements per transaction. Duplicates are dropped.
func InsertRows(ctx context.Context, d *db.DB, table string, n int, row func(i int) []any) error {
	const params, statements = 900, 50
	for start := 0; start < n; {
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			for range statements {
				if start >= n {
					return nil
				}
				var b strings.Builder
				b.WriteString("INSERT INTO " + table + " VALUES ")
				var args []any
				i := start
				for ; i < n && len(args) < params; i++ {
					vals := row(i)
					if i > start {
						b.WriteString(", ")
					}
					b.WriteString("(")
					for j := range vals {
						if j > 0 {
							b.WriteString(", ")
						}
						b.WriteString("$" + strconv.Itoa(len(args)+j+1))
					}
					b.WriteString(")")
					args = append(args, vals...)
				}
				b.WriteString(" ON CONFLICT DO NOTHING")
				if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
					return fmt.Errorf("insert into %s: %w", strings.Fields(table)[0], err)
				}
				start = i
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
