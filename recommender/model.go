// Package recommender ranks the For You feed: an online model of users, videos and creators,
// updated by every player event, that proposes candidates from several sources, scores,
// filters and diversifies them (Model), and a feed.Ranker that feeds it the catalogue and
// the events of the database (Ranker).
package recommender

import (
	"sync"
	"sync/atomic"
	"time"
)

// Video is a video the recommender may pick: ready, public, not hidden.
type Video struct {
	ID         string
	Creator    int64
	Tags       []string
	DurationMS int64
	Published  time.Time
}

// Options tunes a Model; the zero value is ready to use.
type Options struct {
	// Seed seeds exploration (Thompson sampling): two models given the same videos, events
	// and queries in the same order answer alike. Default 0.
	Seed int64
	// ExploreBudget is how many impressions a new video gets as an explored candidate before
	// it competes on what it earned. Default 100.
	ExploreBudget int
	// FreshAge is how long after publication a video counts as new, to be explored while its
	// budget lasts. Default 24h.
	FreshAge time.Duration
	// ExploreSlots is how many items of every 10 of a page go to new videos, when there are
	// some. Default 1.
	ExploreSlots int
	// LaunchWindow and LaunchImpressions: a new video younger than LaunchWindow with fewer
	// than LaunchImpressions impressions is launching; while a page's candidates hold one,
	// LaunchSlots more of each 10 places go to new videos, launching ones first, so that
	// every upload gets its first look within minutes. Defaults 10m, 50 and 1 (negative
	// LaunchSlots: none). The launch slots are the last of each 10.
	LaunchWindow      time.Duration
	LaunchImpressions int
	LaunchSlots       int
	// InterestHalfLife is the half-life of a user's interest in a creator or hashtag.
	// Default 72h.
	InterestHalfLife time.Duration
	// PopularityHalfLife is the half-life of a video's popularity. Default 6h.
	PopularityHalfLife time.Duration
	// SessionGap is the pause that ends a viewing session: videos watched in one session
	// count as co-visited. Default 30m.
	SessionGap time.Duration
	// FastSkip is the watch time under which a skip counts against the video's creator and
	// hashtags for that user. Default 2s.
	FastSkip time.Duration
	// MaxUsers is how many users (and visitors) the model keeps state for; past it the ones
	// idle the longest are forgotten. A user takes at most about 20 KB (MaxSeen seen videos,
	// 100 creators and 100 hashtags of interest, 20 watched videos). Default 50,000.
	MaxUsers int
	// MaxSeen is how many seen videos the model remembers per user, the most recent. The
	// For You cursor remembers the last 500 served besides. Default 500.
	MaxSeen int
	// MaxNeighbours is how many co-visited videos the model keeps per video. Default 50.
	MaxNeighbours int

	// RefitEvery is how often, in the events' time, the batch component (EASE over a recent
	// window of strong positives, see batch.go) is refitted in the background; negative: only
	// when Refit is called. Default 10m.
	RefitEvery time.Duration
	// BatchWindow is how many of the latest strong positives (a watch ratio of at least 0.8,
	// or a like) the batch component is fitted on. Default 300,000 (about 7 MB).
	BatchWindow int
	// BatchItems bounds the videos the batch component models: the ones with the most
	// positives in the window. EASE inverts a dense matrix of that size (3,000: about 8 s of
	// one core and 150 MB while it runs). Default 3,000.
	BatchItems int
	// BatchNeighbours is how many entries of its row of B (the largest in magnitude) the
	// batch component keeps per video. Default 300.
	BatchNeighbours int
	// BatchLambda is EASE's regularisation. Default 100.
	BatchLambda float64

	// Weights are the score's weights (see Weights); SetWeights changes them later. Default
	// nil: DefaultWeights().
	Weights *Weights
}

func (o *Options) defaults() {
	setDefault(&o.ExploreBudget, 100)
	setDefault(&o.FreshAge, 24*time.Hour)
	setDefault(&o.ExploreSlots, 1)
	setDefault(&o.LaunchWindow, 10*time.Minute)
	setDefault(&o.LaunchImpressions, 50)
	if o.LaunchSlots == 0 {
		o.LaunchSlots = 1
	}
	setDefault(&o.InterestHalfLife, 72*time.Hour)
	setDefault(&o.PopularityHalfLife, 6*time.Hour)
	setDefault(&o.SessionGap, 30*time.Minute)
	setDefault(&o.FastSkip, 2*time.Second)
	setDefault(&o.MaxUsers, 50_000)
	setDefault(&o.MaxSeen, 500)
	setDefault(&o.MaxNeighbours, 50)
	if o.RefitEvery == 0 {
		o.RefitEvery = 10 * time.Minute
	}
	setDefault(&o.BatchWindow, 300_000)
	setDefault(&o.BatchItems, 3000)
	setDefault(&o.BatchNeighbours, 300)
	setDefault(&o.BatchLambda, 100)
	if o.Weights == nil {
		w := DefaultWeights()
		o.Weights = &w
	}
}

func setDefault[T int | time.Duration | float64](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// Query asks for one page.
type Query struct {
	User    int64    // 0 for a visitor
	Visitor string   // the visitor's id when User is 0, "" when unknown
	Follows []int64  // creators the user follows (the caller loads them)
	Blocked []int64  // creators the user blocked: never picked
	Exclude []string // ids, or id prefixes of feed.SeenPrefix characters, already served: never picked
	Limit   int
	Now     time.Time
	Explain bool // fill Pick.Reasons
}

// Pick is one video of a page.
type Pick struct {
	Video   string
	Score   float64
	Source  string   // the candidate source that proposed it: "following", "covisit", "similar", "popular", "fresh"
	Reasons []string // with Query.Explain
}

// The candidate sources, in the order a video proposed by several is credited to.
const (
	SourceFollowing = "following"
	SourceCovisit   = "covisit"
	SourceSimilar   = "similar"
	SourceFresh     = "fresh"
	SourcePopular   = "popular"
)

// Bounds of the candidate lists and indexes, which keep a page's cost independent of the
// catalogue's size.
const (
	popularTop      = 1000   // the popular-and-good list
	popularAsked    = 60     // popular videos a page considers, of those the user may see
	freshTop        = 1000   // the new videos listed, the fewest impressions first
	listPerCreator  = 3      // videos of one creator a page considers from the fresh and popular lists
	freshAsked      = 30     // new videos a page considers, of those the user may see
	perCreator      = 6      // videos of one creator considered, the best
	perTag          = 15     // videos of one hashtag considered, the best
	similarNewest   = 3      // and the newest of each creator and hashtag
	tagIndexCap     = 500    // videos kept in a hashtag's index, the newest
	maxFollows      = 50     // followed creators considered
	recentWatched   = 20     // watched videos remembered per user
	covisitFrom     = 10     // the recently watched videos whose co-visits a page considers
	neighboursAsked = 12     // co-visited videos considered per watched video
	topInterests    = 5      // creators and hashtags of a user's interests considered
	maxInterests    = 100    // creators and hashtags remembered per user
	sessionLen      = 10     // videos of a session that a new one is co-visited with
	maxPending      = 10_000 // videos known from events only
	listsEvery      = time.Second
	listsAge        = time.Minute
	batchAsked      = 400 // the batch model's best a page considers
	diversityWindow = 10  // at most maxPerWindow videos of a creator in any diversityWindow
	maxPerWindow    = 2
)

// Model is the online state of the recommender: the pickable videos and what the events
// taught about them and about each user. It is safe for concurrent use; its time is the
// events' (Event.At) and the queries' (Query.Now), so that a simulation runs it on its own clock.
type Model struct {
	opts    Options
	weights atomic.Pointer[Weights] // the score's, Options.Weights until SetWeights
	calls   atomic.Uint64           // Recommend calls: each seeds its own exploration
	// scratch holds the candidates' memory (*scratch) between pages.
	scratch sync.Pool

	mu sync.RWMutex
	// videos holds the pickable videos and, up to maxPending, videos that events named before
	// they were Upserted (the catalogue is polled: the first events of a new video may come
	// first), whose counts then wait for it.
	videos    map[string]*item
	pickable  int
	prefixes  map[string]*item   // by the first prefixLen characters of the id
	byCreator map[int64][]*item  // newest first
	byTag     map[string][]*item // newest first, at most tagIndexCap
	users     map[string]*user
	moved     map[*item]bool // videos whose neighbours changed in this Observe

	// changes counts the changes of the model (Upsert, Remove, events).
	changes uint64

	// The popular and fresh lists, and the best perTag videos of each hashtag and perCreator
	// of each creator, recomputed at most every listsEvery of model time, as of listsAt and
	// listsChanges. One page at a time recomputes them (refreshing), under the read lock.
	refreshing     sync.Mutex
	popular, fresh []*item
	tagBest        map[string][]*item
	creatorBest    map[int64][]*item
	listsAt        time.Time
	listsChanges   uint64

	// The batch component (batch.go): the window of strong positives, a ring of at most
	// BatchWindow from windowNext, oldest first, and when the next refit is due.
	window     []pair
	windowNext int
	nextRefit  time.Time
	batch      atomic.Pointer[batchModel] // nil until the first fit
	refits     atomic.Uint64
	fitNanos   atomic.Int64
	fits       sync.WaitGroup // the background fit, while it runs
	fitMu      sync.Mutex     // guards pendingFit and fitting
	pendingFit []pair
	fitting    bool
}

// prefixLen is the length of the id prefixes in Query.Exclude (feed.SeenPrefix).
const prefixLen = 10

// New returns an empty model.
func New(opts Options) *Model {
	opts.defaults()
	m := &Model{
		opts: opts, scratch: sync.Pool{New: newScratch}, videos: map[string]*item{}, prefixes: map[string]*item{},
		byCreator: map[int64][]*item{}, byTag: map[string][]*item{}, users: map[string]*user{}, moved: map[*item]bool{},
	}
	m.SetWeights(*opts.Weights)
	return m
}

// SetWeights sets the score's weights for the pages asked from then on: a tuner tries
// several on one model, fitted once.
func (m *Model) SetWeights(w Weights) {
	m.weights.Store(&w)
}

// Weights returns the score's weights.
func (m *Model) Weights() Weights {
	return *m.weights.Load()
}

// Upsert adds a pickable video, or updates it (what it learned of the video stays).
func (m *Model) Upsert(v Video) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.videos[v.ID]
	switch {
	case it != nil && !it.pickable:
		m.pickable++
	case it != nil:
		if it.Creator == v.Creator && it.Published.Equal(v.Published) && it.DurationMS == v.DurationMS && equalTags(it.Tags, v.Tags) {
			return
		}
		m.unindex(it)
	default:
		it = &item{hash: idHash(v.ID)}
		m.videos[v.ID] = it
		m.pickable++
	}
	v.Tags = append([]string(nil), v.Tags...)
	it.Video = v
	it.pickable = true
	m.index(it)
	m.changes++
}

// Remove forgets a video that is no longer pickable; what it learned of the video goes too.
func (m *Model) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.videos[id]
	if it == nil {
		return
	}
	if it.pickable {
		m.unindex(it)
		m.pickable--
	}
	delete(m.videos, id)
	it.pickable = false            // lists still pointing at it skip it
	for n := range it.neighbours { // co-visits are kept both ways
		if _, ok := n.neighbours[it]; ok {
			delete(n.neighbours, it)
			n.heavy = heaviest(n.neighbours, neighboursAsked)
		}
	}
	m.changes++
}

// Len returns how many videos the model may pick.
func (m *Model) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.pickable
}

func (m *Model) index(it *item) {
	if len(it.ID) >= prefixLen {
		m.prefixes[it.ID[:prefixLen]] = it
	}
	m.byCreator[it.Creator] = insertNewest(m.byCreator[it.Creator], it, 0)
	for _, t := range it.Tags {
		m.byTag[t] = insertNewest(m.byTag[t], it, tagIndexCap)
	}
}

func (m *Model) unindex(it *item) {
	if len(it.ID) >= prefixLen && m.prefixes[it.ID[:prefixLen]] == it {
		delete(m.prefixes, it.ID[:prefixLen])
	}
	m.byCreator[it.Creator] = without(m.byCreator[it.Creator], it)
	if len(m.byCreator[it.Creator]) == 0 {
		delete(m.byCreator, it.Creator)
	}
	for _, t := range it.Tags {
		if m.byTag[t] = without(m.byTag[t], it); len(m.byTag[t]) == 0 {
			delete(m.byTag, t)
		}
	}
}

// insertNewest inserts it into list, newest first (then by id), keeping at most limit (0: all).
func insertNewest(list []*item, it *item, limit int) []*item {
	i := 0
	for i < len(list) && newer(list[i], it) {
		i++
	}
	if limit > 0 && i >= limit {
		return list
	}
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = it
	if limit > 0 && len(list) > limit {
		list = list[:limit]
	}
	return list
}

func newer(a, b *item) bool {
	if !a.Published.Equal(b.Published) {
		return a.Published.After(b.Published)
	}
	return a.ID > b.ID
}

func without(list []*item, it *item) []*item {
	for i, x := range list {
		if x == it {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

func equalTags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
