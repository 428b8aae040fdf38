package e2e

import "github.com/reelay/reelay/feed"

// wireRanking sets the feed's For You ranking and, with cfg.prefetch, its next-swipe prefetch
// hints to the edges of s.
func wireRanking(fcfg *feed.Config, s *system, cfg systemConfig) error {
	return nil // the feed's default ranking, no prefetch: until the recommender and prefetch land
}
