package recommender

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	benchfeed "github.com/reelay/reelay/bench/feed"
	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
)

var (
	benchUsers   = flag.Int("rec.users", 10_000, "BenchmarkForYou: accounts")
	benchVideos  = flag.Int("rec.videos", 10_000, "BenchmarkForYou: ready public videos")
	benchEvents  = flag.Int("rec.events", 100_000, "BenchmarkForYou: stored events replayed at start")
	benchRate    = flag.Int("rec.rate", 1000, "BenchmarkForYou: For You requests per second")
	benchSeconds = flag.Int("rec.seconds", 5, "BenchmarkForYou: length of the run")
	benchReaders = flag.Int("rec.readers", 1000, "BenchmarkForYou: distinct users the requests come from")
)

// BenchmarkForYou: the whole For You request over HTTP, ranked by the recommender, at
// -rec.rate requests per second (an open loop, latencies from when each request was due),
// after a rebuild of the model from -rec.events stored events; on SQLite and PostgreSQL.
// It reports the rebuild's duration and the requests' p50 and p99.
func BenchmarkForYou(b *testing.B) {
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
			if _, err := benchfeed.Generate(ctx, d, benchfeed.Graph{Users: *benchUsers, Follows: *benchUsers * 10, Videos: *benchVideos, Zipf: 1.05, Days: 30, Seed: 1},
				10_000, func(string) {}); err != nil {
				b.Fatal(err)
			}
			if err := storeEvents(ctx, d, *benchEvents, *benchUsers); err != nil {
				b.Fatal(err)
			}
			rank, err := NewRanker(Config{Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)}, d)
			if err != nil {
				b.Fatal(err)
			}
			svc, err := feed.New(feed.Config{PlaybackURL: "http://edge.bench", Ranker: rank, WriteBurst: 1 << 30}, d, nil)
			if err != nil {
				b.Fatal(err)
			}
			rank.Watch(svc.Events())
			srv := httptest.NewServer(auth.NewAuthenticator(svc.Tokens(), "", nil).Middleware(svc.Handler()))
			defer srv.Close()
			tokens := make([]string, *benchReaders)
			accounts := feed.NewAccounts(d)
			for i := range tokens {
				token, hash := auth.NewToken()
				if err := accounts.CreateToken(ctx, hash, int64(1+i*(*benchUsers / *benchReaders)), time.Time{}); err != nil {
					b.Fatal(err)
				}
				tokens[i] = token
			}
			start := time.Now()
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{}, 2)
			go func() { svc.Run(runCtx); done <- struct{}{} }()
			go func() { rank.Run(runCtx); done <- struct{}{} }()
			defer func() { stop(); <-done; <-done }()
			for rank.Ready(ctx) != nil {
				time.Sleep(10 * time.Millisecond)
			}
			rebuild := time.Since(start)
			b.ResetTimer()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}, Timeout: 30 * time.Second}
			url := srv.URL + "/v1/feed/foryou?limit=10"
			benchfeed.Load(ctx, hc, url, tokens, *benchRate, time.Second) // warm-up
			cpu := cpuTime()
			r := benchfeed.Load(ctx, hc, url, tokens, *benchRate, time.Duration(*benchSeconds)*time.Second)
			cpu = cpuTime() - cpu
			b.Logf("%s: %d videos, rebuild of %d events %v; For You %d requests at %d/s: p50 %v, p99 %v, max %v, %d errors %s; CPU %v a request (server and client)",
				dialect, rank.Model().Len(), *benchEvents, rebuild.Round(time.Millisecond), r.Sent, *benchRate, r.P50, r.P99, r.Max, r.Errors, r.FirstErr,
				cpu/time.Duration(r.Sent))
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(r.Sent), "cpu-ms/request")
			b.ReportMetric(float64(rebuild.Milliseconds()), "rebuild-ms")
			b.ReportMetric(float64(r.P50.Microseconds())/1000, "foryou-p50-ms")
			b.ReportMetric(float64(r.P99.Microseconds())/1000, "foryou-p99-ms")
		})
	}
}

// storeEvents stores n events of users 1..users on the videos stored: impressions, plays
// and an end (complete or skip), each user favouring a few videos.
func storeEvents(ctx context.Context, d *db.DB, n, users int) error {
	rows, err := d.SQL().QueryContext(ctx, `SELECT id FROM videos`)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) == 0 {
		return fmt.Errorf("no videos")
	}
	svc, err := feed.New(feed.Config{PlaybackURL: "http://edge.bench"}, d, nil)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, 3))
	now := time.Now().Add(-time.Hour)
	batch := make([]feed.Event, 0, 300)
	for i := 0; i < n; i += 3 {
		u := int64(1 + r.IntN(users))
		v := ids[(int(u)*13+r.IntN(50))%len(ids)]
		if r.IntN(3) == 0 {
			v = ids[r.IntN(len(ids))]
		}
		end, watch := feed.EventComplete, int64(15_000)
		if r.IntN(2) == 0 {
			end, watch = feed.EventSkip, int64(r.IntN(15_000))
		}
		at := now.Add(time.Duration(i) * time.Millisecond * 30)
		for _, t := range []feed.EventType{feed.EventImpression, feed.EventPlay, end} {
			batch = append(batch, feed.Event{UserID: u, Video: v, Type: t, WatchMS: watch, At: at})
		}
		if len(batch) >= 297 {
			if err := svc.Events().Append(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return svc.Events().Append(ctx, batch)
}
