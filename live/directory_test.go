package live

import (
	"errors"
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
			if err := node.started(ctx, st); err != nil {
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

		// What the node finds of a stream after a crash, ended or not.
		if st, err := node.stream(ctx, "s2"); err != nil || st.UserID != users[1] || !st.StartedAt.Equal(t0.Add(time.Second)) {
			t.Errorf("stream s2: %+v, %v", st, err)
		}
		if _, err := node.stream(ctx, "s9"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("an unknown stream: %v, want db.ErrNotFound", err)
		}
	})
}
