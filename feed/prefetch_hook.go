package feed

// servedForYou tells Config.ForYouServed of a For You page served to a logged-in viewer: the
// ids of its items, in order. Visitors are not told: the page request does not say who they
// are.
func (s *Service) servedForYou(viewer int64, items []Item) {
	if s.cfg.ForYouServed == nil || viewer == 0 || len(items) == 0 {
		return
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	s.cfg.ForYouServed(viewer, ids)
}
