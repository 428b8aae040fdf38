package prefetch

// Swipes is what the predictor knows of how a viewer swipes.
type Swipes struct {
	// Continue is the probability that the viewer goes on from a video to the next one at
	// all, rather than leave the feed.
	Continue float64
	// FastSkip is the probability that the viewer swipes a video away within its first
	// seconds (Config.FastSkip), learned from their recent skips: the chance that, from the
	// next video, they go straight on to the one after before a new hint could be sent.
	FastSkip float64
}

// Candidate is a video the viewer may watch next, with the probability that they reach it
// before the next hint is due.
type Candidate struct {
	Video string
	P     float64
}

// minP is the probability below which Predict stops: nothing that unlikely is worth a hint.
const minP = 0.01

// Predict returns, for a viewer watching the video at position pos of seq (the videos of the
// pages served to them, in order; pos -1 before the first), the videos they may swipe to next
// with the probability of reaching each soon, most likely first, at most max of them.
//
// The next video is reached with probability Continue. Each further one takes a fast skip of
// the one before it: the video k places ahead is reached with probability
// Continue^k · FastSkip^(k-1). The sequence runs on into the next page as soon as that page is
// served, so near the end of a page the next page's first videos come next. Videos after pos
// that the viewer already watched (a repeated id) are not predicted twice.
func Predict(seq []string, pos int, s Swipes, max int) []Candidate {
	if pos < -1 {
		pos = -1
	}
	var out []Candidate
	seen := make(map[string]bool)
	p := 1.0
	for i := pos + 1; i < len(seq) && len(out) < max; i++ {
		if i == pos+1 {
			p *= s.Continue
		} else {
			p *= s.Continue * s.FastSkip
		}
		if p < minP {
			break
		}
		if seen[seq[i]] || (pos >= 0 && seq[i] == seq[pos]) {
			continue
		}
		seen[seq[i]] = true
		out = append(out, Candidate{Video: seq[i], P: p})
	}
	return out
}
