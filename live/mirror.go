package live

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

// mirrorOpTimeout bounds each store operation of a mirror.
const mirrorOpTimeout = 10 * time.Second

// memResponse is an http.ResponseWriter in memory, for asking the muxer in process.
type memResponse struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (m *memResponse) Header() http.Header { return m.h }
func (m *memResponse) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.body.Write(b)
}
func (m *memResponse) WriteHeader(status int) { m.status = status }

// ask GETs file (with query) from the session's muxer, in process; it blocks as a player's
// request would, until the muxer has what it asks for or closes.
func (sess *session) ask(file, query string) (*memResponse, error) {
	u := &url.URL{Path: layout.LivePath(sess.stream, file), RawQuery: query}
	r, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	w := &memResponse{h: http.Header{}}
	sess.muxer.Handle(w, r)
	return w, nil
}

// mirror copies the stream into the store as the muxer makes it, under
// layout.LiveKey(stream, file): the multivariant playlist once, then, at each new part, the
// new init files, parts and segments, then the media playlists that name them (so that a
// playlist never names a file not stored yet). Files that leave the playlists are deleted,
// and the whole stream once the session ends (see unmirror). It returns when the muxer
// closes.
func (sess *session) mirror() {
	s := sess.srv
	master, err := sess.ask(layout.LiveMaster, "")
	if err != nil || master.status != http.StatusOK {
		return
	}
	mv, err := playlist.Unmarshal(master.body.Bytes())
	if err != nil {
		s.log.Warn("live mirror: multivariant playlist", "stream", sess.stream, "err", err)
		return
	}
	m, ok := mv.(*playlist.Multivariant)
	if !ok || len(m.Variants) == 0 {
		return
	}
	leading := m.Variants[0].URI
	var others []string
	for _, r := range m.Renditions {
		if r.URI != nil && *r.URI != "" && *r.URI != leading {
			others = append(others, *r.URI)
		}
	}
	if err := sess.put(layout.LiveMaster, master); err != nil {
		s.log.Warn("live mirror", "stream", sess.stream, "err", err)
	}
	stored := map[string]bool{}
	query := ""
	for {
		lead, err := sess.ask(leading, query)
		if err != nil || lead.status == http.StatusInternalServerError || lead.status == 0 {
			return // the muxer closed
		}
		if lead.status != http.StatusOK { // fell behind the window: start again
			query = ""
			continue
		}
		media, err := playlist.Unmarshal(lead.body.Bytes())
		mp, ok := media.(*playlist.Media)
		if err != nil || !ok {
			s.log.Warn("live mirror: media playlist", "stream", sess.stream, "err", err)
			return
		}
		playlists := map[string]*memResponse{leading: lead}
		named := map[string]bool{}
		names(mp, named)
		for _, uri := range others {
			o, err := sess.ask(uri, "")
			if err != nil || o.status != http.StatusOK {
				return
			}
			if op, err := playlist.Unmarshal(o.body.Bytes()); err == nil {
				if om, ok := op.(*playlist.Media); ok {
					names(om, named)
				}
			}
			playlists[uri] = o
		}
		for name := range named {
			if stored[name] {
				continue
			}
			f, err := sess.ask(name, "")
			if err != nil || f.status != http.StatusOK {
				continue // gone from the muxer already: the next playlist will not name it
			}
			if err := sess.put(name, f); err != nil {
				s.log.Warn("live mirror", "stream", sess.stream, "err", err)
				continue
			}
			stored[name] = true
		}
		for name, p := range playlists {
			if err := sess.put(name, p); err != nil {
				s.log.Warn("live mirror", "stream", sess.stream, "err", err)
			}
		}
		for name := range stored {
			if !named[name] {
				sess.deleteKey(name)
				delete(stored, name)
			}
		}
		// Next: the part after the last one this playlist has.
		query = fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", mp.MediaSequence+len(mp.Segments), len(mp.Parts))
	}
}

// names adds the files that m names (its init file, segments and parts; not gaps) to out.
func names(m *playlist.Media, out map[string]bool) {
	if m.Map != nil {
		out[m.Map.URI] = true
	}
	for _, seg := range m.Segments {
		if !seg.Gap {
			out[seg.URI] = true
		}
		for _, p := range seg.Parts {
			out[p.URI] = true
		}
	}
	for _, p := range m.Parts {
		out[p.URI] = true
	}
}

// put stores a file that the muxer answered with its headers.
func (sess *session) put(name string, r *memResponse) error {
	ctx, cancel := context.WithTimeout(context.Background(), mirrorOpTimeout)
	defer cancel()
	cc := r.h.Get("Cache-Control")
	if strings.HasSuffix(name, ".m3u8") {
		cc = "no-cache"
	}
	_, err := sess.srv.cfg.Store.Put(ctx, layout.LiveKey(sess.stream, name), bytes.NewReader(r.body.Bytes()), int64(r.body.Len()),
		storage.PutOptions{ContentType: r.h.Get("Content-Type"), CacheControl: cc})
	return err
}

func (sess *session) deleteKey(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), mirrorOpTimeout)
	defer cancel()
	if err := sess.srv.cfg.Store.Delete(ctx, layout.LiveKey(sess.stream, name)); err != nil {
		sess.srv.log.Warn("live mirror", "stream", sess.stream, "err", err)
	}
}

// unmirror deletes what the mirror stored of the stream.
func (sess *session) unmirror() {
	ctx, cancel := context.WithTimeout(context.Background(), mirrorOpTimeout)
	defer cancel()
	var keys []string
	err := sess.srv.cfg.Store.List(ctx, layout.LiveKey(sess.stream, ""), func(i storage.Info) error {
		keys = append(keys, i.Key)
		return nil
	})
	for _, k := range keys {
		if derr := sess.srv.cfg.Store.Delete(ctx, k); err == nil {
			err = derr
		}
	}
	if err != nil {
		sess.srv.log.Warn("live mirror: deleting the stream", "stream", sess.stream, "err", err)
	}
}
