package origin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/storage"
)

// Blocking playlist reloads of live streams served from the store: the store is asked every
// livePoll until the playlist has the part asked for, for at most liveHold (then the playlist
// as it is, which the player asks again).
const (
	livePoll = 50 * time.Millisecond
	liveHold = 6 * time.Second
)

// serveLive answers GET, HEAD and OPTIONS of /v/live/{stream}/...: from Config.Live when it
// is set, which answers with the live muxer's own headers (playlists "no-cache", blocking
// reloads held until the part they name exists; parts and segments cacheable, since their
// names are never reused), else from the store, where the live tier copies each stream as it
// is made (live.Config.Store).
func (o *Origin) serveLive(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.Header().Set("Allow", httpsem.CORSAllowMethods)
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		w.Header().Set("Allow", httpsem.CORSAllowMethods)
		return apierr.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed; use GET or HEAD", r.Method)
	}
	if o.cfg.Live != nil {
		o.cfg.Live.ServeHTTP(w, r)
		return nil
	}
	return o.serveStoredLive(w, r)
}

// validLiveFile reports whether file can be a name of the live muxer's.
func validLiveFile(file string) bool {
	if file == "" || len(file) > 100 || strings.Contains(file, "..") {
		return false
	}
	for _, c := range []byte(file) {
		if !isAlnumByte(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnumByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

var errBadLiveRequest = apierr.New(http.StatusBadRequest, "bad_request", "_HLS_msn and _HLS_part must be numbers, _HLS_part only with _HLS_msn, and not far ahead of the playlist")

func (o *Origin) serveStoredLive(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.Path, layout.LivePathPrefix)
	id, file, ok := strings.Cut(rest, "/")
	if !ok || !videoid.Valid(id) || !validLiveFile(file) || r.URL.RawPath != "" {
		return errNotFound
	}
	key := layout.LiveKey(id, file)
	q := r.URL.Query()
	msn, part := q.Get("_HLS_msn"), q.Get("_HLS_part")
	if !strings.HasSuffix(file, ".m3u8") || (msn == "" && part == "") {
		return o.writeStoredLive(w, r, key, nil)
	}
	m, err1 := strconv.Atoi(msn)
	p := -1
	var err2 error
	if part != "" {
		p, err2 = strconv.Atoi(part)
	}
	if msn == "" || err1 != nil || err2 != nil || m < 0 || (part != "" && p < 0) {
		return errBadLiveRequest
	}
	ctx := r.Context()
	deadline := time.Now().Add(liveHold)
	for {
		body, err := o.readLive(ctx, key)
		if err != nil {
			return err
		}
		pl, err := playlist.Unmarshal(body)
		media, ok := pl.(*playlist.Media)
		if err != nil || !ok {
			return o.writeStoredLive(w, r, key, body)
		}
		building := media.MediaSequence + len(media.Segments) // the segment whose parts come now
		switch {
		case m > building+1:
			return errBadLiveRequest
		case m < building, m == building && p >= 0 && p < len(media.Parts), time.Now().After(deadline):
			return o.writeStoredLive(w, r, key, body)
		}
		t := time.NewTimer(livePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// readLive reads a live playlist from the store.
func (o *Origin) readLive(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := o.cfg.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// writeStoredLive answers with the stored object key, or with body (a playlist already read)
// when it is not nil.
func (o *Origin) writeStoredLive(w http.ResponseWriter, r *http.Request, key string, body []byte) error {
	var info storage.Info
	if body == nil {
		rc, i, err := o.cfg.Store.Get(r.Context(), key)
		if errors.Is(err, storage.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		if body, err = io.ReadAll(rc); err != nil {
			return err
		}
		info = i
	}
	h := w.Header()
	switch {
	case strings.HasSuffix(key, ".m3u8"):
		h.Set("Content-Type", httpsem.ContentTypePlaylist)
		h.Set("Cache-Control", "no-cache")
	default:
		h.Set("Content-Type", cmpOr(info.ContentType, "video/mp4"))
		h.Set("Cache-Control", cmpOr(info.CacheControl, "public, max-age=30"))
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
