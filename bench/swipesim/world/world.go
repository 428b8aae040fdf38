// Package world is the seeded, fully observed world of the swipe simulator (issue 13): users
// with latent tastes, creators with a topic profile, videos with latent topics, a quality,
// hashtags drawn from their topics (so that content carries a signal a recommender can learn)
// and durations, new uploads arriving over time, and the models of what a user does with a
// video: how much of it they watch before swiping away, and whether they like it, share it,
// follow its creator or mark it not interested.
//
// Everything is a pure function of Config (its Seed above all): New builds the same world for
// the same Config, and Watch draws an outcome from the *rand.Rand its caller passes, so a
// caller that seeds its own generators replays the same history. The world holds no state that
// changes: follows, sessions and feeds belong to the caller (bench/swipesim's offline history,
// or an end-to-end player).
//
// The API (Config, World, User, Creator, Video, Outcome, New, and World's Catalogue,
// Published, User, Watch, Affinity and Expected) is stable: other benchmarks build on it.
package world

import (
	"encoding/base32"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Config sizes a world. The zero value of each field means its default.
type Config struct {
	// Seed makes the world; the same Seed and sizes give the same world. Default 0.
	Seed int64
	// Users is the number of users. Default 2000.
	Users int
	// Videos is the number of videos, those published before Start and those uploaded after
	// it together. Default 2000.
	Videos int
	// Creators is the number of creators. Default Videos/10 (at least 1).
	Creators int
	// Topics is the number of latent topics. Default 24.
	Topics int
	// TagsPerTopic is the number of hashtags of each topic. Default 4.
	TagsPerTopic int
	// Start is when the simulation starts. Default 2026-01-05T00:00:00Z.
	Start time.Time
	// Backlog is how far before Start the videos already there were published, uniformly.
	// Default 72 hours.
	Backlog time.Duration
	// Uploads is how long after Start new uploads arrive, uniformly; a share NewShare of the
	// videos is published then. Default 24 hours.
	Uploads time.Duration
	// NewShare is the share of the videos uploaded after Start. Default 0.2.
	NewShare float64
}

func (c Config) withDefaults() Config {
	if c.Users <= 0 {
		c.Users = 2000
	}
	if c.Videos <= 0 {
		c.Videos = 2000
	}
	if c.Creators <= 0 {
		c.Creators = max(1, c.Videos/10)
	}
	if c.Topics <= 0 {
		c.Topics = 24
	}
	if c.TagsPerTopic <= 0 {
		c.TagsPerTopic = 4
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if c.Backlog <= 0 {
		c.Backlog = 72 * time.Hour
	}
	if c.Uploads <= 0 {
		c.Uploads = 24 * time.Hour
	}
	if c.NewShare <= 0 || c.NewShare >= 1 {
		c.NewShare = 0.2
	}
	return c
}

// User is a viewer. IDs run from 1 to Config.Users.
type User struct {
	ID int64
	// Taste is the user's interest in each topic: non-negative, summing to 1, concentrated
	// on two or three topics.
	Taste []float64
	// Activity scales how often the user opens the app (mean 1, log-normal).
	Activity float64
	// Patience shifts every watch ratio of the user (mean 0): some users watch longer.
	Patience float64
}

// Creator uploads videos. IDs run from Config.Users+1 upwards, so that no creator is a user
// of the simulation (a recommender filters a user's own videos).
type Creator struct {
	ID int64
	// Topics is the creator's profile: the share of each topic in their videos.
	Topics []float64
	// Quality is the mean quality of the creator's videos.
	Quality float64
}

// Video is one video of the catalogue.
type Video struct {
	// Index is the video's position in World.Videos.
	Index int
	// ID is a valid reelay video id (26 characters of a-z and 2-7), drawn from the seed.
	ID string
	// Creator is the index of the creator in World.Creators; CreatorID is their id.
	Creator   int
	CreatorID int64
	// Topics is the video's latent topic mix: one or two topics, summing to 1.
	Topics []float64
	// Quality is how watchable the video is to anyone, about N(creator's quality, 0.5).
	Quality float64
	// Tags are the video's hashtags, two to four, drawn from its topics' tags (and now and
	// then a tag of another topic, or the generic "fyp"), without the '#'.
	Tags       []string
	DurationMS int64
	Published  time.Time
}

// World is a generated world. Its fields are read-only once New returns.
type World struct {
	Config   Config // with defaults filled in
	Users    []User
	Creators []Creator
	Videos   []Video // in order of Published
	// TopicTags lists each topic's hashtags.
	TopicTags [][]string
}

// New builds the world of cfg.
func New(cfg Config) *World {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed_5e1f))
	w := &World{Config: cfg}
	w.TopicTags = make([][]string, cfg.Topics)
	for t := range w.TopicTags {
		for j := range cfg.TagsPerTopic {
			w.TopicTags[t] = append(w.TopicTags[t], fmt.Sprintf("topic%d_%c", t, 'a'+j))
		}
	}
	for i := range cfg.Users {
		w.Users = append(w.Users, User{
			ID:       int64(i + 1),
			Taste:    sparseMix(rng, cfg.Topics, 2+rng.IntN(2)),
			Activity: math.Exp(0.6*rng.NormFloat64() - 0.18),
			Patience: 0.4 * rng.NormFloat64(),
		})
	}
	for i := range cfg.Creators {
		w.Creators = append(w.Creators, Creator{
			ID:      int64(cfg.Users + 1 + i),
			Topics:  sparseMix(rng, cfg.Topics, 1+rng.IntN(2)),
			Quality: 0.6 * rng.NormFloat64(),
		})
	}
	// Creators upload unevenly: a few are prolific (weights log-normal).
	weights := make([]float64, cfg.Creators)
	for i := range weights {
		weights[i] = math.Exp(rng.NormFloat64())
	}
	cum := cumulative(weights)
	nNew := int(math.Round(cfg.NewShare * float64(cfg.Videos)))
	for i := range cfg.Videos {
		c := searchCum(cum, rng.Float64()*cum[len(cum)-1])
		cr := &w.Creators[c]
		var topics []float64
		if rng.Float64() < 0.85 {
			topics = make([]float64, cfg.Topics)
			topics[pick(rng, cr.Topics)] = 1
			if rng.Float64() < 0.3 {
				t2 := pick(rng, cr.Topics)
				topics[t2] += 1
				scale(topics, 1/sum(topics))
			}
		} else {
			topics = sparseMix(rng, cfg.Topics, 1)
		}
		var published time.Time
		if i < cfg.Videos-nNew {
			published = cfg.Start.Add(-time.Duration(rng.Float64() * float64(cfg.Backlog)))
		} else {
			published = cfg.Start.Add(time.Duration(rng.Float64() * float64(cfg.Uploads)))
		}
		dur := int64(15000 * math.Exp(0.6*rng.NormFloat64()))
		dur = min(max(dur, 3000), 180000)
		w.Videos = append(w.Videos, Video{
			ID:         newID(rng),
			Creator:    c,
			CreatorID:  cr.ID,
			Topics:     topics,
			Quality:    cr.Quality + 0.5*rng.NormFloat64(),
			Tags:       w.drawTags(rng, topics),
			DurationMS: dur,
			Published:  published.Truncate(time.Millisecond),
		})
	}
	slices.SortStableFunc(w.Videos, func(a, b Video) int { return a.Published.Compare(b.Published) })
	for i := range w.Videos {
		w.Videos[i].Index = i
	}
	return w
}

// drawTags draws a video's hashtags from its topics.
func (w *World) drawTags(rng *rand.Rand, topics []float64) []string {
	n := 2 + rng.IntN(3)
	var tags []string
	for len(tags) < n {
		var tag string
		switch r := rng.Float64(); {
		case r < 0.1:
			tag = "fyp"
		case r < 0.2:
			t := rng.IntN(len(w.TopicTags))
			tag = w.TopicTags[t][rng.IntN(len(w.TopicTags[t]))]
		default:
			t := pick(rng, topics)
			tag = w.TopicTags[t][rng.IntN(len(w.TopicTags[t]))]
		}
		if !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	return tags
}

// Catalogue returns the videos published at or before at, in order of publication (a
// prefix of w.Videos).
func (w *World) Catalogue(at time.Time) []Video {
	return w.Videos[:w.Published(at)]
}

// Published returns how many videos are published at or before at.
func (w *World) Published(at time.Time) int {
	n, _ := slices.BinarySearchFunc(w.Videos, at, func(v Video, at time.Time) int {
		if v.Published.After(at) {
			return 1
		}
		return -1
	})
	return n
}

// User returns the user of id, or nil.
func (w *World) User(id int64) *User {
	if id < 1 || id > int64(len(w.Users)) {
		return nil
	}
	return &w.Users[id-1]
}

// newID draws a valid reelay video id: 16 bytes in lowercase base32 without padding.
func newID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return idEncoding.EncodeToString(b[:])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// sparseMix returns n topics out of k with Dirichlet(1)-like weights summing to 1.
func sparseMix(rng *rand.Rand, k, n int) []float64 {
	v := make([]float64, k)
	for range n {
		v[rng.IntN(k)] += rng.ExpFloat64()
	}
	scale(v, 1/sum(v))
	return v
}

func pick(rng *rand.Rand, weights []float64) int {
	return searchCum(cumulative(weights), rng.Float64()*sum(weights))
}

func cumulative(w []float64) []float64 {
	c := make([]float64, len(w))
	s := 0.0
	for i, x := range w {
		s += x
		c[i] = s
	}
	return c
}

// searchCum returns the first index whose cumulative weight exceeds x.
func searchCum(cum []float64, x float64) int {
	i, _ := slices.BinarySearchFunc(cum, x, func(c, x float64) int {
		if c <= x {
			return -1
		}
		return 1
	})
	return min(i, len(cum)-1)
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func scale(v []float64, f float64) {
	for i := range v {
		v[i] *= f
	}
}
