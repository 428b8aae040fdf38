package recommender

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// candidate is a video proposed for a page.
type candidate struct {
	it      *item
	source  string
	score   float64
	explore bool    // a new video within its budget, scored by a draw (Thompson sampling)
	need    float64 // how much a new video needs a look: the share of its budget left
	// launching: a new video in its first LaunchWindow, short of LaunchImpressions
	launching bool
	taken     bool    // on the page already
	covisit   float64 // its co-visit weight with what the user watched
	batch     float64 // the batch model's x_u·B, over the user's best (0 to 1)
	via       *item   // the watched video whose co-visits proposed it (covisit)
	rates     rates
}

// Recommend returns at most q.Limit picks, best first: candidates from the sources (followed
// creators, co-visits of what the user watched, videos like the ones they like, new videos,
// popular and good ones), scored, less what the user may not or need not see, in an order
// where no creator follows itself and none has more than 2 of any 10 (as far as the
// candidates allow: see arrange).
func (m *Model) Recommend(q Query) []Pick {
	if q.Limit <= 0 {
		return nil
	}
	m.refreshLists(q.Now)
	r := rand.New(rand.NewPCG(uint64(m.opts.Seed), m.calls.Add(1)))
	m.mu.RLock()
	defer m.mu.RUnlock()
	u := m.users[userKey(q.User, q.Visitor)]
	f := m.filter(q, u)
	sc := m.scratch.Get().(*scratch)
	defer m.scratch.Put(sc)
	sc.reset()
	cands, index := sc.cands, sc.index
	b := m.batch.Load()
	bs := scratchPool.Get().(*batchScratch)
	defer func() {
		bs.reset()
		scratchPool.Put(bs)
	}()
	if u == nil {
		b = nil
	}
	// add proposes it, and reports whether it is a new candidate.
	add := func(it *item, source string, via *item, w float64) bool {
		i, ok := index[it]
		if !ok {
			if !f.ok(it) {
				return false
			}
			i = len(cands)
			index[it] = i
			cands = append(cands, candidate{it: it, source: source, via: via})
		}
		if source == SourceCovisit {
			cands[i].covisit += w
		}
		return !ok
	}
	// Followed creators: their newest videos.
	for _, cr := range q.Follows[:min(len(q.Follows), maxFollows)] {
		for _, it := range first(m.byCreator[cr], perCreator) {
			add(it, SourceFollowing, nil, 0)
		}
	}
	if u != nil {
		// Co-visits of what the user watched, the most recent first.
		for i := len(u.recent) - 1; i >= max(0, len(u.recent)-covisitFrom); i-- {
			w := u.recent[i]
			for _, n := range w.heavy {
				add(n.it, SourceCovisit, w, n.w)
			}
		}
		// Similar: the batch model's best for the user's strong positives, then the best and
		// the newest videos of the creators they like most and of the hashtags they watch
		// most.
		if b != nil {
			for _, j := range b.batchScores(u, bs, batchAsked) {
				add(b.items[j], SourceSimilar, nil, 0)
			}
		}
		for _, cr := range strongest(u.creators, topInterests, q.Now, m.opts.InterestHalfLife) {
			for _, it := range m.creatorBest[cr] {
				add(it, SourceSimilar, nil, 0)
			}
			for _, it := range first(m.byCreator[cr], similarNewest) {
				add(it, SourceSimilar, nil, 0)
			}
		}
		tags := m.bestTags(u, topTags, q.Now)
		for _, tag := range strongest(u.tags, topInterests, q.Now, m.opts.InterestHalfLife) {
			if !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
		}
		for _, tag := range tags {
			for _, it := range m.tagBest[tag] {
				add(it, SourceSimilar, nil, 0)
			}
			for _, it := range first(m.byTag[tag], similarNewest) {
				add(it, SourceSimilar, nil, 0)
			}
		}
	}
	// New videos, the fewest impressions first, and the popular and good ones, as many of
	// each as a page could want whatever the user has seen: at most listPerCreator of one
	// creator's, so that the rules of diversity find enough others, unless the list has
	// too few others.
	listed := func(list []*item, source string, limit int) {
		n, per := 0, sc.per
		clear(per)
		for _, capped := range []bool{true, false} {
			for _, it := range list {
				if n == limit {
					return
				}
				if (!capped || per[it.Creator] < listPerCreator) && (source != SourceFresh || it.Published.Add(m.opts.FreshAge).After(q.Now)) && add(it, source, nil, 0) {
					n++
					per[it.Creator]++
				}
			}
		}
	}
	listed(m.fresh, SourceFresh, freshAsked)
	listed(m.popular, SourcePopular, popularAsked)

	// Every candidate competes for the page on its score (a new video's drawn); new videos
	// within their budget have the exploration slots too, the fewest impressions first.
	main, explore := sc.main, sc.explore
	var batchMax float32
	if b != nil {
		for _, j := range bs.touched {
			batchMax = max(batchMax, bs.score[j])
		}
	}
	for i := range cands {
		c := &cands[i]
		if batchMax > 0 {
			if j, ok := b.index[c.it]; ok {
				c.batch = float64(bs.score[j] / batchMax)
			}
		}
		m.score(c, u, f, q.Now, r)
		main = append(main, c)
		if c.explore {
			explore = append(explore, c)
		}
	}
	slices.SortFunc(main, func(a, b *candidate) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		return cmp.Compare(a.it.ID, b.it.ID)
	})
	// The exploration slots: launching videos first, the fewest impressions first; then the
	// other new videos within their budget by score (drawn): the one this user is likeliest
	// to watch, so that exploring costs the user little.
	slices.SortFunc(explore, func(a, b *candidate) int {
		if a.launching != b.launching {
			if a.launching {
				return -1
			}
			return 1
		}
		if a.launching && a.need != b.need {
			return cmp.Compare(b.need, a.need)
		}
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		return cmp.Compare(a.it.ID, b.it.ID)
	})
	sc.cands, sc.main, sc.explore = cands, main, explore // grown, for the next page
	page := m.arrange(q, f, main, explore)
	picks := make([]Pick, len(page))
	for i, c := range page {
		picks[i] = Pick{Video: c.it.ID, Score: c.score, Source: c.source}
		if q.Explain {
			picks[i].Reasons = m.reasons(c, u, f, q.Now)
		}
	}
	return picks
}

// scratch is the memory of one page's candidates, reused from page to page.
type scratch struct {
	cands         []candidate
	index         map[*item]int // in cands
	main, explore []*candidate
	per           map[int64]int // candidates by creator, of a list
}

func newScratch() any {
	return &scratch{cands: make([]candidate, 0, 512), index: make(map[*item]int, 512), per: map[int64]int{}}
}

func (s *scratch) reset() {
	s.cands = s.cands[:0]
	clear(s.index)
	s.main, s.explore = s.main[:0], s.explore[:0]
}

// filter is what a query leaves out, and what it knows of the user.
type filter struct {
	user     int64
	follows  map[int64]bool
	blocked  map[int64]bool // blocked, or not interested
	exclude  map[string]bool
	seen     map[uint64]struct{} // by idHash
	lastSeen []*item             // the videos last served, by Query.Exclude's order, for the diversity rules
}

func (m *Model) filter(q Query, u *user) *filter {
	f := &filter{user: q.User, follows: map[int64]bool{}, blocked: map[int64]bool{}, exclude: make(map[string]bool, len(q.Exclude))}
	for _, c := range q.Follows {
		f.follows[c] = true
	}
	for _, c := range q.Blocked {
		f.blocked[c] = true
	}
	for _, id := range q.Exclude {
		f.exclude[id] = true
	}
	for i := len(q.Exclude) - 1; i >= 0 && len(f.lastSeen) < diversityWindow-1; i-- {
		id := q.Exclude[i]
		it := m.videos[id]
		if it == nil && len(id) >= prefixLen {
			it = m.prefixes[id[:prefixLen]]
		}
		if it != nil {
			f.lastSeen = append(f.lastSeen, it)
		}
	}
	slices.Reverse(f.lastSeen)
	if u != nil {
		f.seen = u.seen
		for _, c := range u.blocked {
			f.blocked[c] = true
		}
	}
	return f
}

// ok reports whether it may go on the page.
func (f *filter) ok(it *item) bool {
	if !it.pickable || f.blocked[it.Creator] || f.user != 0 && it.Creator == f.user {
		return false
	}
	if _, seen := f.seen[it.hash]; seen {
		return false
	}
	return !f.exclude[it.ID] && !(len(it.ID) >= prefixLen && f.exclude[it.ID[:prefixLen]])
}

// Weights are the weights of a candidate's score. The user's own signals decide most of it:
// how they watched the candidate's hashtags (Content, on a lift from -1 to 1, mostly within
// ±0.3) and the batch model's x_u·B over their best candidate (Batch, on 0 to 1); the video's
// global rates (Quality, on about 0.3 to 1.5), the interest in its creator and hashtags
// (Affinity, on -1 to 1), co-visits with what the user watched (Covisit, on 0 to 1) and a
// followed creator (Follow) add less.
type Weights struct {
	Content  float64 `json:"content"`
	Batch    float64 `json:"batch"`
	Quality  float64 `json:"quality"`
	Affinity float64 `json:"affinity"`
	Covisit  float64 `json:"covisit"`
	Follow   float64 `json:"follow"`
}

// DefaultWeights are Options.Weights' default, chosen on the simulator's seeds 1-3 and
// MovieLens 100K (bench/RESULTS.md): content 6, batch 4, quality 0.1, affinity 0.5, follow
// 0.3; co-visits propose candidates but do not add to the score (every weight on them
// lowered both).
func DefaultWeights() Weights {
	return Weights{Content: 6, Batch: 4, Quality: 0.1, Affinity: 0.5, Covisit: 0, Follow: 0.3}
}

// score sets c's score: the blend of its predicted rates (drawn, for a new video within its
// budget), raised by the user's interest in its creator and hashtags, its co-visits with
// what they watched, and a followed creator.
func (m *Model) score(c *candidate, u *user, f *filter, now time.Time, r *rand.Rand) {
	it := c.it
	c.explore = it.impressions < float64(m.opts.ExploreBudget) && it.Published.Add(m.opts.FreshAge).After(now)
	if c.explore {
		c.rates = it.predict(r)
	} else {
		c.rates = it.predict(nil)
	}
	w := m.weights.Load()
	s := w.Quality * c.rates.value()
	if u != nil {
		s += w.Affinity*m.affinity(u, it, now) + w.Content*m.contentLift(u, it, now)
	}
	s += w.Batch*c.batch + w.Covisit*math.Tanh(c.covisit/3)
	if f.follows[it.Creator] {
		s += w.Follow
	}
	c.score = s
	if c.explore {
		c.need = 1 - it.impressions/float64(m.opts.ExploreBudget) // the share of its budget left
		c.launching = it.impressions < float64(m.opts.LaunchImpressions) && it.Published.Add(m.opts.LaunchWindow).After(now)
	}
}

// affinity is u's interest in the creator and hashtags of it, from -1 to 1.
func (m *Model) affinity(u *user, it *item, now time.Time) float64 {
	hl := m.opts.InterestHalfLife
	var cr, tg float64
	if x := u.creators[it.Creator]; x != nil {
		cr = decay(x.v, x.at, now, hl)
	}
	for _, t := range it.Tags {
		if x := u.tags[t]; x != nil {
			tg += decay(x.v, x.at, now, hl)
		}
	}
	return 0.6*math.Tanh(cr/2) + 0.4*math.Tanh(tg/2)
}

// arrange orders the page: the best candidates, with ExploreSlots of each 10 places going to
// new videos while there are some (and the last LaunchSlots of each 10 while some are
// launching), such that no creator follows itself and none has more than maxPerWindow
// videos in any diversityWindow (counting the videos last served). Only when no candidate
// left can keep the rules (a catalogue of few creators) does a place go to the best that
// keeps the first, then to the best: the feed goes on, spaced out as much as it can be.
func (m *Model) arrange(q Query, f *filter, main, explore []*candidate) []*candidate {
	page := make([]*candidate, 0, q.Limit)
	recent := make([]int64, 0, diversityWindow+q.Limit) // creators, the last served first
	for _, it := range f.lastSeen {
		recent = append(recent, it.Creator)
	}
	// fits reports whether c keeps the rules: none (strict 0), or both (2), or only the
	// first (1).
	fits := func(c *candidate, strict int) bool {
		n := len(recent)
		if strict == 0 {
			return true
		}
		if n > 0 && recent[n-1] == c.it.Creator {
			return false
		}
		if strict == 1 {
			return true
		}
		count := 0
		for _, cr := range recent[max(0, n-diversityWindow+1):] {
			if cr == c.it.Creator {
				count++
			}
		}
		return count < maxPerWindow
	}
	// take puts the first candidate of list that fits on the page.
	take := func(list *[]*candidate, strict int) bool {
		for len(*list) > 0 && (*list)[0].taken {
			*list = (*list)[1:]
		}
		for _, c := range *list {
			if !c.taken && fits(c, strict) {
				c.taken = true
				page = append(page, c)
				recent = append(recent, c.it.Creator)
				return true
			}
		}
		return false
	}
	slots := min(m.opts.ExploreSlots, diversityWindow)
	launch := 0 // the last places of each 10, while there are launching videos
	if slices.ContainsFunc(explore, func(c *candidate) bool { return c.launching }) {
		launch = min(max(m.opts.LaunchSlots, 0), diversityWindow-slots)
	}
	for len(page) < q.Limit {
		pos := len(page) % diversityWindow
		exploring := slots > 0 && pos%(diversityWindow/slots) == diversityWindow/slots/2 ||
			pos >= diversityWindow-launch
		if exploring && take(&explore, 2) || take(&main, 2) || take(&main, 1) || take(&main, 0) {
			continue
		}
		break // main holds every candidate: none is left
	}
	return page
}

// listsStale reports whether the popular and fresh lists are due: listsEvery old and the
// model changed since, or listsAge old (popularity decays, new videos age).
func (m *Model) listsStale(now time.Time) bool {
	age := now.Sub(m.listsAt)
	return m.popular == nil || age >= listsEvery && m.changes != m.listsChanges || age >= listsAge
}

// refreshLists recomputes the popular and fresh lists when they are due.
// The lists are computed under the read lock, so that other pages go on meanwhile, with the
// lists of before (but for the first lists, which every page waits for).
func (m *Model) refreshLists(now time.Time) {
	m.mu.RLock()
	stale, first := m.listsStale(now), m.popular == nil
	m.mu.RUnlock()
	if !stale {
		return
	}
	if first {
		m.refreshing.Lock()
	} else if !m.refreshing.TryLock() {
		return // another page recomputes them
	}
	defer m.refreshing.Unlock()
	m.mu.RLock()
	if !m.listsStale(now) {
		m.mu.RUnlock()
		return
	}
	changes := m.changes
	type ranked struct {
		it *item
		v  float64
	}
	var pop, fr []ranked
	for _, it := range m.videos {
		if !it.pickable {
			continue
		}
		// Popular and good: decayed popularity, times what a viewing is worth.
		pop = append(pop, ranked{it, math.Log1p(it.popularityAt(now, m.opts.PopularityHalfLife)) * max(it.predict(nil).value(), 0.01)})
		if it.impressions < float64(m.opts.ExploreBudget) && it.Published.Add(m.opts.FreshAge).After(now) {
			fr = append(fr, ranked{it, -it.impressions}) // the fewest impressions first
		}
	}
	best := func(list []ranked, n int) []*item {
		slices.SortFunc(list, func(a, b ranked) int {
			if a.v != b.v {
				return cmp.Compare(b.v, a.v)
			}
			if c := b.it.Published.Compare(a.it.Published); c != 0 {
				return c
			}
			return cmp.Compare(a.it.ID, b.it.ID)
		})
		out := make([]*item, 0, min(n, len(list)))
		for _, r := range list[:min(n, len(list))] {
			out = append(out, r.it)
		}
		return out
	}
	popular, fresh := best(pop, popularTop), best(fr, freshTop)
	// pop is sorted now: the best of each hashtag and creator, for the similar source.
	tagBest, creatorBest := map[string][]*item{}, map[int64][]*item{}
	for _, r := range pop {
		for _, t := range r.it.Tags {
			if l := tagBest[t]; len(l) < perTag {
				tagBest[t] = append(l, r.it)
			}
		}
		if l := creatorBest[r.it.Creator]; len(l) < perCreator {
			creatorBest[r.it.Creator] = append(l, r.it)
		}
	}
	m.mu.RUnlock()
	m.mu.Lock()
	m.popular, m.fresh, m.tagBest, m.creatorBest = popular, fresh, tagBest, creatorBest
	m.listsAt, m.listsChanges = now, changes
	m.mu.Unlock()
}

// first returns the first n of list.
func first(list []*item, n int) []*item { return list[:min(n, len(list))] }

// neighbour is a co-visited video and its weight.
type neighbour struct {
	it *item
	w  float64
}

// heaviest returns the n heaviest neighbours, heaviest first (then by id), by insertion
// into a list of n: a video has at most MaxNeighbours.
func heaviest(nb map[*item]float64, n int) []neighbour {
	out := make([]neighbour, 0, n+1)
	before := func(a, b neighbour) bool { return a.w > b.w || a.w == b.w && a.it.ID < b.it.ID }
	for it, w := range nb {
		x := neighbour{it, w}
		if len(out) == n && !before(x, out[n-1]) {
			continue
		}
		i := len(out)
		for i > 0 && before(x, out[i-1]) {
			i--
		}
		out = slices.Insert(out, i, x)
		if len(out) > n {
			out = out[:n]
		}
	}
	return out
}

// strongest returns the n keys of the strongest positive interests at now.
func strongest[K cmp.Ordered](in map[K]*interest, n int, now time.Time, halfLife time.Duration) []K {
	all := make([]keyed[K], 0, len(in))
	for k, x := range in {
		if v := decay(x.v, x.at, now, halfLife); v > 0 {
			all = append(all, keyed[K]{k, v})
		}
	}
	return topKeys(all, n)
}

// keyed is a key with its value, for topKeys.
type keyed[K cmp.Ordered] struct {
	k K
	v float64
}

// topKeys returns the keys of the n largest values of all, highest first (ties by key, so that
// the order does not follow a map's), reordering all.
func topKeys[K cmp.Ordered](all []keyed[K], n int) []K {
	slices.SortFunc(all, func(a, b keyed[K]) int {
		if a.v != b.v {
			return cmp.Compare(b.v, a.v)
		}
		return cmp.Compare(a.k, b.k)
	})
	out := make([]K, 0, min(n, len(all)))
	for _, x := range all[:min(n, len(all))] {
		out = append(out, x.k)
	}
	return out
}

// reasons says why c was picked.
func (m *Model) reasons(c *candidate, u *user, f *filter, now time.Time) []string {
	it, p := c.it, c.rates
	var out []string
	switch c.source {
	case SourceFollowing:
		out = append(out, "from a creator you follow")
	case SourceCovisit:
		out = append(out, fmt.Sprintf("watched with %s by others (weight %.2f)", c.via.ID, c.covisit))
	case SourceSimilar:
		out = append(out, "like the creators and hashtags you watch")
	case SourceFresh:
		out = append(out, "new video")
	case SourcePopular:
		out = append(out, fmt.Sprintf("popular (%.1f recent plays)", it.popularityAt(now, m.opts.PopularityHalfLife)))
	}
	if c.explore {
		out = append(out, fmt.Sprintf("exploring: %.0f of %d impressions, rates drawn from their posteriors", it.impressions, m.opts.ExploreBudget))
	}
	out = append(out, fmt.Sprintf("predicted watch %.2f, complete %.2f, like %.3f, share %.3f, skip %.2f over %.0f viewings", p.watch, p.complete, p.like, p.share, p.skip, it.views))
	if u != nil {
		if a := m.affinity(u, it, now); a != 0 {
			out = append(out, fmt.Sprintf("your interest in its creator and hashtags %.2f", a))
		}
	}
	if f.follows[it.Creator] && c.source != SourceFollowing {
		out = append(out, "from a creator you follow")
	}
	return out
}
