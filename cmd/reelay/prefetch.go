package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/recommender/prefetch"
)

// prefetching is how the feed sends next-swipe prefetch hints to the edges
// (recommender/prefetch), for the commands that run the feed: reelay feed names the edges
// (--prefetch-edges), reelay up hints its own.
type prefetching struct {
	edges     purgeURLs // reelay feed: the edges players ask
	on        bool      // reelay up: hint the edges of this process
	segments  int
	rendition string
	perMinute int
	bandwidth int64
}

// register adds the flags; edges tells whether the edges are named by a flag (reelay feed)
// or are the process's own (reelay up).
func (p *prefetching) register(fs *flag.FlagSet, edges bool) {
	if edges {
		fs.Var(&p.edges, "prefetch-edges", "base URLs of the edges that players ask, comma separated, which get next-swipe prefetch hints (POST /_edge/prefetch with --admin-token) and keep what they prefetch; empty sends none")
	} else {
		fs.BoolVar(&p.on, "prefetch", true, "send next-swipe prefetch hints to the edge of the playback URL (every edge of this process with another --playback-url)")
	}
	fs.IntVar(&p.segments, "prefetch-segments", prefetch.DefaultSegments, "media segments prefetched from the start of each video a viewer is predicted to watch next, after its playlists and init segment")
	fs.StringVar(&p.rendition, "prefetch-rendition", prefetch.DefaultRendition, `rendition prefetched: "auto" (the first variant of the master playlist, which players start with) or a rendition's name such as 360p`)
	fs.IntVar(&p.perMinute, "prefetch-user-budget", int(time.Minute/prefetch.DefaultUserInterval), "videos hinted per viewer per minute, sustained (10 at once)")
	sizeVar(fs, &p.bandwidth, "prefetch-bandwidth", prefetch.DefaultBytesPerSecond, "bytes per second that the hints may make the edges fetch, all edges together")
}

func (p *prefetching) validate(adminToken string) error {
	for _, u := range p.edges {
		if err := checkURL("prefetch-edges", u); err != nil {
			return err
		}
	}
	switch {
	case len(p.edges) > 0 && adminToken == "":
		return usagef("--prefetch-edges needs --admin-token: the edges take prefetch hints only with it")
	case p.segments < 1 || p.segments > 50:
		return usagef("invalid --prefetch-segments %d: want 1 to 50", p.segments)
	case p.rendition != prefetch.DefaultRendition && !layout.ValidRendition(p.rendition):
		return usagef("invalid --prefetch-rendition %q: want auto or a rendition's name", p.rendition)
	case p.perMinute < 1 || p.perMinute > 6000:
		return usagef("invalid --prefetch-user-budget %d: want 1 to 6000", p.perMinute)
	case p.bandwidth <= 0:
		return usagef("invalid --prefetch-bandwidth: it must be positive")
	}
	return nil
}

// prefetcher returns the Prefetcher that hints edges with token, or nil for no edges.
func (p *prefetching) prefetcher(edges []string, token string, reg prometheus.Registerer, log *slog.Logger) (*prefetch.Prefetcher, error) {
	if len(edges) == 0 {
		return nil, nil
	}
	return prefetch.New(prefetch.Config{
		Edges: edges, AdminToken: token, Segments: p.segments, Rendition: p.rendition,
		UserInterval: time.Minute / time.Duration(p.perMinute), BytesPerSecond: p.bandwidth,
		Registerer: reg, Logger: log,
	})
}

// internalToken is the edges' admin token in reelay up without --admin-token: the prefetch
// hints need one, and the process alone knows it.
func internalToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
