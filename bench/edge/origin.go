package main

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
)

// origin is a stand-in for reelay's origin: it serves every playlist (/v/{id}/.../*.m3u8) and
// every segment (/v/{id}/.../*.m4s) with fixed bodies, the Cache-Control of reelay's origin
// and an ETag, answers /healthz, and counts the fetches of each path.
type origin struct {
	url      string
	playlist []byte
	segment  []byte
	srv      *http.Server

	mu     sync.Mutex
	counts map[string]int
}

// startOrigin serves on a new loopback port: every playlist is playlist (public, max-age=60)
// and every segment is segment (immutable).
func startOrigin(playlist, segment []byte) (*origin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o := &origin{
		url:      "http://" + ln.Addr().String(),
		playlist: playlist,
		segment:  segment,
		counts:   make(map[string]int),
	}
	o.srv = &http.Server{Handler: o}
	go o.srv.Serve(ln)
	return o, nil
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	switch {
	case r.URL.Path == "/healthz":
		w.Write([]byte("ok\n"))
	case strings.HasSuffix(r.URL.Path, ".m3u8"):
		h.Set("Content-Type", "application/vnd.apple.mpegurl")
		h.Set("Cache-Control", "public, max-age=60")
		h.Set("ETag", fmt.Sprintf(`"p%d"`, len(o.playlist)))
		o.count(r.URL.Path)
		w.Write(o.playlist)
	case strings.HasSuffix(r.URL.Path, ".m4s"):
		h.Set("Content-Type", "video/iso.segment")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", fmt.Sprintf(`"s%d"`, len(o.segment)))
		o.count(r.URL.Path)
		w.Write(o.segment)
	default:
		http.NotFound(w, r)
	}
}

func (o *origin) count(path string) {
	o.mu.Lock()
	o.counts[path]++
	o.mu.Unlock()
}

// fetches returns how many times each path was fetched.
func (o *origin) fetches() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := make(map[string]int, len(o.counts))
	for k, v := range o.counts {
		m[k] = v
	}
	return m
}

func (o *origin) close() { o.srv.Close() }

// syntheticPlaylist returns size bytes of playlist-like text.
func syntheticPlaylist(size int) []byte {
	return []byte(strings.Repeat("#EXT-X-PART:DURATION=0.5\n", size/25+1)[:size])
}

// syntheticSegment returns size random bytes, which no server can compress.
func syntheticSegment(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	return b
}

// videoID returns a valid video id for n: n's base32 digits, then "a"s (the last "a" has the
// zero padding bits that videoid.Valid wants).
func videoID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	id := []byte(strings.Repeat("a", 26))
	for i := 0; n > 0; i++ {
		id[i] = alphabet[n%32]
		n /= 32
	}
	return string(id)
}
