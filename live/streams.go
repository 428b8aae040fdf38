package live

import (
	"net/http"
	"strings"
	"sync"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/videoid"
)

// Streams is the playback side of the live streams that this process packages: it serves
// /v/live/{stream}/{file} (layout.LivePathPrefix) from each stream's LL-HLS muxer, blocking
// playlist reloads included. The origin mounts it (origin.Config.Live); the zero value is
// not usable, use NewStreams.
type Streams struct {
	mu      sync.RWMutex
	streams map[string]http.Handler
}

// NewStreams returns an empty Streams.
func NewStreams() *Streams { return &Streams{streams: map[string]http.Handler{}} }

// add makes h serve stream id.
func (s *Streams) add(id string, h http.Handler) {
	s.mu.Lock()
	s.streams[id] = h
	s.mu.Unlock()
}

// remove stops serving stream id.
func (s *Streams) remove(id string) {
	s.mu.Lock()
	delete(s.streams, id)
	s.mu.Unlock()
}

// Live reports whether stream id is live in this process.
func (s *Streams) Live(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[id] != nil
}

var errNoStream = apierr.New(http.StatusNotFound, "not_found", "no such live stream")

// ServeHTTP answers GET and HEAD of /v/live/{stream}/{file}: index.m3u8 (the multivariant
// playlist), then the media playlists, init files, segments and parts that it names. A
// stream that is not live, or a file it does not have, is 404.
func (s *Streams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, layout.LivePathPrefix)
	id, file, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || !videoid.Valid(id) || file == "" || strings.Contains(file, "/") {
		apierr.Write(w, r, nil, errNoStream)
		return
	}
	s.mu.RLock()
	h := s.streams[id]
	s.mu.RUnlock()
	if h == nil {
		apierr.Write(w, r, nil, errNoStream)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	h.ServeHTTP(rec, r)
	if rec.status == 0 {
		// gohlslib writes nothing for a name it does not know.
		apierr.Write(w, r, nil, apierr.New(http.StatusNotFound, "not_found", "no such file in this live stream"))
	}
}

// statusRecorder remembers whether a handler wrote a status.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
