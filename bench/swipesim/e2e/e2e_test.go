package e2e

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// tiny is a configuration that runs in seconds: a handful of players for three seconds each
// run, a load of 50 requests a second for a second.
func tiny() Options {
	return Options{
		Seed: 7, Players: 4, Users: 30, Videos: 60, NewVideos: 2, Creators: 12,
		Duration: 3 * time.Second, TimeScale: 10 * time.Millisecond, Probes: 2,
		Rate: 50, LoadDuration: time.Second, LoadWarmup: 200 * time.Millisecond, ClipSeconds: 2,
	}
}

// TestRun runs the harness in a tiny configuration on SQLite and on PostgreSQL, and checks
// that every figure of the report was measured: not how good they are (that is the bench's
// to say), but that the players swiped, the edges answered, the probes and the load ran, and
// that the report has exactly the keys of the "e2e" object.
func TestRun(t *testing.T) {
	testenv.RequireCommand(t, "ffmpeg")
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			opts := tiny()
			opts.Dir = t.TempDir()
			if dialect == "postgres" {
				opts.Postgres = testenv.Postgres(t)
			}
			rep, err := Run(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			d := rep.Details
			t.Logf("%+v\n%s", *rep, d)
			for name, r := range map[string]RunDetails{"off": d.Off, "on": d.On} {
				if r.Swipes == 0 || r.Views <= r.Swipes-1 || r.Pages == 0 || r.Items == 0 {
					t.Errorf("prefetch %s: %d swipes, %d views, %d pages, %d items: the players did not play", name, r.Swipes, r.Views, r.Pages, r.Items)
				}
				if r.Errors != 0 {
					t.Errorf("prefetch %s: %d errors, the first: %s", name, r.Errors, r.FirstError)
				}
			}
			for name, ratio := range map[string]float64{"on": rep.FirstSegmentHitRatio.PrefetchOn, "off": rep.FirstSegmentHitRatio.PrefetchOff, "waste": rep.PrefetchWasteRatio} {
				if ratio < 0 || ratio > 1 {
					t.Errorf("%s ratio %v is not a share", name, ratio)
				}
			}
			s := rep.SwipeStartMS
			if s.P50On <= 0 || s.P95On < s.P50On || s.P50Off <= 0 || s.P95Off < s.P50Off {
				t.Errorf("swipe start %+v: not measured", s)
			}
			if d.Probes != opts.Probes || rep.FeedbackToRankingP95MS <= 0 {
				t.Errorf("%d probes of %d, p95 %v ms", d.Probes, opts.Probes, rep.FeedbackToRankingP95MS)
			}
			if rep.ForYouRPS <= 0 || rep.ForYouP99MS <= 0 || d.LoadSent != opts.Rate || d.LoadErrors != 0 {
				t.Errorf("For You load: %d sent, %d errors (%s), %v/s, p99 %v ms", d.LoadSent, d.LoadErrors, d.LoadFirstError, rep.ForYouRPS, rep.ForYouP99MS)
			}
			if d.NewVideosCounted == 0 {
				t.Errorf("no new video's impressions counted")
			}
			if rep.SameCreatorAdjacencies != d.Off.Adjacencies+d.On.Adjacencies {
				t.Errorf("%d adjacencies, the runs counted %d and %d", rep.SameCreatorAdjacencies, d.Off.Adjacencies, d.On.Adjacencies)
			}
			checkKeys(t, rep)
		})
	}
}

// checkKeys checks that rep marshals to exactly the keys of the "e2e" object.
func checkKeys(t *testing.T, rep *Report) {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"first_segment_hit_ratio":         {"prefetch_off", "prefetch_on"},
		"swipe_start_ms":                  {"p50_off", "p50_on", "p95_off", "p95_on"},
		"prefetch_waste_ratio":            nil,
		"feedback_to_ranking_p95_ms":      nil,
		"foryou_p99_ms":                   nil,
		"foryou_rps":                      nil,
		"new_video_min_impressions_10min": nil,
		"same_creator_adjacencies":        nil,
	}
	if k, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(k, w) {
		t.Fatalf("keys %v, want %v", k, w)
	}
	for k, sub := range want {
		obj, isObj := got[k].(map[string]any)
		switch {
		case sub == nil && isObj:
			t.Errorf("%s is an object, want a number", k)
		case sub != nil && !isObj:
			t.Errorf("%s is %v, want an object", k, got[k])
		case sub != nil && !slices.Equal(slices.Sorted(maps.Keys(obj)), sub):
			t.Errorf("%s has keys %v, want %v", k, slices.Sorted(maps.Keys(obj)), sub)
		}
	}
}
