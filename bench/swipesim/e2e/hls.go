package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// start is what starting a video took the player.
type start struct {
	firstByte time.Duration // from the swipe to the first segment's first byte
	hit       bool          // the edge answered the first segment from its own cache
	bytes     int64         // of the four objects
	// steps are the times of the four requests, each to its last byte but the segment's,
	// to its first: the master playlist, the media playlist, the init segment, the segment.
	steps [4]time.Duration
	// rest are the URLs of the segments after the first, which hls.js loads next, filling its
	// buffer (maxBufferLength, 30 s) while the first plays.
	rest []string
}

// startVideo starts the video whose master playlist is at masterURL as hls.js does, one
// request after the other: the master playlist, the first variant's media playlist, its init
// segment, then its first media segment. It reads every body whole, and measures from its
// call to the first byte of the first segment's answer.
func (c *client) startVideo(ctx context.Context, masterURL string) (start, error) {
	var st start
	begin := time.Now()
	lap := begin
	step := func(i int, at time.Time) {
		st.steps[i] = at.Sub(lap)
		lap = at
	}
	master, _, err := c.getObject(ctx, masterURL, &st, nil)
	if err != nil {
		return st, err
	}
	step(0, time.Now())
	pl, err := playlist.Unmarshal(master)
	if err != nil {
		return st, fmt.Errorf("master playlist %s: %w", masterURL, err)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok || len(mv.Variants) == 0 {
		return st, fmt.Errorf("master playlist %s: no variant", masterURL)
	}
	mediaURL, err := resolve(masterURL, mv.Variants[0].URI)
	if err != nil {
		return st, err
	}
	media, _, err := c.getObject(ctx, mediaURL, &st, nil)
	if err != nil {
		return st, err
	}
	step(1, time.Now())
	if pl, err = playlist.Unmarshal(media); err != nil {
		return st, fmt.Errorf("media playlist %s: %w", mediaURL, err)
	}
	mp, ok := pl.(*playlist.Media)
	if !ok || mp.Map == nil || len(mp.Segments) == 0 {
		return st, fmt.Errorf("media playlist %s: no init segment or no segment", mediaURL)
	}
	initURL, err := resolve(mediaURL, mp.Map.URI)
	if err != nil {
		return st, err
	}
	if _, _, err := c.getObject(ctx, initURL, &st, nil); err != nil {
		return st, err
	}
	step(2, time.Now())
	segURL, err := resolve(mediaURL, mp.Segments[0].URI)
	if err != nil {
		return st, err
	}
	var first time.Time
	_, status, err := c.getObject(ctx, segURL, &st, &first)
	if err != nil {
		return st, err
	}
	step(3, first)
	st.firstByte = first.Sub(begin)
	st.hit = cacheHit(status)
	var buffered time.Duration
	for _, seg := range mp.Segments[1:] {
		if buffered += seg.Duration; buffered > maxBuffer {
			break
		}
		u, err := resolve(mediaURL, seg.URI)
		if err != nil {
			return st, err
		}
		st.rest = append(st.rest, u)
	}
	return st, nil
}

// maxBuffer is how far ahead of the playhead hls.js loads (its maxBufferLength).
const maxBuffer = 30 * time.Second

// buffer loads the segments of st.rest one after the other, as hls.js fills its buffer.
func (c *client) buffer(ctx context.Context, st start) error {
	for _, u := range st.rest {
		if _, _, err := c.getObject(ctx, u, &st, nil); err != nil {
			return err
		}
	}
	return nil
}

// cacheHit reads an edge's Cache-Status (RFC 9211, see edge.Edge.cacheStatus): "node; hit",
// possibly with "; detail=stale", is an answer from the node's own cache; "; fwd=..." went
// upstream, to the owner or the origin. A negative hit (a remembered 404) is not a hit.
func cacheHit(status string) bool {
	params := strings.Split(status, ";")
	if len(params) < 2 || strings.TrimSpace(params[1]) != "hit" {
		return false
	}
	return !strings.Contains(status, "detail=negative")
}

// getObject gets an HLS object, counting its bytes in st, and returns its body and
// Cache-Status. With first set, it notes when the answer's first byte came.
func (c *client) getObject(ctx context.Context, u string, st *start, first *time.Time) ([]byte, string, error) {
	if first != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotFirstResponseByte: func() { *first = time.Now() }})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	st.bytes += int64(len(body))
	return body, resp.Header.Get("Cache-Status"), nil
}

// resolve resolves a playlist's URI against the playlist's URL.
func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("playlist URI %q: %w", ref, err)
	}
	if r.IsAbs() {
		return "", errors.New("playlist URI " + ref + " is absolute: the player stays on its edge")
	}
	return b.ResolveReference(r).String(), nil
}

// onEdge is the URL of playbackURL's path and query on the edge at base.
func onEdge(base, playbackURL string) (string, error) {
	u, err := url.Parse(playbackURL)
	if err != nil {
		return "", err
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	return u.String(), nil
}
