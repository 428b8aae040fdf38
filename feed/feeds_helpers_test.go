package feed

import (
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// feedWorld is a service under test with its database, for the feeds' tests: it writes the
// rows of the social actions (built elsewhere) straight into the tables.
type feedWorld struct {
	t   *testing.T
	s   *Service
	d   *db.DB
	api *client
}

// user creates a user and a token of theirs.
func (w *feedWorld) user(handle string) (int64, string) {
	w.t.Helper()
	return newUser(w.t, w.s, handle)
}

// exec runs a write of the test's own.
func (w *feedWorld) exec(q string, args ...any) {
	w.t.Helper()
	if _, err := w.d.Exec(w.t.Context(), q, args...); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
}

// follow makes follower follow followee, counts included, as the follow endpoint does.
func (w *feedWorld) follow(follower, followee int64) {
	w.t.Helper()
	w.exec(`INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)`, follower, followee, db.Millis(time.Now()))
	w.exec(`UPDATE users SET follower_count = follower_count + 1 WHERE id = $1`, followee)
	w.exec(`UPDATE users SET following_count = following_count + 1 WHERE id = $1`, follower)
}

// unfollow undoes follow.
func (w *feedWorld) unfollow(follower, followee int64) {
	w.t.Helper()
	w.exec(`DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2`, follower, followee)
	w.exec(`UPDATE users SET follower_count = follower_count - 1 WHERE id = $1`, followee)
	w.exec(`UPDATE users SET following_count = following_count - 1 WHERE id = $1`, follower)
}

// publish stores a ready public video of owner published at, with extra columns set (as in
// putVideo), and queues its fan-out as the pipeline does. It returns the video's id.
func (w *feedWorld) publish(owner int64, at time.Time, extra string) string {
	w.t.Helper()
	id := videoid.New()
	vis := video.Public
	putVideo(w.t, w.d, id, owner, video.Ready, vis, "progress = 100")
	w.exec(`UPDATE videos SET published_at = $2 WHERE id = $1`, id, db.Millis(at))
	if extra != "" {
		w.exec(`UPDATE videos SET `+extra+` WHERE id = $1`, id)
	}
	if _, err := w.d.Enqueue(w.t.Context(), video.FanoutJob, []byte(id), db.EnqueueOptions{Key: id}); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// waitFanout waits until the fan-out job of video id is done.
func (w *feedWorld) waitFanout(id string) {
	w.t.Helper()
	w.waitFanoutKey(id)
}

// waitFanoutKey waits until the fan-out job with this key is done.
func (w *feedWorld) waitFanoutKey(id string) {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var state string
		err := w.d.SQL().QueryRowContext(w.t.Context(), `SELECT state FROM jobs WHERE kind = $1 AND job_key = $2`,
			video.FanoutJob, id).Scan(&state)
		if err != nil {
			w.t.Fatalf("fan-out job of %s: %v", id, err)
		}
		if state == db.JobDone {
			return
		}
		if state == db.JobFailed || time.Now().After(deadline) {
			w.t.Fatalf("fan-out job of %s: %s", id, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// timeline returns the users whose timelines hold video id, by id.
func (w *feedWorld) timeline(id string) []int64 {
	w.t.Helper()
	rows, err := w.d.SQL().QueryContext(w.t.Context(), `SELECT user_id FROM timelines WHERE video_id = $1 ORDER BY user_id`, id)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	users := []int64{}
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			w.t.Fatal(err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		w.t.Fatal(err)
	}
	return users
}

// page is one page of a feed as a client reads it: the ids of its items and the next cursor.
func (w *feedWorld) page(path, token string) (ids []string, next string) {
	w.t.Helper()
	r := w.api.do("GET", path, token, "")
	if r.status != 200 {
		w.t.Fatalf("GET %s: %d %v", path, r.status, r.body)
	}
	items, ok := r.body["items"].([]any)
	if !ok {
		w.t.Fatalf("GET %s: no items: %v", path, r.body)
	}
	ids = []string{}
	for _, it := range items {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	next, _ = r.body["next_cursor"].(string)
	return ids, next
}

// all reads a feed (path ends with "?limit=n") to its end, and fails on a repeated video or a
// page short of the limit that is not the last.
func (w *feedWorld) all(path, token string) []string {
	w.t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		w.t.Fatal(err)
	}
	limit, err := strconv.Atoi(u.Query().Get("limit"))
	if err != nil {
		w.t.Fatalf("%s: no limit", path)
	}
	var out []string
	cursor := ""
	for range 100 {
		ids, next := w.page(path+"&cursor="+cursor, token)
		for _, id := range ids {
			if slices.Contains(out, id) {
				w.t.Fatalf("%s: %s twice", path, id)
			}
		}
		out = append(out, ids...)
		if next == "" {
			return out
		}
		if len(ids) != limit {
			w.t.Fatalf("%s: a page of %d before the last", path, len(ids))
		}
		cursor = next
	}
	w.t.Fatalf("%s: no end after 100 pages", path)
	return nil
}

// forEachFeedWorld runs fn on a running service over each database, its For You ranked by
// cfg.Ranker (NewestRanker when nil).
func forEachFeedWorld(t *testing.T, cfg Config, fn func(w *feedWorld)) {
	forEachService(t, cfg, func(t *testing.T, s *Service, api *client) {
		runService(t, s)
		fn(&feedWorld{t: t, s: s, d: s.db, api: api})
	})
}
