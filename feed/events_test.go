package feed

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// batch returns the JSON of a POST /v1/events body of visitor (may be "") and events, each
// given as "video type watch_ms position at" with at "" for now.
func batch(visitor string, events ...string) string {
	type ev struct {
		Video    string `json:"video"`
		Type     string `json:"type"`
		WatchMS  int64  `json:"watch_ms"`
		Position int64  `json:"position"`
		At       string `json:"at"`
	}
	body := struct {
		Visitor string `json:"visitor,omitempty"`
		Events  []ev   `json:"events"`
	}{Visitor: visitor, Events: []ev{}}
	for _, e := range events {
		var v ev
		fmt.Sscan(e, &v.Video, &v.Type, &v.WatchMS, &v.Position, &v.At)
		if v.At == "" {
			v.At = time.Now().UTC().Format(time.RFC3339Nano)
		}
		body.Events = append(body.Events, v)
	}
	b, _ := json.Marshal(body)
	return string(b)
}

func countEvents(t *testing.T, s *Service) int {
	t.Helper()
	var n int
	if err := s.db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPostEvents(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, s *Service, api *client) {
		ann, annToken := newUser(t, s, "ann")
		_, bobToken := newUser(t, s, "bob")
		public := newVideo(t, s, ann, video.Public, "a public one")
		unlisted := newVideo(t, s, ann, video.Unlisted, "an unlisted one")
		private := newVideo(t, s, ann, video.Private, "a private one")
		hidden := newVideo(t, s, ann, video.Public, "a hidden one")
		if _, err := s.db.Exec(t.Context(), `UPDATE videos SET hidden = 1 WHERE id = $1`, hidden); err != nil {
			t.Fatal(err)
		}

		r := api.do("POST", "/v1/events", bobToken, batch("", public+" play 0 0", unlisted+" impression 0 1", public+" progress 1500 0"))
		if r.status != 202 || r.body["accepted"] != 3.0 {
			t.Fatalf("good batch: %d %v", r.status, r.body)
		}
		if r := api.do("POST", "/v1/events", annToken, batch("", private+" play 0 0", hidden+" complete 9000 3")); r.status != 202 {
			t.Fatalf("the owner's events on her private and hidden videos: %d %v", r.status, r.body)
		}
		// The rendition played, when the player says.
		played := `{"events":[{"video":"` + public + `","type":"play","rendition":"720p","at":"` + time.Now().UTC().Format(time.RFC3339) + `"}]}`
		if r := api.do("POST", "/v1/events", bobToken, played); r.status != 202 {
			t.Fatalf("a play with its rendition: %d %v", r.status, r.body)
		}
		var rendition string
		if err := s.db.SQL().QueryRowContext(t.Context(), `SELECT rendition FROM events ORDER BY id DESC LIMIT 1`).Scan(&rendition); err != nil || rendition != "720p" {
			t.Fatalf("stored rendition %q, %v; want 720p", rendition, err)
		}
		var users, plays int
		err := s.db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(DISTINCT user_id), SUM(CASE WHEN type = 'play' THEN 1 ELSE 0 END)
			FROM events WHERE visitor = ''`).Scan(&users, &plays)
		if err != nil || users != 2 || plays != 3 {
			t.Fatalf("stored: %d users, %d plays, %v; want 2, 3", users, plays, err)
		}

		stored := countEvents(t, s)
		now := time.Now().UTC()
		many := make([]string, MaxEvents+1)
		for i := range many {
			many[i] = public + " impression 0 0"
		}
		for _, tc := range []struct {
			name, token, body string
			code, message     string
		}{
			{"an unknown type", bobToken, batch("", public+" play 0 0", public+" watch 0 0"), "invalid_event", "events[1].type: "},
			{"an unknown video", bobToken, batch("", public+" play 0 0", public+" play 0 0", videoid.New()+" play 0 0"), "unknown_video", "events[2].video: "},
			{"not a video id", bobToken, batch("", "../x play 0 0"), "invalid_event", "events[0].video: "},
			{"another's private video", bobToken, batch("", public+" play 0 0", private+" play 0 0"), "unknown_video", "events[1].video: "},
			{"another's hidden video", bobToken, batch("", hidden+" play 0 0"), "unknown_video", "events[0].video: "},
			{"too many", bobToken, batch("", many...), "invalid_events", "events: "},
			{"none", bobToken, batch(""), "invalid_events", "events: "},
			{"in the future", bobToken, batch("", public+" play 0 0 "+now.Add(time.Hour).Format(time.RFC3339)), "invalid_event", "events[0].at: "},
			{"too old", bobToken, batch("", public+" play 0 0 "+now.Add(-8*24*time.Hour).Format(time.RFC3339)), "invalid_event", "events[0].at: "},
			{"not a time", bobToken, batch("", public+" play 0 0 yesterday"), "invalid_event", "events[0].at: "},
			{"a negative watch time", bobToken, batch("", public+" play -1 0"), "invalid_event", "events[0].watch_ms: "},
			{"a huge watch time", bobToken, batch("", public+" play 99999999999 0"), "invalid_event", "events[0].watch_ms: "},
			{"a negative position", bobToken, batch("", public+" skip 0 -3"), "invalid_event", "events[0].position: "},
			{"a rendition that is not a name", bobToken, `{"events":[{"video":"` + public + `","type":"play","rendition":"../x","at":"` + now.Format(time.RFC3339) + `"}]}`, "invalid_event", "events[0].rendition: "},
			{"an unknown field", bobToken, `{"events":[{"video":"` + public + `","type":"play","at":"` + now.Format(time.RFC3339) + `","x":1}]}`, "invalid_json", ""},
			{"a visitor without an id", "", batch("", public+" play 0 0"), "invalid_visitor", "visitor: "},
			{"a visitor with a bad id", "", batch("short", public+" play 0 0"), "invalid_visitor", "visitor: "},
			{"a visitor on a private video", "", batch("visitor-0123456789", private+" play 0 0"), "unknown_video", "events[0].video: "},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := api.do("POST", "/v1/events", tc.token, tc.body)
				msg, _ := r.body["error"].(map[string]any)["message"].(string)
				if r.status != 400 || r.errCode() != tc.code || !strings.HasPrefix(msg, tc.message) {
					t.Errorf("%d %q %q; want 400 %q %q...", r.status, r.errCode(), msg, tc.code, tc.message)
				}
			})
		}
		if n := countEvents(t, s); n != stored {
			t.Fatalf("bad batches stored %d events", n-stored)
		}

		r = api.do("POST", "/v1/events", "", batch("visitor-0123456789", public+" impression 0 0", unlisted+" play 300 1"))
		if r.status != 202 {
			t.Fatalf("visitor's batch: %d %v", r.status, r.body)
		}
		var n int
		err = s.db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM events WHERE user_id = 0 AND visitor = 'visitor-0123456789'`).Scan(&n)
		if err != nil || n != 2 {
			t.Fatalf("visitor's events stored: %d, %v", n, err)
		}
	})
}

// runService runs s until the returned stop is called, which waits for Run to return.
func runService(t *testing.T, s *Service) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestViewCounts(t *testing.T) {
	forEachService(t, Config{EventsPoll: 20 * time.Millisecond}, func(t *testing.T, s *Service, api *client) {
		ann, _ := newUser(t, s, "ann")
		_, bobToken := newUser(t, s, "bob")
		v, other := newVideo(t, s, ann, video.Public, "one"), newVideo(t, s, ann, video.Public, "two")
		views := func(id string) int64 {
			var n int64
			if err := s.db.SQL().QueryRowContext(t.Context(), `SELECT view_count FROM videos WHERE id = $1`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		caughtUp := func() bool { // the subscriber's checkpoint is at the last event
			var last, max int64
			err := s.db.SQL().QueryRowContext(t.Context(), `SELECT s.last_id, (SELECT MAX(id) FROM events)
				FROM event_subscribers s WHERE s.name = 'view_counts'`).Scan(&last, &max)
			return err == nil && last == max
		}
		post := func(token, visitor string, events ...string) {
			t.Helper()
			if r := api.do("POST", "/v1/events", token, batch(visitor, events...)); r.status != 202 {
				t.Fatalf("events: %d %v", r.status, r.body)
			}
		}

		post(bobToken, "", v+" play 0 0", v+" impression 0 0", v+" play 0 0", other+" play 0 1", v+" complete 0 0")
		post("", "visitor-0123456789", v+" play 0 0", v+" play 0 0")
		if views(v) != 0 {
			t.Fatal("views counted before Run")
		}
		stop := runService(t, s)
		eventually(t, "caught up", caughtUp)
		if got, gotOther := views(v), views(other); got != 4 || gotOther != 1 {
			t.Fatalf("views %d and %d, want 4 and 1", got, gotOther)
		}
		post(bobToken, "", v+" play 0 0") // while it runs: woken at once
		eventually(t, "caught up", caughtUp)
		stop()

		post(bobToken, "", v+" play 0 0", v+" play 0 0")
		runService(t, s) // a restart counts what came in between, and nothing twice
		eventually(t, "caught up", caughtUp)
		if got, gotOther := views(v), views(other); got != 7 || gotOther != 1 {
			t.Fatalf("views after a restart %d and %d, want 7 and 1", got, gotOther)
		}

		// A second process on the same database: each play still counts once.
		s2, err := New(Config{PlaybackURL: "http://edge.test", EventsPoll: 20 * time.Millisecond}, s.db, nil)
		if err != nil {
			t.Fatal(err)
		}
		runService(t, s2)
		play := Event{UserID: 1, Video: v, Type: EventPlay, At: time.Now()}
		for i := range 20 {
			if err := []*Service{s, s2}[i%2].events.Append(t.Context(), []Event{play, play}); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "caught up", caughtUp)
		if got := views(v); got != 47 {
			t.Fatalf("views with two processes %d, want 47", got)
		}
	})
}

// TestEventsTailConcurrent has many goroutines append events at once, on PostgreSQL out of
// the order of their ids: a subscriber sees every event exactly once, in id order.
func TestEventsTailConcurrent(t *testing.T) {
	forEachService(t, Config{EventsPoll: 20 * time.Millisecond, EventsGrace: time.Minute, EventsBatch: 37}, func(t *testing.T, s *Service, _ *client) {
		var mu sync.Mutex
		seen := map[int64]int{}
		var last int64
		var disorder []string
		s.Events().Subscribe("test", func(_ context.Context, events []Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range events {
				if ev.ID <= last {
					disorder = append(disorder, fmt.Sprintf("%d after %d", ev.ID, last))
				}
				last = ev.ID
				seen[ev.ID]++
			}
			return nil
		})
		runService(t, s)

		const writers, appends, perAppend = 16, 20, 5
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for range appends {
					events := make([]Event, perAppend)
					for i := range events {
						events[i] = Event{UserID: int64(w + 1), Video: videoid.New(), Type: EventImpression, At: time.Now()}
					}
					if err := s.events.Append(t.Context(), events); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		rows, err := s.db.SQL().QueryContext(t.Context(), `SELECT id FROM events`)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) != writers*appends*perAppend {
			t.Fatalf("%d events stored, want %d", len(ids), writers*appends*perAppend)
		}
		eventually(t, "every event seen", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) >= len(ids)
		})
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("event %d seen %d times", id, seen[id])
			}
		}
		if len(seen) != len(ids) || len(disorder) > 0 {
			t.Errorf("%d ids seen for %d stored; out of order: %v", len(seen), len(ids), disorder)
		}
	})
}

// TestEventsGap: a subscriber stops at a gap in the ids until the event after it is older
// than the grace period, then passes it.
func TestEventsGap(t *testing.T) {
	forEachService(t, Config{EventsGrace: 10 * time.Second}, func(t *testing.T, s *Service, _ *client) {
		clock := testenv.NewClock()
		s.events.now = clock.Now
		var got []int64
		sub := &subscription{name: "gaps", tx: func(_ context.Context, _ *sql.Tx, events []Event) error {
			for _, ev := range events {
				got = append(got, ev.ID)
			}
			return nil
		}}
		ev := Event{UserID: 1, Video: videoid.New(), Type: EventPlay, At: clock.Now()}
		if err := s.events.Append(t.Context(), []Event{ev, ev, ev}); err != nil {
			t.Fatal(err)
		}
		var first, middle int64
		if err := s.db.SQL().QueryRowContext(t.Context(), `SELECT MIN(id) FROM events`).Scan(&first); err != nil {
			t.Fatal(err)
		}
		middle = first + 1
		// The middle one is not committed yet, as far as a reader can tell.
		if _, err := s.db.Exec(t.Context(), `DELETE FROM events WHERE id = $1`, middle); err != nil {
			t.Fatal(err)
		}
		deliver := func(wantRead int, wantGap bool, want ...int64) {
			t.Helper()
			got = nil
			read, gap, err := s.events.deliver(t.Context(), sub)
			if err != nil || read != wantRead || gap != wantGap || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("deliver: read %d, gap %v, handed %v, %v; want %d, %v, %v", read, gap, got, err, wantRead, wantGap, want)
			}
		}
		deliver(2, true, first)
		deliver(1, true)
		clock.Add(5 * time.Second)
		deliver(1, true)
		clock.Add(5*time.Second + time.Millisecond)
		deliver(1, false, first+2)
		deliver(0, false)
		var last int64
		if err := s.db.SQL().QueryRowContext(t.Context(), `SELECT last_id FROM event_subscribers WHERE name = 'gaps'`).Scan(&last); err != nil || last != first+2 {
			t.Fatalf("checkpoint %d, %v; want %d", last, err, first+2)
		}
	})
}

func FuzzParseEvents(f *testing.F) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	id := videoid.New()
	for _, body := range []string{
		batch("", id+" play 0 0 "+now.Format(time.RFC3339)),
		batch("visitor-0123456789", id+" skip 10 3 "+now.Format(time.RFC3339Nano), id+" like 0 0 2030-01-01T00:00:00+02:00"),
		batch("", id+" watch 0 0 2030-01-02T03:04:05Z"),
		batch("", id+" play -1 99999999 2031-01-02T03:04:05Z"),
		`{"events":[]}`, `{"visitor":"x","events":[{"at":"2030-01-02T03:04:05.999999999Z"}]}`,
		`{"events":[{"video":"` + id + `","type":"play","rendition":"720p","at":"2030-01-02T03:04:05Z"}]}`,
		`{"events":[{"video":"` + id + `","type":"progress","rendition":"../x","at":"2030-01-02T03:04:05Z"}]}`,
	} {
		f.Add([]byte(body), int64(0))
		f.Add([]byte(body), int64(7))
	}
	f.Fuzz(func(t *testing.T, body []byte, user int64) {
		var req eventsRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return
		}
		events, err := parseEvents(req, auth.Principal{UserID: user}, now)
		if err != nil {
			return
		}
		if len(events) < 1 || len(events) > MaxEvents {
			t.Fatalf("%d events", len(events))
		}
		for _, e := range events {
			if !eventTypes[e.Type] || !videoid.Valid(e.Video) || e.WatchMS < 0 || e.WatchMS > MaxEventWatchMS ||
				e.Position < 0 || e.Position > MaxEventPos || e.At.After(now.Add(MaxEventFuture)) ||
				e.At.Before(now.Add(-MaxEventAge)) || e.UserID != user || (user == 0) != (e.Visitor != "") ||
				e.Rendition != "" && !layout.ValidRendition(e.Rendition) {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}

// TestEventsWatch: a watcher starts where its start says (After: the events stored from a
// time on), gets each later event once and in order, and keeps no checkpoint: a second
// watcher of the same name, as another process would run, gets them all again.
func TestEventsWatch(t *testing.T) {
	forEachService(t, Config{EventsPoll: 20 * time.Millisecond, EventsBatch: 7}, func(t *testing.T, s *Service, _ *client) {
		clock := time.Now()
		s.events.now = func() time.Time { return clock }
		appendAt := func(n int) (ids []string) {
			for range n {
				id := videoid.New()
				if err := s.events.Append(t.Context(), []Event{{UserID: 1, Video: id, Type: EventPlay, At: clock}}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			return ids
		}
		early := appendAt(10)
		clock = clock.Add(time.Minute)
		cut := clock
		late := appendAt(12)

		from, err := s.events.After(t.Context(), cut)
		if err != nil {
			t.Fatal(err)
		}
		if none, err := s.events.After(t.Context(), cut.Add(-time.Hour)); err != nil || none != 0 {
			t.Errorf("After before every event = %d, %v; want 0", none, err)
		}
		all, err := s.events.After(t.Context(), clock.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got, again []string
		var lastID int64
		s.Events().Watch("w", func(context.Context) (int64, error) { return from, nil }, func(_ context.Context, events []Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range events {
				if ev.ID <= lastID {
					t.Errorf("event %d after %d", ev.ID, lastID)
				}
				lastID = ev.ID
				got = append(got, ev.Video)
			}
			return nil
		})
		s.Events().Watch("w", func(context.Context) (int64, error) { return 0, nil }, func(_ context.Context, events []Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range events {
				again = append(again, ev.Video)
			}
			return nil
		})
		runService(t, s)
		more := appendAt(3)
		want := append(slices.Clone(late), more...)
		eventually(t, "every event watched", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= len(want) && len(again) >= len(early)+len(want)
		})
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("watched from After(cut): %d events %v, want the %d stored from then on", len(got), got, len(want))
		}
		if !slices.Equal(again, append(slices.Clone(early), want...)) {
			t.Errorf("the second watcher of the name got %d events, want all %d", len(again), len(early)+len(want))
		}
		if all == 0 || all < from+int64(len(late)) {
			t.Errorf("After past every event = %d, want the last id (at least %d)", all, from+int64(len(late)))
		}
	})
}
