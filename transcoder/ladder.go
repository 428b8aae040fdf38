package transcoder

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Rung is one step of the bitrate ladder. Renditions are sized by their short side, so a
// 9:16 portrait and a 16:9 landscape source get the same rungs.
type Rung struct {
	Name      string // rendition name, e.g. "720p"; used in object keys
	ShortSide int    // short side of the picture in pixels, even, e.g. 720 for 720x1280
	Bitrate   int    // target video bitrate in bits per second
}

// DefaultLadder returns the ladder used when Config.Ladder is empty: 1080p at 4.5 Mb/s, 720p at
// 2.5 Mb/s, 540p at 1.2 Mb/s and 360p at 0.6 Mb/s, highest first.
func DefaultLadder() []Rung {
	return []Rung{
		{Name: "1080p", ShortSide: 1080, Bitrate: 4_500_000},
		{Name: "720p", ShortSide: 720, Bitrate: 2_500_000},
		{Name: "540p", ShortSide: 540, Bitrate: 1_200_000},
		{Name: "360p", ShortSide: 360, Bitrate: 600_000},
	}
}

// Limits of a rung accepted by ParseLadder and New.
const (
	minShortSide = 16
	maxShortSide = 4320
	minBitrate   = 16_000
	maxBitrate   = 100_000_000
)

// ParseLadder parses a ladder as written on a command line: comma-separated rungs of the form
// SHORTSIDEp:BITRATE, where BITRATE is bits per second with an optional k or M suffix, e.g.
// "1080p:4.5M,720p:2500k,360p:600k". The result is sorted highest first.
func ParseLadder(s string) ([]Rung, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("transcoder: empty ladder")
	}
	var rungs []Rung
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		size, rate, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("transcoder: ladder rung %q: want SHORTSIDEp:BITRATE", item)
		}
		digits, ok := strings.CutSuffix(strings.TrimSpace(size), "p")
		if !ok {
			return nil, fmt.Errorf("transcoder: ladder rung %q: size must end in p", item)
		}
		side, err := strconv.Atoi(digits)
		if err != nil {
			return nil, fmt.Errorf("transcoder: ladder rung %q: size: %w", item, err)
		}
		bitrate, err := parseBitrate(strings.TrimSpace(rate))
		if err != nil {
			return nil, fmt.Errorf("transcoder: ladder rung %q: %w", item, err)
		}
		r := Rung{Name: strconv.Itoa(side) + "p", ShortSide: side, Bitrate: bitrate}
		if err := r.validate(); err != nil {
			return nil, err
		}
		rungs = append(rungs, r)
	}
	return sortLadder(rungs)
}

// parseBitrate parses "600k", "4.5M", "2500000".
func parseBitrate(s string) (int, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	}
	if s == "" || strings.ContainsAny(s, "eEpPxX_+-") { // plain decimal numbers only
		return 0, fmt.Errorf("bitrate %q: want a number with an optional k or M suffix", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bitrate: %w", err)
	}
	v *= mult
	if math.IsNaN(v) || v < minBitrate || v > maxBitrate {
		return 0, fmt.Errorf("bitrate %s: want %d to %d b/s", s, minBitrate, maxBitrate)
	}
	return int(math.Round(v)), nil
}

func (r Rung) validate() error {
	switch {
	case r.Name == "" || strings.ContainsAny(r.Name, "/\\ \t\n") || r.Name == "." || r.Name == "..":
		return fmt.Errorf("transcoder: rung name %q: want a non-empty name usable in a path", r.Name)
	case r.ShortSide < minShortSide || r.ShortSide > maxShortSide || r.ShortSide%2 != 0:
		return fmt.Errorf("transcoder: rung %s: short side %d: want an even size from %d to %d", r.Name, r.ShortSide, minShortSide, maxShortSide)
	case r.Bitrate < minBitrate || r.Bitrate > maxBitrate:
		return fmt.Errorf("transcoder: rung %s: bitrate %d: want %d to %d b/s", r.Name, r.Bitrate, minBitrate, maxBitrate)
	}
	return nil
}

// sortLadder returns a copy of rungs sorted highest first, refusing duplicate names or sizes.
func sortLadder(rungs []Rung) ([]Rung, error) {
	rungs = slices.Clone(rungs)
	slices.SortStableFunc(rungs, func(a, b Rung) int { return b.ShortSide - a.ShortSide })
	for i := 1; i < len(rungs); i++ {
		if rungs[i].ShortSide == rungs[i-1].ShortSide {
			return nil, fmt.Errorf("transcoder: two rungs with short side %d", rungs[i].ShortSide)
		}
	}
	names := map[string]bool{}
	for _, r := range rungs {
		if names[r.Name] {
			return nil, fmt.Errorf("transcoder: two rungs named %q", r.Name)
		}
		names[r.Name] = true
	}
	return rungs, nil
}

// target is a rung fitted to one source: the output picture size.
type target struct {
	Rung
	Width, Height int
}

// selectRungs fits a ladder (sorted highest first) to a source of display size w×h whose video
// carries srcBitrate b/s (0 when unknown). Rungs above the source's short side are dropped (never
// upscale); when none is left, one rung at the source's own size (rounded down to even) is kept,
// with the lowest rung's bits per pixel. A rung's bitrate is capped at the source's: a re-encode
// adds no detail, so bits beyond what the source carries buy nothing but bytes.
func selectRungs(ladder []Rung, w, h int, srcBitrate int64) []target {
	short, long := min(w, h), max(w, h)
	if short <= 0 {
		return nil
	}
	var kept []Rung
	for _, r := range ladder {
		if r.ShortSide <= short {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 && len(ladder) > 0 {
		low := ladder[len(ladder)-1]
		side := max(short&^1, 2)
		ratio := float64(side) / float64(low.ShortSide)
		kept = []Rung{{
			Name:      strconv.Itoa(side) + "p",
			ShortSide: side,
			Bitrate:   max(int(float64(low.Bitrate)*ratio*ratio), minBitrate),
		}}
	}
	if srcBitrate > 0 {
		capped := int(max(min(srcBitrate, maxBitrate), minBitrate))
		for i := range kept {
			kept[i].Bitrate = min(kept[i].Bitrate, capped)
		}
	}
	out := make([]target, 0, len(kept))
	for _, r := range kept {
		// Long side in proportion, rounded to the nearest even number.
		l := 2 * int(math.Round(float64(long)*float64(r.ShortSide)/float64(short)/2))
		l = max(l, 2)
		t := target{Rung: r, Width: r.ShortSide, Height: l}
		if w > h {
			t.Width, t.Height = l, r.ShortSide
		}
		out = append(out, t)
	}
	return out
}
