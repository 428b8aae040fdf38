package recommender

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/reelay/reelay/feed"
)

// benchWorld is a model of 10,000 videos by 1,000 creators and 200,000 events of 5,000
// users, each watching videos of a few favourite hashtags.
func benchWorld(b *testing.B) (*Model, time.Time) {
	r := rand.New(rand.NewPCG(1, 2))
	m := New(Options{Seed: 1})
	now := t0
	const videos, creators, tags, users = 10_000, 1000, 200, 5000
	ids := make([]string, videos)
	byTag := make([][]string, tags)
	for i := range videos {
		ids[i] = fmt.Sprintf("%026d", i)
		tag := r.IntN(tags)
		byTag[tag] = append(byTag[tag], ids[i])
		m.Upsert(Video{ID: ids[i], Creator: int64(1 + r.IntN(creators)), Tags: []string{fmt.Sprint("t", tag), fmt.Sprint("u", r.IntN(tags))},
			DurationMS: 15_000, Published: now.Add(-time.Duration(r.IntN(72*60)) * time.Minute)})
	}
	var id int64
	batch := make([]feed.Event, 0, 500)
	for range 200_000 / 3 {
		u := int64(1 + r.IntN(users))
		list := byTag[int(u)%tags]
		v := list[r.IntN(len(list))]
		if r.IntN(3) == 0 {
			v = ids[r.IntN(videos)]
		}
		now = now.Add(10 * time.Millisecond)
		typ, watch := feed.EventComplete, int64(15_000)
		if r.IntN(2) == 0 {
			typ, watch = feed.EventSkip, int64(r.IntN(15_000))
		}
		for _, t := range []feed.EventType{feed.EventImpression, feed.EventPlay, typ} {
			id++
			batch = append(batch, feed.Event{ID: id, UserID: u, Video: v, Type: t, WatchMS: watch, At: now})
		}
		if len(batch) >= 498 {
			m.Observe(batch)
			batch = batch[:0]
		}
	}
	m.Observe(batch)
	return m, now
}

// BenchmarkRecommend: a page of 10 for a user with a history and 20 follows, among 10,000
// videos.
func BenchmarkRecommend(b *testing.B) {
	m, now := benchWorld(b)
	follows := make([]int64, 20)
	for i := range follows {
		follows[i] = int64(1 + i*37)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var user int64
	n, cpu := 0, cpuTime()
	for b.Loop() {
		user = user%5000 + 1
		if len(m.Recommend(Query{User: user, Follows: follows, Limit: 10, Now: now})) != 10 {
			b.Fatal("short page")
		}
		n++
	}
	if cpu := cpuTime() - cpu; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op") // what a busy machine does not inflate
	}
}

// BenchmarkRecommendParallel is BenchmarkRecommend from GOMAXPROCS goroutines, with a batch
// of events observed every 100 pages (the write lock's share).
func BenchmarkRecommendParallel(b *testing.B) {
	m, now := benchWorld(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		n := 0
		for pb.Next() {
			user := int64(1 + r.IntN(5000))
			page := m.Recommend(Query{User: user, Limit: 10, Now: now})
			if n++; n%100 == 0 && len(page) > 0 {
				m.Observe([]feed.Event{{UserID: user, Video: page[0].Video, Type: feed.EventImpression, At: now}})
			}
		}
	})
}
