package feed

import (
	"testing"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// socialConfig lets tests write more than users may.
var socialConfig = Config{WriteBurst: 10000}

// world is a service for the tests of social actions: its users are made straight in the
// database (no password hashing), everything else goes over HTTP.
type world struct {
	t     *testing.T
	s     *Service
	api   *client
	clock *testenv.Clock
}

func newWorld(t *testing.T, s *Service, api *client) *world {
	w := &world{t: t, s: s, api: api, clock: testenv.NewClock()}
	s.accounts.now = w.clock.Now
	return w
}

// user makes a user and returns their id and a bearer token.
func (w *world) user(handle string) (int64, string) {
	w.t.Helper()
	return newUser(w.t, w.s, handle)
}

// video stores a ready video of owner with visibility vis, and returns its id.
func (w *world) video(owner int64, vis video.Visibility) string {
	w.t.Helper()
	id := videoid.New()
	putVideo(w.t, w.s.db, id, owner, video.Ready, vis, "progress = 100, published_at = 1")
	return id
}

// count returns the value of a query that answers one number.
func (w *world) count(query string, args ...any) int64 {
	w.t.Helper()
	var n int64
	if err := w.s.db.SQL().QueryRowContext(w.t.Context(), query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// userCounts returns a user's follower and following counts.
func (w *world) userCounts(id int64) (followers, following int64) {
	w.t.Helper()
	err := w.s.db.SQL().QueryRowContext(w.t.Context(), `SELECT follower_count, following_count FROM users WHERE id = $1`,
		id).Scan(&followers, &following)
	if err != nil {
		w.t.Fatal(err)
	}
	return followers, following
}

// want checks a response's status and, for an error, its code.
func want(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.errCode() != code {
		t.Fatalf("%s: %d %v, want %d %q", what, r.status, r.body, status, code)
	}
}

// pages follows a list's cursors from path (which has a query) and returns every item.
func (c *client) pages(path, token string) []map[string]any {
	c.t.Helper()
	var all []map[string]any
	cursor := ""
	for range 1000 {
		r := c.do("GET", path+"&cursor="+cursor, token, "")
		if r.status != 200 {
			c.t.Fatalf("GET %s cursor %q: %d %v", path, cursor, r.status, r.body)
		}
		items, _ := r.body["items"].([]any)
		for _, it := range items {
			all = append(all, it.(map[string]any))
		}
		cursor, _ = r.body["next_cursor"].(string)
		if cursor == "" {
			return all
		}
		if len(items) == 0 {
			c.t.Fatalf("GET %s: an empty page with a next cursor", path)
		}
	}
	c.t.Fatalf("GET %s: no last page", path)
	return nil
}

// field returns the values of key in items.
func field(items []map[string]any, key string) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it[key]
	}
	return out
}
