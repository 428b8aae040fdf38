package recommender

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/reelay/reelay/recommender/baseline"
)

// The batch component: EASE (recommender/baseline) refitted over a recent window of the
// users' strong positives (a watch ratio of at least strongRatio, or a like), on the
// BatchItems items of most positives in it. The fit runs off the model's lock and is
// swapped in whole, so that Recommend never waits on it; Recommend reads each modelled
// item's BatchNeighbours heaviest entries of B, so that a user's x_u·B over the candidates
// costs a few thousand additions whatever the catalogue.
//
// A refit is due when an event's time crosses the next multiple of RefitEvery: the window it
// fits is the one as it stands after that event, a function of the events observed, so a
// model rebuilt from the same events fits the same windows (and, once its fits finish, holds
// the same batch model). A window of at most inlineFitItems items is fitted at once, inside
// Observe (it takes well under a millisecond); a larger one in a goroutine, at most one at a
// time: a window that comes due while one is fitted waits for it, and a newer one replaces it.

// strongRatio is the watch ratio from which a view is a strong positive for the batch model.
const strongRatio = 0.8

// inlineFitItems is the largest window, in distinct items, fitted inside Observe.
const inlineFitItems = 64

// pair is one strong positive of the window: a user and the video.
type pair struct {
	u  *user
	it *item
}

// batchModel is a fitted batch component; read-only once built.
type batchModel struct {
	index      map[*item]int32
	items      []*item
	neighbours [][]batchNeighbour // by index: the heaviest entries of the item's row of B
	pairs      int                // the window's size at the fit
}

type batchNeighbour struct {
	j int32
	w float32
}

// batchScratch holds a Recommend's x_u·B, by the batch model's index.
type batchScratch struct {
	score   []float32
	mark    []bool // touched
	touched []int32
}

var scratchPool = sync.Pool{New: func() any { return &batchScratch{} }}

// fitBatch fits the window: EASE on its most active items, each item's neighbours the
// heaviest positive entries of its row of B.
func fitBatch(window []pair, opts Options) *batchModel {
	users := map[*user]int{}
	items := map[*item]int{}
	var list []*item
	type cell struct{ u, i int }
	var cells []cell
	for _, p := range window {
		if !p.it.pickable {
			continue
		}
		u, ok := users[p.u]
		if !ok {
			u = len(users)
			users[p.u] = u
		}
		i, ok := items[p.it]
		if !ok {
			i = len(list)
			items[p.it] = i
			list = append(list, p.it)
		}
		cells = append(cells, cell{u, i})
	}
	b := &batchModel{index: map[*item]int32{}, pairs: len(window)}
	if len(list) == 0 {
		return b
	}
	data := baseline.NewData(len(users), len(list))
	for _, c := range cells {
		data.Add(c.u, c.i, 1)
	}
	ease, err := baseline.FitEASE(data, opts.BatchLambda, opts.BatchItems)
	if err != nil { // λ > 0 keeps XᵀX + λI positive definite: not expected
		return b
	}
	all := ease.Neighbours(opts.BatchNeighbours)
	for i, ns := range all {
		if len(ns) == 0 {
			continue
		}
		b.index[list[i]] = int32(len(b.items))
		b.items = append(b.items, list[i])
	}
	b.neighbours = make([][]batchNeighbour, len(b.items))
	for i, ns := range all {
		k, ok := b.index[list[i]]
		if !ok {
			continue
		}
		out := make([]batchNeighbour, 0, len(ns))
		for _, n := range ns {
			if j, ok := b.index[list[n.Item]]; ok {
				out = append(out, batchNeighbour{j, float32(n.Weight)})
			}
		}
		b.neighbours[k] = out
	}
	return b
}

// distinctItems counts the videos of a window.
func distinctItems(window []pair) int {
	seen := make(map[*item]struct{}, 64)
	for _, p := range window {
		seen[p.it] = struct{}{}
	}
	return len(seen)
}

// addPositive records a strong positive of u on it: in the window and in u's row.
func (m *Model) addPositive(u *user, it *item) {
	if u == nil {
		return
	}
	u.positives = appendCapped(u.positives, it, maxPositives)
	if len(m.window) < m.opts.BatchWindow {
		m.window = append(m.window, pair{u, it})
	} else {
		m.window[m.windowNext] = pair{u, it}
		m.windowNext = (m.windowNext + 1) % len(m.window)
	}
}

// windowCopy returns the window, oldest first.
func (m *Model) windowCopy() []pair {
	out := make([]pair, 0, len(m.window))
	out = append(out, m.window[m.windowNext:]...)
	return append(out, m.window[:m.windowNext]...)
}

// refitDue starts a refit when t crosses the next multiple of RefitEvery; m.mu is held.
func (m *Model) refitDue(t time.Time) {
	if m.opts.RefitEvery <= 0 || t.Before(m.nextRefit) {
		return
	}
	m.nextRefit = t.Truncate(m.opts.RefitEvery).Add(m.opts.RefitEvery)
	window := m.windowCopy()
	if distinctItems(window) <= inlineFitItems {
		m.storeBatch(window)
		return
	}
	m.fitMu.Lock()
	defer m.fitMu.Unlock()
	m.pendingFit = window
	if m.fitting {
		return
	}
	m.fitting = true
	m.fits.Add(1)
	go m.fitLoop()
}

// fitHook, when set (by tests), runs before each background fit.
var fitHook func()

// fitLoop fits the pending windows, the newest, until none is left.
func (m *Model) fitLoop() {
	defer m.fits.Done()
	for {
		m.fitMu.Lock()
		window := m.pendingFit
		m.pendingFit = nil
		if window == nil {
			m.fitting = false
			m.fitMu.Unlock()
			return
		}
		m.fitMu.Unlock()
		if fitHook != nil {
			fitHook()
		}
		m.storeBatch(window)
	}
}

// Refit fits the batch component on the window as it stands and swaps it in before it
// returns; Recommend answers meanwhile from the previous one. Automatic refits (RefitEvery)
// need no call; Refit is for a model whose RefitEvery is negative (an offline evaluation
// that fits once at the split) and for tests.
func (m *Model) Refit() {
	m.mu.RLock()
	window := m.windowCopy()
	m.mu.RUnlock()
	m.storeBatch(window)
}

// storeBatch fits window and swaps the result in.
func (m *Model) storeBatch(window []pair) {
	t0 := time.Now()
	m.batch.Store(fitBatch(window, m.opts))
	m.fitNanos.Store(int64(time.Since(t0)))
	m.refits.Add(1)
}

// BatchStats reports the batch component's refits so far, the items it models and the
// wall time of the last fit.
func (m *Model) BatchStats() (refits uint64, items int, lastFit time.Duration) {
	if b := m.batch.Load(); b != nil {
		items = len(b.items)
	}
	return m.refits.Load(), items, time.Duration(m.fitNanos.Load())
}

// WaitRefits returns once no background refit is running.
func (m *Model) WaitRefits() { m.fits.Wait() }

// batchScores computes x_u·B from u's strong positives over the batch model's lists into s,
// and returns the items of positive score, the highest first, at most n of them, as
// candidates.
func (b *batchModel) batchScores(u *user, s *batchScratch, n int) []int32 {
	if len(s.score) < len(b.items) {
		s.score = make([]float32, len(b.items))
		s.mark = make([]bool, len(b.items))
	}
	s.touched = s.touched[:0]
	for _, p := range u.positives {
		k, ok := b.index[p]
		if !ok {
			continue
		}
		for _, nb := range b.neighbours[k] {
			if !s.mark[nb.j] {
				s.mark[nb.j] = true
				s.touched = append(s.touched, nb.j)
			}
			s.score[nb.j] += nb.w
		}
	}
	better := func(x, y int32) int {
		if c := cmp.Compare(s.score[y], s.score[x]); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	}
	top := make([]int32, 0, len(s.touched))
	for _, j := range s.touched {
		if s.score[j] > 0 { // a candidate only if like the user's positives on the whole
			top = append(top, j)
		}
	}
	if len(top) > n {
		// The n-th best score by a selection over a sample-free copy: sorting the scores
		// alone is cheaper than sorting the items by score and id.
		vals := make([]float32, len(top))
		for i, j := range top {
			vals[i] = s.score[j]
		}
		slices.Sort(vals)
		cut := vals[len(vals)-n]
		kept := top[:0]
		for _, j := range top {
			if s.score[j] >= cut {
				kept = append(kept, j)
			}
		}
		top = kept
	}
	slices.SortFunc(top, better)
	return top[:min(n, len(top))]
}

// reset clears the scores batchScores wrote.
func (s *batchScratch) reset() {
	for _, j := range s.touched {
		s.score[j] = 0
		s.mark[j] = false
	}
	s.touched = s.touched[:0]
}
