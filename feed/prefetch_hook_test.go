package feed

import (
	"slices"
	"sync"
	"testing"
)

// TestForYouServed: Config.ForYouServed is told each For You page served to a logged-in
// viewer, its videos in order, and nothing of a visitor's.
func TestForYouServed(t *testing.T) {
	type page struct {
		viewer int64
		videos []string
	}
	var (
		mu     sync.Mutex
		served []page
	)
	cfg := Config{ForYouServed: func(viewer int64, videos []string) {
		mu.Lock()
		defer mu.Unlock()
		served = append(served, page{viewer, videos})
	}}
	forEachFeedWorld(t, cfg, func(w *feedWorld) {
		mu.Lock()
		served = nil
		mu.Unlock()
		creator, _ := w.user("creator")
		engagementVideos(w, creator)
		viewer, token := w.user("viewer")
		first, next := w.page("/v1/feed/foryou?limit=3", token)
		second, _ := w.page("/v1/feed/foryou?limit=3&cursor="+next, token)
		w.page("/v1/feed/foryou?limit=3", "") // a visitor
		mu.Lock()
		defer mu.Unlock()
		if len(served) != 2 || served[0].viewer != viewer || !slices.Equal(served[0].videos, first) ||
			served[1].viewer != viewer || !slices.Equal(served[1].videos, second) {
			t.Errorf("told %v; want the viewer %d's pages %v and %v", served, viewer, first, second)
		}
	})
}
