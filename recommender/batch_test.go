package recommender

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/feed"
)

// coWatched builds a world of pairs of videos (a_k, b_k) where each of 3·pairs users
// watches one pair, in separate sessions (no co-visits), and 20 videos nobody watched: the
// batch model learns that a_k's watchers watch b_k.
func coWatched(t *testing.T, opts Options, pairs int) (w *world, a, b []string) {
	w = newWorld(t, opts)
	for k := range pairs {
		a = append(a, w.video(int64(2*k+1), 48*time.Hour, fmt.Sprint("x", k)))
		b = append(b, w.video(int64(2*k+2), 48*time.Hour, fmt.Sprint("y", k)))
	}
	for k := range 20 {
		w.video(int64(1000+k), 48*time.Hour, "z")
	}
	for u := range 3 * pairs {
		k := u % pairs
		w.watch(int64(100+u), a[k])
		w.now = w.now.Add(time.Hour) // a new session: no co-visit
		w.watch(int64(100+u), b[k])
		w.now = w.now.Add(time.Hour)
	}
	return w, a, b
}

// TestBatchRefit: Refit fits the batch model on the window and swaps it in: a user who
// watched a_0 is then proposed b_0 as "similar", which no other source would find.
func TestBatchRefit(t *testing.T) {
	w, a, b := coWatched(t, Options{RefitEvery: -1}, 3)
	w.watch(1, a[0])
	if w.m.batch.Load() != nil {
		t.Fatal("a batch model before any refit, with RefitEvery negative")
	}
	if src := sourceOf(w.page(Query{User: 1, Limit: 20}), b[0]); src == SourceSimilar {
		t.Fatalf("b_0 proposed by %q before the refit", src)
	}
	w.m.Refit()
	refits, items, _ := w.m.BatchStats()
	if refits != 1 || items != 6 {
		t.Fatalf("BatchStats = %d refits, %d items; want 1 and 6", refits, items)
	}
	page := w.page(Query{User: 1, Limit: 20, Explain: true})
	if src := sourceOf(page, b[0]); src != SourceSimilar {
		t.Fatalf("b_0 proposed by %q after the refit, want %q: %v", src, SourceSimilar, page)
	}
	if i := slices.Index(ids(page), b[0]); i != 0 {
		t.Errorf("b_0 at %d of %v, want first", i, ids(page))
	}
}

// TestBatchRefitInBackground: a refit that comes due in Observe runs in the background; while
// it runs, Observe and Recommend answer from the previous model, and once it is over the new
// one is in.
func TestBatchRefitInBackground(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	fitHook = func() {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
	}
	t.Cleanup(func() { fitHook = nil })
	// More than inlineFitItems items: the fit goes to the background.
	w, a, b := coWatched(t, Options{RefitEvery: time.Hour}, inlineFitItems)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no background refit started")
	}
	before := w.m.batch.Load() // the last inline fit, or none
	done := make(chan []Pick)
	go func() {
		w.watch(1, a[0]) // Observe does not wait on the fit
		done <- w.page(Query{User: 1, Limit: 20})
	}()
	select {
	case page := <-done:
		if len(page) == 0 {
			t.Error("an empty page during the refit")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Observe or Recommend waited on the refit")
	}
	if w.m.batch.Load() != before {
		t.Fatal("the batch model changed while the fit was held")
	}
	close(release)
	w.m.WaitRefits()
	nb := w.m.batch.Load()
	if nb == before || nb == nil || len(nb.items) <= inlineFitItems {
		t.Fatalf("after the background refit the batch model holds %v", nb)
	}
	if src := sourceOf(w.page(Query{User: 1, Limit: 20}), b[0]); src != SourceSimilar {
		t.Errorf("b_0 proposed by %q after the refit, want %q", src, SourceSimilar)
	}
}

// TestBatchConcurrent: pages, events and refits from several goroutines at once (for the
// race detector).
func TestBatchConcurrent(t *testing.T) {
	w, a, _ := coWatched(t, Options{RefitEvery: -1}, 5)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				switch g {
				case 0:
					w.m.Refit()
				case 1:
					at := t0.Add(time.Duration(i) * time.Second)
					w.m.Observe([]feed.Event{{UserID: 7, Video: a[i%len(a)], Type: feed.EventComplete, At: at}})
				default:
					w.m.Recommend(Query{User: 100 + int64(i%30), Limit: 10, Now: w.now})
				}
			}
		})
	}
	wg.Wait()
}

// TestContentAffinity: a user who watches one hashtag's videos to the end and skips
// another's within a second is offered the first hashtag's new video above the second's,
// both unknown to anyone else, and the first hashtag's videos as candidates.
func TestContentAffinity(t *testing.T) {
	w := newWorld(t, Options{RefitEvery: -1})
	for i := range 8 {
		w.watch(1, w.video(int64(10+i), 48*time.Hour, "cats"))
		dog := w.video(int64(30+i), 48*time.Hour, "dogs")
		w.event(1, dog, feed.EventImpression, 0)
		w.event(1, dog, feed.EventSkip, 500)
	}
	for i := range 40 { // others, so that the new videos are not the only candidates
		w.video(int64(50+i), 48*time.Hour, "misc")
	}
	cat := w.video(90, 30*time.Hour, "cats", "fyp")
	dog := w.video(91, 30*time.Hour, "dogs", "fyp")
	page := ids(w.page(Query{User: 1, Limit: 50}))
	ic, id := slices.Index(page, cat), slices.Index(page, dog)
	if ic < 0 || ic > 1 {
		t.Errorf("the new cat video at %d of %v, want among the first 2", ic, page)
	}
	if id >= 0 && id < ic {
		t.Errorf("the dog video (%d) above the cat video (%d)", id, ic)
	}
	if tags := w.m.bestTags(w.m.users["1"], 3, w.now); !slices.Equal(tags, []string{"cats"}) {
		t.Errorf("bestTags = %v, want [cats]", tags)
	}
}
