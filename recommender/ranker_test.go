package recommender

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
)

const adminToken = "admin-token-for-recommender-tests"

// node is one API process: a feed service ranked by a Ranker, served over HTTP.
type node struct {
	t    *testing.T
	d    *db.DB
	feed *feed.Service
	rank *Ranker
	reg  *prometheus.Registry
	url  string
}

// forEachDB runs fn with a database of each kind.
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

// startNode starts a node over d, as cmd/reelay wires one, and stops it when t ends.
func startNode(t *testing.T, d *db.DB, cfg Config) *node {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	cfg.Logger = slog.New(slog.DiscardHandler)
	rank, err := NewRanker(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := feed.New(feed.Config{PlaybackURL: "http://edge.test", Ranker: rank, EventsPoll: 50 * time.Millisecond}, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	rank.Watch(svc.Events())
	srv := httptest.NewServer(auth.NewAuthenticator(svc.Tokens(), adminToken, nil).Middleware(svc.Handler()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { svc.Run(ctx); done <- struct{}{} }()
	go func() { rank.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		<-done
	})
	return &node{t: t, d: d, feed: svc, rank: rank, reg: reg, url: srv.URL}
}

// newUser creates a user and returns its id and a token.
func newUser(t *testing.T, d *db.DB, handle string) (int64, string) {
	t.Helper()
	a := feed.NewAccounts(d)
	u, err := a.CreateUser(t.Context(), handle, "h")
	if err != nil {
		t.Fatal(err)
	}
	token, hash := auth.NewToken()
	if err := a.CreateToken(t.Context(), hash, u.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return u.ID, token
}

// publish stores a ready public video of owner's, published at, with hashtags.
func publish(t *testing.T, d *db.DB, owner int64, at time.Time, tags ...string) string {
	t.Helper()
	id := videoid.New()
	if _, err := d.Exec(t.Context(), `INSERT INTO videos (id, user_id, status, caption, visibility, duration_ms, created_at, updated_at, published_at)
		VALUES ($1, $2, 'ready', 'hi', 'public', 15000, $3, $3, $3)`, id, owner, db.Millis(at)); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if _, err := d.Exec(t.Context(), `INSERT INTO video_hashtags (video_id, tag) VALUES ($1, $2)`, id, tag); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// do sends a request and decodes the JSON answer.
func (n *node) do(method, path, token, body string) (int, map[string]any) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			n.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

// forYou returns the items of a For You page.
func (n *node) forYou(token, query string) []map[string]any {
	n.t.Helper()
	status, body := n.do("GET", "/v1/feed/foryou?"+query, token, "")
	if status != 200 {
		n.t.Fatalf("For You: %d %v", status, body)
	}
	var out []map[string]any
	for _, it := range body["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// events posts events of token's: type, video.
func (n *node) events(token string, evs ...[2]string) {
	n.t.Helper()
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf(`{"video":%q,"type":%q,"watch_ms":15000,"at":%q}`, e[1], e[0], time.Now().UTC().Format(time.RFC3339Nano)))
	}
	if status, body := n.do("POST", "/v1/events", token, `{"events":[`+strings.Join(parts, ",")+`]}`); status/100 != 2 {
		n.t.Fatalf("POST /v1/events: %d %v", status, body)
	}
}

// waitReady polls until the node's ranker is rebuilt.
func (n *node) waitReady() {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.rank.Ready(n.t.Context()) != nil {
		if time.Now().After(deadline) {
			n.t.Fatal("the ranker is not ready after 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitObserved polls until the node's ranker observed the last event stored.
func (n *node) waitObserved() {
	n.t.Helper()
	var last int64
	if err := n.d.SQL().QueryRow(`SELECT COALESCE(max(id), 0) FROM events`).Scan(&last); err != nil {
		n.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n.rank.last.Load() < last {
		if time.Now().After(deadline) {
			n.t.Fatalf("the ranker observed up to %d, not %d, after 30s", n.rank.last.Load(), last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRankNotInterestedWithinASecond: a not_interested posted through POST /v1/events
// takes the creator's videos off the viewer's next For You page within a second.
func TestRankNotInterestedWithinASecond(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *db.DB) {
		_, token := newUser(t, d, "viewer")
		var creators []int64
		byCreator := map[string]int64{}
		for i := range 4 {
			c, _ := newUser(t, d, fmt.Sprintf("creator%d", i))
			creators = append(creators, c)
			for range 3 {
				byCreator[publish(t, d, c, time.Now().Add(-time.Hour))] = c
			}
		}
		n := startNode(t, d, Config{})
		n.waitReady()
		first := n.forYou(token, "limit=10")
		if len(first) == 0 {
			t.Fatal("an empty first page")
		}
		victim := first[0]["id"].(string)
		gone := byCreator[victim]
		posted := time.Now()
		n.events(token, [2]string{"not_interested", victim})
		for {
			page := n.forYou(token, "limit=10")
			clean := len(page) > 0
			for _, it := range page {
				if byCreator[it["id"].(string)] == gone {
					clean = false
				}
			}
			if clean {
				t.Logf("the creator left the page %v after the POST", time.Since(posted))
				break
			}
			if time.Since(posted) > time.Second {
				t.Fatalf("a second after not_interested, the page still holds creator %d's videos (or is empty): %v", gone, page)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Others still get the creator.
		_, other := newUser(t, d, "other")
		found := false
		for _, it := range n.forYou(other, "limit=20") {
			found = found || byCreator[it["id"].(string)] == gone
		}
		if !found {
			t.Errorf("another viewer does not get creator %d's videos", gone)
		}
	})
}

// TestRankExplainAndVisitor: an admin's explain=1 gives each item its source, score and
// reasons; a visitor's ?visitor= page leaves out what their events show seen.
func TestRankExplainAndVisitor(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *db.DB) {
		var all []string
		for i := range 4 { // 2 each: the rules of diversity let a page have them all
			c, _ := newUser(t, d, fmt.Sprintf("creator%d", i))
			all = append(all, publish(t, d, c, time.Now().Add(-time.Duration(i)*time.Minute), "cats"),
				publish(t, d, c, time.Now().Add(-time.Duration(i)*time.Minute), "dogs"))
		}
		n := startNode(t, d, Config{})
		n.waitReady()
		for _, it := range n.forYou(adminToken, "explain=1&limit=5") {
			ex, ok := it["explain"].(map[string]any)
			if !ok || !slices.Contains([]any{SourceFresh, SourcePopular}, ex["source"]) || len(ex["reasons"].([]any)) == 0 {
				t.Errorf("item %s: explain %v", it["id"], it["explain"])
			}
		}
		if status, _ := n.do("GET", "/v1/feed/foryou?explain=1", "", ""); status != 403 {
			t.Errorf("a visitor's explain=1: %d, want 403", status)
		}
		seen := n.forYou("", "visitor=visitor-0001&limit=1")[0]["id"].(string)
		status, body := n.do("POST", "/v1/events", "", fmt.Sprintf(`{"visitor":"visitor-0001","events":[{"video":%q,"type":"impression","at":%q}]}`,
			seen, time.Now().UTC().Format(time.RFC3339Nano)))
		if status/100 != 2 {
			t.Fatalf("events: %d %v", status, body)
		}
		n.waitObserved()
		for _, it := range n.forYou("", "visitor=visitor-0001&limit=20") {
			if it["id"] == seen {
				t.Errorf("the visitor's seen %s served again", seen)
			}
		}
		if got := n.forYou("", "visitor=visitor-0002&limit=20"); len(got) != len(all) {
			t.Errorf("another visitor: %d videos, want %d", len(got), len(all))
		}
	})
}

// TestRankRebuildEqualsLive: a node that starts after the events were stored, rebuilding its
// model from the events table, recommends what the node that learned them live does.
func TestRankRebuildEqualsLive(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *db.DB) {
		var viewers []string
		var viewerIDs []int64
		for i := range 5 {
			id, token := newUser(t, d, fmt.Sprintf("viewer%d", i))
			viewers, viewerIDs = append(viewers, token), append(viewerIDs, id)
		}
		for i := range 6 {
			c, _ := newUser(t, d, fmt.Sprintf("creator%d", i))
			for j := range 4 {
				publish(t, d, c, time.Now().Add(-time.Duration(48+j)*time.Hour), fmt.Sprintf("tag%d", (i+j)%3))
			}
		}
		live := startNode(t, d, Config{Model: Options{Seed: 7}})
		live.waitReady()
		for round := range 3 {
			for v, token := range viewers {
				page := live.forYou(token, "limit=6")
				var evs [][2]string
				for i, it := range page {
					id := it["id"].(string)
					evs = append(evs, [2]string{"impression", id}, [2]string{"play", id})
					switch (i + v + round) % 3 {
					case 0:
						evs = append(evs, [2]string{"complete", id})
					case 1:
						evs = append(evs, [2]string{"skip", id})
					default:
						evs = append(evs, [2]string{"like", id}, [2]string{"progress", id})
					}
				}
				live.events(token, evs...)
			}
		}
		live.waitObserved()
		rebuilt := startNode(t, d, Config{Model: Options{Seed: 7}})
		rebuilt.waitReady()
		if rebuilt.rank.last.Load() != live.rank.last.Load() {
			t.Fatalf("rebuilt through event %d, live through %d", rebuilt.rank.last.Load(), live.rank.last.Load())
		}
		at := time.Now().Add(time.Hour)
		for _, v := range append(viewerIDs, 0) {
			q := Query{User: v, Limit: 20, Now: at, Explain: true}
			live.rank.model.calls.Store(0)
			rebuilt.rank.model.calls.Store(0)
			a, b := live.rank.model.Recommend(q), rebuilt.rank.model.Recommend(q)
			if len(a) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("viewer %d:\nlive    %v\nrebuilt %v", v, a, b)
			}
		}
	})
}

// metric returns the value of a metric of the node's (a histogram's count), -1 when absent.
func (n *node) metric(name string) float64 {
	n.t.Helper()
	families, err := n.reg.Gather()
	if err != nil {
		n.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		switch {
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return -1
}

// TestRankCatalogue: a video published is a candidate, and one made private or hidden stops
// being one, within the poll; the metrics count the catalogue, the pages and the events.
func TestRankCatalogue(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *db.DB) {
		c, token := newUser(t, d, "creator")
		old := publish(t, d, c, time.Now().Add(-time.Hour))
		n := startNode(t, d, Config{Poll: 20 * time.Millisecond})
		if err := n.rank.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := n.rank.Ready(t.Context()); err != nil {
			t.Fatalf("no events to replay, yet: %v", err)
		}
		_, viewer := newUser(t, d, "viewer")
		waitFor := func(what string, ok func(ids []string) bool) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				var ids []string
				for _, it := range n.forYou(viewer, "limit=10") {
					ids = append(ids, it["id"].(string))
				}
				if ok(ids) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: still %v after 10s", what, ids)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		fresh := publish(t, d, c, time.Now())
		waitFor("a new video", func(ids []string) bool { return slices.Contains(ids, fresh) })
		if _, err := d.Exec(t.Context(), `UPDATE videos SET hidden = 1 WHERE id = $1`, old); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(t.Context(), `UPDATE videos SET visibility = 'private' WHERE id = $1`, fresh); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for n.rank.Model().Len() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d videos pickable after they were hidden and made private", n.rank.Model().Len())
			}
			time.Sleep(10 * time.Millisecond)
		}
		waitFor("no video", func(ids []string) bool { return len(ids) == 0 })
		n.events(token, [2]string{"play", old})
		n.waitObserved()
		for name, want := range map[string]float64{
			"reelay_recommender_catalogue_videos":      0,
			"reelay_recommender_events_observed_total": 1,
			"reelay_recommender_ready":                 1,
		} {
			if got := n.metric(name); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		if got := n.metric("reelay_recommender_rank_seconds"); got < 2 {
			t.Errorf("reelay_recommender_rank_seconds counts %v pages, want at least 2", got)
		}
		if got := n.metric("reelay_recommender_rebuild_seconds"); got < 0 {
			t.Errorf("reelay_recommender_rebuild_seconds absent")
		}
	})
}
