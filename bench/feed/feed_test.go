package feed

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

var (
	users     = flag.Int("users", 100_000, "accounts")
	follows   = flag.Int("follows", 1_000_000, "follow edges generated (duplicates dropped)")
	videos    = flag.Int("videos", 100_000, "ready public videos")
	rate      = flag.Int("rate", 1000, "requests per second of each feed's run")
	seconds   = flag.Int("seconds", 10, "length of each feed's run")
	warmup    = flag.Int("warmup", 3, "seconds of each feed's load before its run, not measured (connections opened, caches filled)")
	readers   = flag.Int("readers", 2000, "distinct users the requests come from")
	threshold = flag.Int("threshold", 10_000, "the celebrity threshold of the fan-out")
)

// BenchmarkFeed generates the graph on SQLite and on PostgreSQL, then reads each feed at -rate
// requests per second for -seconds from -readers users, after -warmup seconds of the same
// load, and reports the latency's p50 and p99 (measured from when each request was due, so a
// server that falls behind shows it).
func BenchmarkFeed(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			dsn := filepath.Join(b.TempDir(), "bench.db")
			if dialect == "postgres" {
				dsn = testenv.Postgres(b)
			}
			ctx := b.Context()
			d, err := db.Open(ctx, dsn, db.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			start := time.Now()
			g, err := Generate(ctx, d, Graph{Users: *users, Follows: *follows, Videos: *videos, Zipf: 1.05, Days: 30, Seed: 1}, *threshold,
				func(s string) { b.Logf("%s: %s (%v)", dialect, s, time.Since(start).Round(time.Millisecond)) })
			if err != nil {
				b.Fatal(err)
			}
			svc, err := feed.New(feed.Config{PlaybackURL: "http://edge.bench", CelebrityThreshold: *threshold, WriteBurst: 1 << 30}, d, nil)
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(auth.NewAuthenticator(svc.Tokens(), "", nil).Middleware(svc.Handler()))
			defer srv.Close()
			tokens := make([]string, *readers)
			accounts := feed.NewAccounts(d)
			rng := rand.New(rand.NewPCG(2, 2))
			for i := range tokens {
				token, hash := auth.NewToken()
				if err := accounts.CreateToken(ctx, hash, rng.Int64N(int64(*users))+1, time.Time{}); err != nil {
					b.Fatal(err)
				}
				tokens[i] = token
			}
			b.Logf("%s: %d follows, %d creators above %d followers (the top has %v), %d timeline rows", dialect, g.Follows, g.Celebrities, *threshold, followers(b, d, g.Top[0]), g.Timelines)
			runCtx, stopRun := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- svc.Run(runCtx) }()
			defer func() { stopRun(); <-ran }()
			fanout, err := publishFanout(b, d, 10_000, *users)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: publish fan-out to 10,000 followers: %v", dialect, fanout.Round(time.Millisecond))
			b.ReportMetric(float64(fanout.Milliseconds()), "fanout-10k-ms")
			b.ResetTimer()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}, Timeout: 30 * time.Second}
			for _, route := range []string{"/v1/feed/following", "/v1/feed/foryou"} {
				Load(b.Context(), hc, srv.URL+route+"?limit=20", tokens, *rate, time.Duration(*warmup)*time.Second)
				r := Load(b.Context(), hc, srv.URL+route+"?limit=20", tokens, *rate, time.Duration(*seconds)*time.Second)
				b.Logf("%s %s: %d requests at %d/s: p50 %v, p99 %v, max %v, %d errors %v", dialect, route, r.Sent, *rate, r.P50, r.P99, r.Max, r.Errors, r.FirstErr)
				b.ReportMetric(float64(r.P50.Microseconds())/1000, route[9:]+"-p50-ms")
				b.ReportMetric(float64(r.P99.Microseconds())/1000, route[9:]+"-p99-ms")
			}
		})
	}
}

func followers(b *testing.B, d *db.DB, id int64) int64 {
	var n int64
	if err := d.SQL().QueryRowContext(b.Context(), `SELECT follower_count FROM users WHERE id = $1`, id).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// publishFanout makes a new creator with n followers (users 1..n), publishes a video of
// theirs as the pipeline does (ready, then its fan-out job), and returns how long until the
// job has pushed it into every follower's timeline.
func publishFanout(b *testing.B, d *db.DB, n, users int) (time.Duration, error) {
	ctx := b.Context()
	now := db.Millis(time.Now())
	var creator int64
	if err := d.SQL().QueryRowContext(ctx, `INSERT INTO users (handle, password_hash, created_at, follower_count)
		VALUES ('fanout_creator', 'x', $1, $2) RETURNING id`, now, n).Scan(&creator); err != nil {
		return 0, err
	}
	if err := InsertRows(ctx, d, "follows (follower_id, followee_id, created_at)", min(n, users), func(i int) []any {
		return []any{int64(i + 1), creator, now}
	}); err != nil {
		return 0, err
	}
	id := videoid.New()
	if _, err := d.Exec(ctx, `INSERT INTO videos (id, user_id, status, visibility, generation, created_at, updated_at, published_at)
		VALUES ($1, $2, 'ready', 'public', 'g1', $3, $3, $3)`, id, creator, now); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := d.Enqueue(ctx, video.FanoutJob, []byte(id), db.EnqueueOptions{Key: id}); err != nil {
		return 0, err
	}
	for deadline := start.Add(5 * time.Minute); ; {
		var pushed int
		if err := d.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM timelines WHERE video_id = $1`, id).Scan(&pushed); err != nil {
			return 0, err
		}
		if pushed == min(n, users) {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("fan-out: %d of %d timelines after 5 minutes", pushed, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
