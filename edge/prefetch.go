package edge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/reelay/reelay/internal/layout"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/videoid"
)

// Limits of a prefetch request.
const (
	prefetchMaxBody        = 64 << 10
	prefetchMaxVideos      = 100
	prefetchMaxSegments    = 50
	prefetchConcurrency    = 4
	prefetchAutoRendition  = "auto"
	prefetchDefaultSegment = 3
)

// PrefetchRequest is the body of POST /_edge/prefetch.
type PrefetchRequest struct {
	// Videos are the ids of the videos to warm, at most 100.
	Videos []string `json:"videos"`
	// Rendition names the rendition to warm, or "auto" (the default) for the first variant
	// of the master playlist.
	Rendition string `json:"rendition,omitempty"`
	// Segments is how many media segments to warm from the start of each video, at most 50.
	// Default 3; 0 warms the playlists and init segment only, when given as 0 explicitly.
	Segments *int `json:"segments,omitempty"`
	// Local keeps the objects on the node that takes the request as well as on their owners,
	// as a player's request to it would: the node fills each object through its owner (which
	// keeps it too) and stores it, so that a player that then asks this node is answered a
	// hit. It is for the feed's hints, sent to the node that the viewer's player asks. Default
	// false: each object is warmed on its owner only, and a player asking another node gets it
	// by a fill from the owner (a miss on that node, a hit on the owner).
	Local bool `json:"local,omitempty"`
}

// PrefetchResult is the answer of POST /_edge/prefetch.
type PrefetchResult struct {
	Videos []PrefetchVideo `json:"videos"`
	// Bytes is the body bytes fetched in all; fetching stops once it passes the budget.
	Bytes           int64 `json:"bytes"`
	BudgetExhausted bool  `json:"budget_exhausted,omitempty"`
}

// PrefetchVideo is the outcome of a prefetch for one video.
type PrefetchVideo struct {
	Video     string `json:"video"`
	Rendition string `json:"rendition,omitempty"`
	Fetched   int    `json:"fetched"` // objects fetched, onto their owners
	Skipped   int    `json:"skipped"` // objects already in this node's cache
	Error     string `json:"error,omitempty"`
}

// servePrefetch warms the caches with the start of some videos: for each, the master
// playlist, one video rendition's media playlist, its init segment and first segments, and
// the same of the audio renditions (EXT-X-MEDIA) that play with it, each filled on the node
// that owns it. It needs the admin token.
func (e *Edge) servePrefetch(ctx *fasthttp.RequestCtx) error {
	if !e.authorized(ctx) {
		return errForbidden
	}
	body := ctx.PostBody()
	if len(body) > prefetchMaxBody {
		return apierr.Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than %d bytes", prefetchMaxBody)
	}
	req, err := parsePrefetch(body)
	if err != nil {
		return err
	}
	p := &prefetch{e: e, sem: make(chan struct{}, prefetchConcurrency), budget: e.cfg.PrefetchBudget, local: req.Local}
	res := PrefetchResult{Videos: make([]PrefetchVideo, len(req.Videos))}
	var wg sync.WaitGroup
	for i, video := range req.Videos {
		wg.Go(func() { res.Videos[i] = p.video(video, req.Rendition, *req.Segments) })
	}
	wg.Wait()
	res.Bytes = p.bytes.Load()
	res.BudgetExhausted = res.Bytes >= p.budget
	writeJSON(ctx, http.StatusOK, res)
	return nil
}

// parsePrefetch decodes and checks a prefetch request body, filling in the defaults.
func parsePrefetch(body []byte) (PrefetchRequest, error) {
	var req PrefetchRequest
	if err := apierr.UnmarshalJSON(body, &req); err != nil {
		return PrefetchRequest{}, err
	}
	if len(req.Videos) == 0 || len(req.Videos) > prefetchMaxVideos {
		return req, apierr.Errorf(http.StatusBadRequest, "invalid_request", "videos must list 1 to %d ids", prefetchMaxVideos)
	}
	for _, v := range req.Videos {
		if !videoid.Valid(v) {
			return req, apierr.Errorf(http.StatusBadRequest, "invalid_request", "%q is not a video id", v)
		}
	}
	if req.Rendition == "" {
		req.Rendition = prefetchAutoRendition
	}
	if req.Rendition != prefetchAutoRendition && !layout.ValidRendition(req.Rendition) {
		return req, apierr.Errorf(http.StatusBadRequest, "invalid_request", "%q is not a rendition", req.Rendition)
	}
	if req.Segments == nil {
		n := prefetchDefaultSegment
		req.Segments = &n
	}
	if *req.Segments < 0 || *req.Segments > prefetchMaxSegments {
		return req, apierr.Errorf(http.StatusBadRequest, "invalid_request", "segments must be 0 to %d", prefetchMaxSegments)
	}
	return req, nil
}

// prefetch is one prefetch request under way.
type prefetch struct {
	e      *Edge
	sem    chan struct{} // bounds the fetches in flight
	budget int64
	local  bool // PrefetchRequest.Local: keep the objects here too
	bytes  atomic.Int64
}

// errBudget stops a video's prefetch once the request's byte budget is spent.
var errBudget = errors.New("edge: prefetch byte budget spent")

func (p *prefetch) video(video, rendition string, segments int) PrefetchVideo {
	out := PrefetchVideo{Video: video}
	fail := func(err error) PrefetchVideo {
		out.Error = err.Error()
		return out
	}
	prefix := layout.Path(video, "")
	master, err := p.ensure(prefix+layout.Master, true, &out)
	if err != nil {
		return fail(err)
	}
	var media layout.Object
	for _, uri := range variantURIs(master) {
		obj, ok := resolve(prefix, uri)
		if ok && obj.Kind == layout.KindPlaylist && (rendition == prefetchAutoRendition || obj.Rendition == rendition) {
			media = obj
			break
		}
	}
	if media.Path == "" {
		return fail(fmt.Errorf("no variant %q in the master playlist", rendition))
	}
	out.Rendition = media.Rendition
	// The video rendition, then the audio renditions that play with it: a player needs the
	// start of both.
	playlists := []layout.Object{media}
	for _, uri := range audioURIs(master) {
		if obj, ok := resolve(prefix, uri); ok && obj.Kind == layout.KindPlaylist {
			playlists = append(playlists, obj)
		}
	}
	var keys []string
	for _, pl := range playlists {
		playlist, err := p.ensure(pl.Path, true, &out)
		if err != nil {
			return fail(err)
		}
		init, segs := mediaURIs(playlist)
		dir := path.Dir(pl.Path) + "/"
		if obj, ok := resolve(dir, init); ok && obj.Kind == layout.KindInit {
			keys = append(keys, obj.Path)
		}
		for _, uri := range segs[:min(segments, len(segs))] {
			if obj, ok := resolve(dir, uri); ok && obj.Kind == layout.KindSegment {
				keys = append(keys, obj.Path)
			}
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, key := range keys {
		wg.Go(func() {
			o := PrefetchVideo{}
			_, err := p.ensure(key, false, &o)
			mu.Lock()
			defer mu.Unlock()
			out.Fetched += o.Fetched
			out.Skipped += o.Skipped
			if err != nil && first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	if first != nil {
		return fail(first)
	}
	return out
}

// ensure makes key cached on its owner, unless this node holds it already, and returns its
// body when needBody is set; with p.local it makes it cached on this node too, filled through
// the owner as a player's request is, and notes it here for the used and wasted counts. It
// counts the object in out.
func (p *prefetch) ensure(key string, needBody bool, out *PrefetchVideo) ([]byte, error) {
	e := p.e
	obj, _ := layout.Parse(key)
	if ent, ok := e.mem.Get(key); ok && e.fresh(obj, ent) {
		out.Skipped++
		return ent.Body, nil
	}
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	// The budget may be passed by the fetches already in flight, at most prefetchConcurrency.
	if p.bytes.Load() >= p.budget {
		return nil, errBudget
	}
	var (
		f   fill
		ok  bool
		err error
	)
	if !p.local {
		f, ok = p.viaOwner(key)
	}
	if !ok {
		f, err = e.get(context.Background(), obj, false)
		e.prefetches.filled(key, f)
	}
	if err == nil {
		f, err = f.whole() // a segment may still be arriving: its size counts against the budget
	}
	if err != nil {
		return nil, err
	}
	if f.status != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", key, f.status)
	}
	out.Fetched++
	e.stats.prefetched.Add(1)
	p.bytes.Add(int64(len(f.entry.Body)))
	if !needBody {
		return nil, nil
	}
	return f.entry.Body, nil
}

// viaOwner asks the node that the cluster picks for key to fill it, when that is another node:
// the owner fills it from the origin and keeps it, this node does not. The fill counts against
// the owner while it runs. It reports whether the owner answered below 500; when it did not, or
// this node is the one picked, the caller fills key itself.
func (p *prefetch) viaOwner(key string) (fill, bool) {
	e := p.e
	if e.picker == nil {
		return fill{}, false
	}
	owner, release := e.picker.Acquire(key)
	defer release()
	if owner.Name == "" || owner.Name == e.self || owner.Meta.HTTPAddr == "" {
		return fill{}, false
	}
	f, err := e.fetchURL(context.Background(), "http://"+owner.Meta.HTTPAddr+key, peerPrefetch)
	if err != nil || f.status >= 500 {
		e.log.Warn("edge: prefetch through the owner failed", "key", key, "owner", owner.Name, "status", f.status, "err", err)
		return fill{}, false
	}
	return f, true
}

// resolve maps a URI of a playlist under dir (a key ending in "/") to the object it names. It
// accepts only relative references that stay within the video, as the packager writes them.
func resolve(dir, uri string) (layout.Object, bool) {
	if uri == "" || strings.ContainsAny(uri, ":?#\\") || strings.HasPrefix(uri, "/") {
		return layout.Object{}, false
	}
	obj, ok := layout.Parse(path.Clean(dir + uri))
	if !ok || !strings.HasPrefix(dir, layout.Path(obj.Video, "")) {
		return layout.Object{}, false // "../../{another video}/..."
	}
	return obj, true
}

// variantURIs returns the URIs of a master playlist's variant streams, in order.
func variantURIs(master []byte) []string {
	var uris []string
	next := false
	sc := bufio.NewScanner(bytes.NewReader(master))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF"):
			next = true
		case line == "" || strings.HasPrefix(line, "#"):
		case next:
			uris = append(uris, line)
			next = false
		}
	}
	return uris
}

// audioURIs returns the URIs of a master playlist's audio renditions (EXT-X-MEDIA of
// TYPE=AUDIO with a URI), in order.
func audioURIs(master []byte) []string {
	var uris []string
	sc := bufio.NewScanner(bytes.NewReader(master))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		attrs, ok := strings.CutPrefix(line, "#EXT-X-MEDIA:")
		if !ok || !strings.Contains(attrs, "TYPE=AUDIO") {
			continue
		}
		if _, rest, ok := strings.Cut(attrs, `URI="`); ok {
			if uri, _, ok := strings.Cut(rest, `"`); ok && uri != "" {
				uris = append(uris, uri)
			}
		}
	}
	return uris
}

// mediaURIs returns the init segment URI (EXT-X-MAP) and segment URIs of a media playlist.
func mediaURIs(playlist []byte) (init string, segments []string) {
	sc := bufio.NewScanner(bytes.NewReader(playlist))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			if _, rest, ok := strings.Cut(line, `URI="`); ok && init == "" {
				init, _, _ = strings.Cut(rest, `"`)
			}
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			segments = append(segments, line)
		}
	}
	return init, segments
}
