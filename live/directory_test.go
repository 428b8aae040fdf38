package live

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// openDB opens dsn with n creators in it and returns it with their ids.
func openDB(t *testing.T, dsn string, n int) (*db.DB, []int64) {
	t.Helper()
	d, err := db.Open(t.Context(), dsn, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	var ids []int64
	for i := range n {
		u, err := feed.NewAccounts(d).CreateUser(t.Context(), string(rune('a'+i))+"creator", "not a real hash")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	return d, ids
}

func streamIDs(t *testing.T, dir *Directory) []string {
	t.Helper()
	streams, err := dir.Live(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, st := range streams {
		ids = append(ids, st.ID)
	}
	return ids
}

// TestDirectoryLive writes streams as a live node does and reads them as a separate feed
// node does, on a clock of the test's: a stream is listed while it has not ended and its
// heartbeat is fresh; the feed's reads are cached for a second, the live node's own cache
// drops at each of its writes.
func TestDirectoryLive(t *testing.T) {
	testenv.ForEachDSN(t, func(t *testing.T, dsn string) {
		d, users := openDB(t, dsn, 3)
		clock := testenv.NewClock()
		node, err := NewDirectory(d, DirectoryConfig{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		feedNode, _ := NewDirectory(d, DirectoryConfig{Now: clock.Now})
		ctx := t.Context()
		if got := streamIDs(t, node); len(got) != 0 {
			t.Fatalf("streams of an empty table: %v", got)
		}
		t0 := clock.Now()
		for i, id := range []string{"s1", "s2", "s3"} {
			st := Stream{ID: id, UserID: users[i], PlaybackURL: "http://edge.test/v/live/" + id + "/index.m3u8", StartedAt: clock.Now().Add(time.Duration(i) * time.Second)}
			if err := node.started(ctx, st, ""); err != nil {
				t.Fatal(err)
			}
		}
		// The node lists its own streams at once; the feed reads the table now.
		if got := streamIDs(t, node); !slices.Equal(got, []string{"s3", "s2", "s1"}) {
			t.Fatalf("the node's streams: %v, want the newest first", got)
		}
		streams, err := feedNode.Live(ctx)
		if err != nil || len(streams) != 3 || streams[2] != (Stream{ID: "s1", UserID: users[0], PlaybackURL: "http://edge.test/v/live/s1/index.m3u8", StartedAt: clock.Now()}) {
			t.Fatalf("the feed's streams: %+v, %v", streams, err)
		}

		// s3 ends: the node knows at once, the feed within its cache's second.
		if err := node.ended(ctx, "s3"); err != nil {
			t.Fatal(err)
		}
		if got := streamIDs(t, node); !slices.Equal(got, []string{"s2", "s1"}) {
			t.Errorf("the node's streams after s3 ended: %v", got)
		}
		if got := streamIDs(t, feedNode); len(got) != 3 {
			t.Errorf("the feed's streams within its cache's second: %v, want the cached three", got)
		}
		clock.Add(time.Second)
		if got := streamIDs(t, feedNode); !slices.Equal(got, []string{"s2", "s1"}) {
			t.Errorf("the feed's streams after s3 ended: %v", got)
		}

		// s1 beats, s2's node went silent: fresh up to DefaultFresh, stale after.
		clock.Add(DefaultFresh - 2*time.Second)
		if err := node.beat(ctx, []string{"s1", "s3"}); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Second) // s2's heartbeat is DefaultFresh old
		if got := streamIDs(t, feedNode); !slices.Equal(got, []string{"s2", "s1"}) {
			t.Errorf("streams with heartbeats %v and 1 s old: %v, want both", DefaultFresh, got)
		}
		clock.Add(time.Second)
		if got := streamIDs(t, feedNode); !slices.Equal(got, []string{"s1"}) {
			t.Errorf("streams with heartbeats %v and 2 s old: %v, want the fresh one", DefaultFresh+time.Second, got)
		}
		// A heartbeat does not bring an ended stream back.
		if got := streamIDs(t, node); slices.Contains(got, "s3") {
			t.Errorf("the ended s3 beat and is listed again: %v", got)
		}

		// What a node finds after a crash: the recordings of streams started before it that
		// were not handed over.
		// (Two creators: one creator's second stream would be refused while s4 is live.)
		for _, r := range []struct {
			id, path string
			user     int64
			at       time.Time
		}{{"s4", "/rec/s4.ts", users[1], t0.Add(10 * time.Millisecond)}, {"s5", "/elsewhere/s5.ts", users[2], t0.Add(20 * time.Millisecond)}} {
			if err := node.started(ctx, Stream{ID: r.id, UserID: r.user, StartedAt: r.at}, r.path); err != nil {
				t.Fatal(err)
			}
		}
		unhanded := func(before time.Time) []unhandedRecording {
			t.Helper()
			u, err := node.unhanded(ctx, before)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		if u := unhanded(t0.Add(time.Second)); len(u) != 2 || u[0].ID != "s4" || u[0].path != "/rec/s4.ts" || u[0].UserID != users[1] ||
			!u[0].StartedAt.Equal(t0.Add(10*time.Millisecond)) || u[1].ID != "s5" {
			t.Errorf("recordings not handed over: %+v, want s4's then s5's", u)
		}
		if u := unhanded(t0.Add(10 * time.Millisecond)); len(u) != 0 {
			t.Errorf("recordings not handed over of streams started before s4: %+v, want none", u)
		}
		if err := node.handed(ctx, "s4"); err != nil {
			t.Fatal(err)
		}
		if u := unhanded(t0.Add(time.Second)); len(u) != 1 || u[0].ID != "s5" || u[0].over {
			t.Errorf("recordings not handed over after s4's was: %+v, want s5's, live", u)
		}
		// A stream is over once it ended, or once its heartbeat is stale.
		clock.Add(DefaultFresh + time.Second)
		if u := unhanded(t0.Add(time.Second)); len(u) != 1 || !u[0].over {
			t.Errorf("s5 unbeaten for %v: %+v, want it over", DefaultFresh+time.Second, u)
		}
		if err := node.beat(ctx, []string{"s5"}); err != nil {
			t.Fatal(err)
		}
		if u := unhanded(t0.Add(time.Second)); len(u) != 1 || u[0].over {
			t.Errorf("s5 beaten again: %+v, want it live", u)
		}
		if err := node.ended(ctx, "s5"); err != nil {
			t.Fatal(err)
		}
		if u := unhanded(t0.Add(time.Second)); len(u) != 1 || !u[0].over {
			t.Errorf("s5 ended: %+v, want it over", u)
		}
	})
}

// TestServerInDirectory takes a WHIP session on a Server with a Directory: the stream is
// listed once it is answered, its heartbeat keeps it listed as time passes beyond
// DefaultFresh, and it leaves the list when it is deleted.
func TestServerInDirectory(t *testing.T) {
	testClip(t) // skips without ffmpeg, as the other sessions' tests
	d, ids := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "reelay.db"), 1)
	if ids[0] != users["token-alice"].UserID {
		t.Fatalf("the creator's id is %d, want alice's %d", ids[0], users["token-alice"].UserID)
	}
	clock := testenv.NewClock()
	dir, err := NewDirectory(d, DirectoryConfig{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, ts := newTestServer(t, Config{Directory: dir, Heartbeat: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	p := newPublisher(t, false)
	resp, body := whip(t, ts.URL+Path, "token-alice", "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	stream := linkRE.FindStringSubmatch(resp.Header.Get("Link"))[1]
	streams, err := dir.Live(t.Context())
	if err != nil || len(streams) != 1 || streams[0].ID != stream || streams[0].UserID != ids[0] ||
		streams[0].PlaybackURL != "http://edge.test/v/live/"+stream+"/index.m3u8" {
		t.Fatalf("streams once the session is answered: %+v, %v", streams, err)
	}
	// Time passes beyond the freshness of the first heartbeat: the next ones keep it listed.
	clock.Add(DefaultFresh + time.Second)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // polling, with a deadline
		if got := streamIDs(t, dir); slices.Equal(got, []string{stream}) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("streams %v after %v: the heartbeat did not keep %s listed", got, DefaultFresh+time.Second, stream)
		}
	}
	if code := do(t, http.MethodDelete, ts.URL+resp.Header.Get("Location"), "token-alice").StatusCode; code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	if got := streamIDs(t, dir); len(got) != 0 {
		t.Errorf("streams after DELETE: %v", got)
	}
}

// TestDirectoryOneStreamPerCreator checks the one-session-per-creator rule across nodes: a
// creator with a stream live on one node is refused another on any node, until that stream
// ends or its heartbeat goes stale (its node gone).
func TestDirectoryOneStreamPerCreator(t *testing.T) {
	testenv.ForEachDSN(t, func(t *testing.T, dsn string) {
		d, users := openDB(t, dsn, 2)
		clock := testenv.NewClock()
		nodeA, _ := NewDirectory(d, DirectoryConfig{Now: clock.Now})
		nodeB, _ := NewDirectory(d, DirectoryConfig{Now: clock.Now})
		ctx := t.Context()
		stream := func(id string, user int64) Stream {
			return Stream{ID: id, UserID: user, PlaybackURL: "http://edge.test/v/live/" + id + "/index.m3u8", StartedAt: clock.Now()}
		}
		if err := nodeA.started(ctx, stream("a1", users[0]), ""); err != nil {
			t.Fatal(err)
		}
		if err := nodeB.started(ctx, stream("b1", users[0]), ""); err != errAlreadyLive {
			t.Errorf("a second stream of a live creator on another node: %v, want already_live", err)
		}
		if err := nodeB.started(ctx, stream("b2", users[1]), ""); err != nil {
			t.Errorf("another creator's stream: %v", err)
		}
		// a1's node stops beating: once its heartbeat is stale, its creator may go live again.
		clock.Add(DefaultFresh - time.Second)
		if err := nodeB.started(ctx, stream("b3", users[0]), ""); err != errAlreadyLive {
			t.Errorf("within the freshness window: %v, want already_live", err)
		}
		clock.Add(2 * time.Second)
		if err := nodeB.started(ctx, stream("b4", users[0]), ""); err != nil {
			t.Fatalf("after the first stream's heartbeat went stale: %v", err)
		}
		// An ended stream does not count either.
		if err := nodeB.ended(ctx, "b4"); err != nil {
			t.Fatal(err)
		}
		if err := nodeA.started(ctx, stream("a5", users[0]), ""); err != nil {
			t.Errorf("after the creator's stream ended: %v", err)
		}
		if got := streamIDs(t, nodeA); !slices.Equal(got, []string{"a5"}) {
			t.Errorf("live streams: %v, want a5 alone (b2's heartbeat is stale too)", got)
		}
	})
}
