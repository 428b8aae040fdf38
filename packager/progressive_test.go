package packager

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

// visibilityStore checks, after every playlist it stores, what a player could see at that
// moment: nothing (no master.m3u8), or a master whose every playlist exists and lists only
// objects that exist. It records the EVENT playlists it sees.
type visibilityStore struct {
	storage.Store
	t      testing.TB
	prefix string

	mu     sync.Mutex
	events map[string]int // EVENT playlists stored, by key
	errs   []string
}

func (s *visibilityStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) (storage.Info, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return storage.Info{}, err
	}
	info, err := s.Store.Put(ctx, key, bytes.NewReader(b), size, opts)
	if err != nil || !strings.HasSuffix(key, ".m3u8") {
		return info, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Contains(b, []byte("#EXT-X-PLAYLIST-TYPE:EVENT")) {
		s.events[key]++
		if opts.CacheControl != httpsem.CacheLivePlaylist || bytes.Contains(b, []byte("#EXT-X-ENDLIST")) ||
			!bytes.Contains(b, []byte("\n"+eventStart)) {
			s.errs = append(s.errs, "EVENT playlist "+key+" with "+opts.CacheControl+":\n"+string(b))
		}
	}
	s.check(ctx)
	return info, nil
}

// check walks the presentation from master.m3u8, if there is one.
func (s *visibilityStore) check(ctx context.Context) {
	master, err := s.read(ctx, s.prefix+layout.Master)
	if errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err != nil {
		s.errs = append(s.errs, err.Error())
		return
	}
	pl, err := playlist.Unmarshal(master)
	if err != nil {
		s.errs = append(s.errs, "master: "+err.Error())
		return
	}
	mv := pl.(*playlist.Multivariant)
	uris := []string{}
	for _, v := range mv.Variants {
		uris = append(uris, v.URI, path.Dir(v.URI)+"/"+layout.IFramePlaylist)
	}
	for _, r := range mv.Renditions {
		uris = append(uris, *r.URI)
	}
	for _, uri := range uris {
		raw, err := s.read(ctx, s.prefix+uri)
		if err != nil {
			s.errs = append(s.errs, "master lists "+uri+": "+err.Error())
			continue
		}
		// gohlslib refuses EXT-X-START:TIME-OFFSET=0, which RFC 8216 allows.
		pl, err := playlist.Unmarshal(bytes.Replace(raw, []byte(eventStart), nil, 1))
		if err != nil {
			s.errs = append(s.errs, uri+": "+err.Error())
			continue
		}
		m := pl.(*playlist.Media)
		if len(m.Segments) == 0 {
			s.errs = append(s.errs, uri+" lists no segment")
		}
		dir := s.prefix + path.Dir(uri) + "/"
		for _, name := range append([]string{m.Map.URI}, segmentURIs(m)...) {
			if _, err := s.Store.Stat(ctx, dir+name); err != nil {
				s.errs = append(s.errs, uri+" lists "+name+": "+err.Error())
			}
		}
	}
}

func segmentURIs(m *playlist.Media) []string {
	var out []string
	for _, seg := range m.Segments {
		out = append(out, seg.URI)
	}
	return out
}

func (s *visibilityStore) read(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := s.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (s *visibilityStore) report() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		s.t.Error(e)
	}
}

func newVisibilityStore(t testing.TB) *visibilityStore {
	fs, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &visibilityStore{Store: fs, t: t, prefix: testPrefix, events: map[string]int{}}
}

func TestProgressive(t *testing.T) {
	ctx := context.Background()
	hi := makeClip(t, clipOptions{width: 360, height: 640, seconds: 7, gop: 60, audio: true})
	lo := makeClip(t, clipOptions{width: 180, height: 320, seconds: 7, gop: 60})
	store := newVisibilityStore(t)
	var playable atomic.Int32
	var atPlayable []string // segments written when the video became playable
	p, err := New(Config{Store: store, Prefix: testPrefix, Progressive: true, OnPlayable: func() {
		playable.Add(1)
		store.Store.List(ctx, testPrefix, func(i storage.Info) error {
			if strings.HasSuffix(i.Key, ".m4s") {
				atPlayable = append(atPlayable, strings.TrimPrefix(i.Key, testPrefix))
			}
			return nil
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	v360, _ := p.AddVideo("360p", hi.video, 800_000)
	v180, _ := p.AddVideo("180p", lo.video, 300_000)
	a, err := p.AddAudio("audio", hi.audio, 96_000)
	if err != nil {
		t.Fatal(err)
	}
	writeInOrder(t, []*Rendition{v360, v180, a}, [][]Sample{hi.videoPkts, lo.videoPkts, hi.audioPkts}, []float64{90000, 90000, 48000})

	// Playable before Close, once every rendition had its first segment, and not before.
	if n := playable.Load(); n != 1 {
		t.Fatalf("OnPlayable called %d times before Close, want 1", n)
	}
	for _, r := range []string{"360p", "180p", "audio"} {
		if !strings.Contains(strings.Join(atPlayable, " "), r+"/seg_00001.m4s") {
			t.Errorf("playable before %s had a segment: %v", r, atPlayable)
		}
	}
	live, err := store.read(ctx, testPrefix+layout.Master)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := store.Stat(ctx, testPrefix+layout.Master)
	if info.CacheControl != httpsem.CacheLivePlaylist {
		t.Errorf("master before Close: Cache-Control %q", info.CacheControl)
	}
	// Before measuring, the master promises the target bit rates plus 10 %, audio included.
	mv := mustMultivariant(t, live)
	if bw := variantBandwidth(mv, "360p/index.m3u8"); bw < 800_000*11/10+96_000*11/10 {
		t.Errorf("360p BANDWIDTH %d before Close, below the target's cap", bw)
	}
	// Each playlist was rewritten as its segments came: 3 segments of 2 s, then a last one of
	// 1 s that Close writes.
	for _, k := range []string{"360p/index.m3u8", "180p/iframes.m3u8", "audio/index.m3u8"} {
		if n := store.events[testPrefix+k]; n != 3 {
			t.Errorf("%s: %d EVENT versions, want 3", k, n)
		}
	}

	res, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store.report()
	if playable.Load() != 1 {
		t.Errorf("OnPlayable called again by Close")
	}
	// The final presentation is VOD, with measured bit rates and the usual cache policy.
	for _, k := range []string{"master.m3u8", "360p/index.m3u8", "180p/iframes.m3u8", "audio/index.m3u8"} {
		info, err := store.Stat(ctx, testPrefix+k)
		if err != nil || info.CacheControl != httpsem.CachePlaylist {
			t.Errorf("%s after Close: %v %q", k, err, info.CacheControl)
		}
	}
	m, _ := parseMedia(t, store, testPrefix+"360p/index.m3u8")
	if len(m.Segments) != 4 || m.TargetDuration != 2 {
		t.Errorf("final 360p playlist: %d segments, TARGETDURATION %d", len(m.Segments), m.TargetDuration)
	}
	final := mustMultivariant(t, get(t, store, testPrefix+layout.Master))
	if bw := variantBandwidth(final, "360p/index.m3u8"); bw != res.Renditions[0].Bandwidth {
		t.Errorf("final 360p BANDWIDTH %d, measured %d", bw, res.Renditions[0].Bandwidth)
	}
}

func TestProgressiveAbort(t *testing.T) {
	ctx := context.Background()
	c := makeClip(t, clipOptions{width: 180, height: 320, seconds: 5, gop: 60})
	store := newVisibilityStore(t)
	p, err := New(Config{Store: store, Prefix: testPrefix, Progressive: true})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := p.AddVideo("180p", c.video, 300_000)
	writeAll(t, map[*Rendition][]Sample{v: c.videoPkts[:100]}) // past the second IDR
	if _, err := store.Stat(ctx, testPrefix+layout.Master); err != nil {
		t.Fatalf("not playable after two segments' worth of samples: %v", err)
	}
	if err := p.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stat(ctx, testPrefix+layout.Master); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("master.m3u8 after Abort: %v", err)
	}
	if err := v.WriteSample(ctx, c.videoPkts[100]); err == nil {
		t.Error("a sample was taken after Abort")
	}
	if _, err := p.Close(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after Abort: %v, want ErrClosed", err)
	}
	store.report()

	// Without a progressive publication there is nothing to withdraw, and after Close nothing
	// is withdrawn.
	p2, _ := New(Config{Store: store, Prefix: "videos/other/"})
	v2, _ := p2.AddVideo("180p", c.video, 0)
	writeAll(t, map[*Rendition][]Sample{v2: c.videoPkts})
	if _, err := p2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p2.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stat(ctx, "videos/other/"+layout.Master); err != nil {
		t.Errorf("Abort after Close withdrew the video: %v", err)
	}
}

func mustMultivariant(t testing.TB, raw []byte) *playlist.Multivariant {
	t.Helper()
	pl, err := playlist.Unmarshal(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return pl.(*playlist.Multivariant)
}

func variantBandwidth(mv *playlist.Multivariant, uri string) int {
	for _, v := range mv.Variants {
		if v.URI == uri {
			return v.Bandwidth
		}
	}
	return -1
}

// writeInOrder writes the samples of several renditions from one goroutine in the order of
// their decode times, as a live encoder would produce them; scales are the time scales.
func writeInOrder(t testing.TB, rs []*Rendition, samples [][]Sample, scales []float64) {
	t.Helper()
	next := make([]int, len(rs))
	for {
		pick := -1
		for i := range rs {
			if next[i] < len(samples[i]) && (pick < 0 ||
				float64(samples[i][next[i]].DTS)/scales[i] < float64(samples[pick][next[pick]].DTS)/scales[pick]) {
				pick = i
			}
		}
		if pick < 0 {
			return
		}
		if err := rs[pick].WriteSample(context.Background(), samples[pick][next[pick]]); err != nil {
			t.Fatalf("%s sample %d: %v", rs[pick].Name(), next[pick], err)
		}
		next[pick]++
	}
}

// TestGenerations packages one video three times under generations of their own: an aborted
// attempt leaves nothing behind, and each finished one writes only new names, which
// master.m3u8 then points to, so that no name ever changes its bytes.
func TestGenerations(t *testing.T) {
	ctx := context.Background()
	c := makeClip(t, clipOptions{width: 180, height: 320, seconds: 5, gop: 60})
	store := newVisibilityStore(t)
	if _, err := New(Config{Store: store, Generation: "Not-A-Gen"}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New with an invalid generation: %v", err)
	}
	list := func() map[string]string {
		objs := map[string]string{}
		store.Store.List(ctx, testPrefix, func(i storage.Info) error {
			objs[strings.TrimPrefix(i.Key, testPrefix)] = i.ETag
			return nil
		})
		return objs
	}

	aborted := layout.NewGeneration()
	p, err := New(Config{Store: store, Prefix: testPrefix, Generation: aborted, Progressive: true})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := p.AddVideo("180p", c.video, 300_000)
	writeAll(t, map[*Rendition][]Sample{v: c.videoPkts[:100]})
	if _, ok := list()[aborted+"/180p/seg_00001.m4s"]; !ok {
		t.Fatalf("no first segment under the generation: %v", list())
	}
	if err := p.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if objs := list(); len(objs) != 0 {
		t.Errorf("left after Abort: %v", objs)
	}

	var before map[string]string
	for i := range 2 {
		gen := layout.NewGeneration()
		p, err := New(Config{Store: store, Prefix: testPrefix, Generation: gen, Progressive: true})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := p.AddVideo("180p", c.video, 300_000)
		writeAll(t, map[*Rendition][]Sample{v: c.videoPkts})
		res, err := p.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.MasterKey != testPrefix+layout.Master || res.Renditions[0].PlaylistKey != testPrefix+gen+"/180p/index.m3u8" {
			t.Errorf("keys %q, %q", res.MasterKey, res.Renditions[0].PlaylistKey)
		}
		mv := mustMultivariant(t, get(t, store, testPrefix+layout.Master))
		if mv.Variants[0].URI != gen+"/180p/index.m3u8" {
			t.Errorf("master names %q, want generation %s", mv.Variants[0].URI, gen)
		}
		objs := list()
		for name, etag := range objs {
			if name != layout.Master && !strings.HasPrefix(name, gen+"/") {
				if before[name] != etag {
					t.Errorf("packaging %d changed %s of an earlier generation", i, name)
				}
			}
		}
		before = objs
	}
	store.report()
}
