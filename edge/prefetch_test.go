package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/videoid"
)

func postPrefetch(t *testing.T, url, body string) (int, PrefetchResult, string) {
	t.Helper()
	req, _ := jsonRequest(url+"/_edge/prefetch", body)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	var res PrefetchResult
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("prefetch answered 200 with %s: %v", raw, err)
		}
	}
	return resp.StatusCode, res, string(raw)
}

func TestPrefetchLandsOnOwners(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 3, o.URL)
	a, pa := newVideo()
	b, pb := newVideo()
	status, res, raw := postPrefetch(t, nodes[0].url, `{"videos":["`+a+`","`+b+`"],"rendition":"auto","segments":2}`)
	if status != 200 {
		t.Fatalf("prefetch: %d %s", status, raw)
	}
	want := map[string]string{a: pa, b: pb}
	if len(res.Videos) != len(want) {
		t.Fatalf("prefetch answered for %d videos, want %d: %s", len(res.Videos), len(want), raw)
	}
	for _, v := range res.Videos {
		if v.Error != "" || v.Rendition != "360p" || v.Fetched != 5 {
			t.Errorf("video %s: %+v, want 360p and 5 objects", v.Video, v)
		}
		prefix := want[v.Video]
		for _, name := range []string{"master.m3u8", "360p/index.m3u8", "360p/init.mp4", "360p/seg_00001.m4s", "360p/seg_00002.m4s"} {
			key := prefix + name
			if n := o.count(key); n != 1 {
				t.Errorf("origin fetched %s %d times, want 1", key, n)
			}
			owner := nodes[0].cluster.Owner(key).Name
			for _, nd := range nodes {
				if nd.name == owner {
					if _, ok := nd.mem.Get(key); !ok {
						t.Errorf("owner %s does not hold %s", owner, key)
					}
				}
			}
		}
		if n := o.count(prefix + "360p/seg_00003.m4s"); n != 0 {
			t.Errorf("fetched a third segment")
		}
	}
	// Players then hit the owners' copies: the origin sees nothing more for segments.
	getAll(t, nodes, []string{pa + "360p/init.mp4", pa + "360p/seg_00001.m4s", pb + "360p/seg_00002.m4s"}, 3)
	if n := o.count(pa + "360p/seg_00001.m4s"); n != 1 {
		t.Errorf("origin fetched a prefetched segment again: %d", n)
	}
	// The three objects asked for count as used, once each, on their owners; the other seven
	// prefetched objects wait for use.
	var used, wasted, prefetched int64
	for _, nd := range nodes {
		st := nd.Stats()
		used, wasted, prefetched = used+st.PrefetchUsed, wasted+st.PrefetchWaste, prefetched+st.Prefetched
	}
	if used != 3 || wasted != 0 || prefetched != 10 {
		t.Errorf("prefetches used %d, wasted %d, issued %d; want 3, 0, 10", used, wasted, prefetched)
	}

	// A named rendition.
	status, res, raw = postPrefetch(t, nodes[1].url, `{"videos":["`+a+`"],"rendition":"720p","segments":0}`)
	if status != 200 || len(res.Videos) != 1 || res.Videos[0].Rendition != "720p" || res.Videos[0].Error != "" || o.count(pa+"720p/init.mp4") != 1 {
		t.Errorf("720p prefetch: %d %s", status, raw)
	}
}

func TestPrefetchBudget(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, AdminToken: "tok", PrefetchBudget: 1500})
	a, _ := newVideo()
	status, res, raw := postPrefetch(t, e.url, `{"videos":["`+a+`"],"segments":10}`)
	if status != 200 || !res.BudgetExhausted || len(res.Videos) != 1 || !strings.Contains(res.Videos[0].Error, "budget") {
		t.Fatalf("%d %s: want the budget exhausted", status, raw)
	}
	// Two playlists (400 bytes), then objects of 1000 bytes: one completes within the budget
	// of 1500, which is then passed by the fetches in flight; no more start.
	if n, most := o.total(), 2+1+prefetchConcurrency; n > most {
		t.Errorf("origin saw %d fetches, want at most %d", n, most)
	}
}

// TestPrefetchBudgetStreamed is TestPrefetchBudget with segments that the edge streams: their
// bytes count although they are still arriving when the prefetch sees them.
func TestPrefetchBudgetStreamed(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, AdminToken: "tok", PrefetchBudget: 3 * bigBody / 2})
	a, _ := newVideo()
	status, res, raw := postPrefetch(t, e.url, `{"videos":["`+a+`"],"rendition":"big","segments":10}`)
	if status != 200 || !res.BudgetExhausted {
		t.Fatalf("%d %s: want the budget exhausted", status, raw)
	}
	if n, most := o.total(), 2+2+prefetchConcurrency; n > most {
		t.Errorf("origin saw %d fetches, want at most %d", n, most)
	}
}

func TestPrefetchRejects(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, AdminToken: "tok"})
	id, _ := newVideo()
	tests := []struct{ name, body, code string }{
		{"not json", `{`, "invalid_json"},
		{"unknown field", `{"videos":["` + id + `"],"x":1}`, "invalid_json"},
		{"no videos", `{"videos":[]}`, "invalid_request"},
		{"bad id", `{"videos":["nope"]}`, "invalid_request"},
		{"bad rendition", `{"videos":["` + id + `"],"rendition":"../x"}`, "invalid_request"},
		{"too many segments", `{"videos":["` + id + `"],"segments":1000}`, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, _, raw := postPrefetch(t, e.url, tt.body); status != 400 || !strings.Contains(raw, tt.code) {
				t.Errorf("%d %s, want 400 %s", status, raw, tt.code)
			}
		})
	}
	if resp, _ := do(t, "POST", e.url+"/_edge/prefetch"); resp.StatusCode != 403 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
	if o.total() != 0 {
		t.Errorf("rejected prefetches fetched %d objects", o.total())
	}
}

func TestPlaylistParsing(t *testing.T) {
	master := objectBody("/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/master.m3u8")
	if got := variantURIs(master); strings.Join(got, ",") != "360p/index.m3u8,720p/index.m3u8,big/index.m3u8" {
		t.Errorf("variants = %q", got)
	}
	if got := audioURIs(master); len(got) != 0 {
		t.Errorf("audio renditions = %q, want none", got)
	}
	withAudio := []byte("#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"s\",NAME=\"en\",URI=\"subs/index.m3u8\"\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/index.m3u8\"\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"muxed\",NAME=\"in the video\"\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=800000,AUDIO=\"audio\"\n360p/index.m3u8\n")
	if got := audioURIs(withAudio); strings.Join(got, ",") != "audio/index.m3u8" {
		t.Errorf("audio renditions = %q, want audio/index.m3u8", got)
	}
	init, segs := mediaURIs(objectBody("/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/360p/index.m3u8"))
	if init != "init.mp4" || len(segs) != 5 || segs[0] != "seg_00001.m4s" {
		t.Errorf("media = %q %q", init, segs)
	}
	dir := "/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/360p/"
	for uri, ok := range map[string]bool{
		"seg_00001.m4s":                                true,
		"../720p/seg_00001.m4s":                        true,
		"../../bbbbbbbbbbbbbbbbbbbbbbbbbb/master.m3u8": false, // not a video id
		"../../bbbbbbbbbbbbbbbbbbbbbbbbba/master.m3u8": false, // another video
		"/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/master.m3u8":    false,
		"http://evil/seg_00001.m4s":                    false,
		"seg_00001.m4s?x=1":                            false,
		"":                                             false,
	} {
		obj, got := resolve(dir, uri)
		if got != ok || ok && !strings.HasPrefix(obj.Path, "/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/") {
			t.Errorf("resolve(%q) = %q %v, want %v", uri, obj.Path, got, ok)
		}
	}
}

func FuzzPlaylistURIs(f *testing.F) {
	f.Add(objectBody("/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/master.m3u8"))
	f.Add(objectBody("/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/360p/index.m3u8"))
	f.Add([]byte("#EXT-X-STREAM-INF:\n../../x/master.m3u8\n#EXT-X-MAP:URI=\"../init.mp4\"\n"))
	f.Add([]byte("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",URI=\"../audio/index.m3u8\"\n"))
	const dir = "/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/360p/"
	f.Fuzz(func(t *testing.T, b []byte) {
		init, segs := mediaURIs(b)
		uris := append(append(append(variantURIs(b), audioURIs(b)...), init), segs...)
		for _, uri := range uris {
			if obj, ok := resolve(dir, uri); ok {
				if again, ok2 := layout.Parse(obj.Path); !ok2 || again != obj || obj.Video != "aaaaaaaaaaaaaaaaaaaaaaaaaa" {
					t.Fatalf("resolve(%q) = %+v, outside the video or not canonical", uri, obj)
				}
			}
		}
	})
}

func FuzzParseObject(f *testing.F) {
	for _, p := range []string{"/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/master.m3u8", "/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/720p/seg_00001.m4s", "/v/../x", "/v/aaaaaaaaaaaaaaaaaaaaaaaaaa/%2e%2e/x"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		obj, ok := layout.Parse(p)
		if !ok {
			return
		}
		if obj.Path != p || strings.Contains(p, "..") || strings.Contains(p, "//") || strings.Contains(p, "%") || !strings.HasPrefix(p, "/v/"+obj.Video+"/") {
			t.Fatalf("accepted %q as %+v", p, obj)
		}
	})
}

var prefetchCases = []struct {
	name string
	body string
	want PrefetchRequest // when code is ""
	code string          // the error code, "" when accepted
}{
	{"defaults", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"]}`, PrefetchRequest{Videos: []string{"aaaaaaaaaaaaaaaaaaaaaaaaaa"}, Rendition: "auto", Segments: ptr(3)}, ""},
	{"all fields", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa","bbbbbbbbbbbbbbbbbbbbbbbbba"],"rendition":"720p","segments":0,"local":true}`,
		PrefetchRequest{Videos: []string{"aaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbba"}, Rendition: "720p", Segments: ptr(0), Local: true}, ""},
	{"local not a bool", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"],"local":1}`, PrefetchRequest{}, "invalid_json"},
	{"white space around", " \n{\"videos\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaa\"],\"segments\":50}\n", PrefetchRequest{Videos: []string{"aaaaaaaaaaaaaaaaaaaaaaaaaa"}, Rendition: "auto", Segments: ptr(50)}, ""},
	{"empty", ``, PrefetchRequest{}, "invalid_json"},
	{"not json", `{`, PrefetchRequest{}, "invalid_json"},
	{"null", `null`, PrefetchRequest{}, "invalid_request"},
	{"unknown field", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"],"x":1}`, PrefetchRequest{}, "invalid_json"},
	{"two objects", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"]}{}`, PrefetchRequest{}, "invalid_json"},
	{"trailing bracket", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"]}]`, PrefetchRequest{}, "invalid_json"},
	{"segments a string", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"],"segments":"3"}`, PrefetchRequest{}, "invalid_json"},
	{"duplicate key", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"],"segments":1,"segments":50}`, PrefetchRequest{}, "invalid_json"},
	{"duplicate key in another case", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"],"Videos":["bbbbbbbbbbbbbbbbbbbbbbbbba"]}`, PrefetchRequest{}, "invalid_json"},
	{"no videos", `{"videos":[]}`, PrefetchRequest{}, "invalid_request"},
	{"bad id", `{"videos":["nope"]}`, PrefetchRequest{}, "invalid_request"},
	{"bad rendition", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"],"rendition":"../x"}`, PrefetchRequest{}, "invalid_request"},
	{"negative segments", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"],"segments":-1}`, PrefetchRequest{}, "invalid_request"},
	{"too many segments", `{"videos":["aaaaaaaaaaaaaaaaaaaaaaaaaa"],"segments":51}`, PrefetchRequest{}, "invalid_request"},
	{"too many videos", `{"videos":[` + strings.Repeat(`"aaaaaaaaaaaaaaaaaaaaaaaaaa",`, 100) + `"aaaaaaaaaaaaaaaaaaaaaaaaaa"]}`, PrefetchRequest{}, "invalid_request"},
}

func ptr(n int) *int { return &n }

func TestParsePrefetch(t *testing.T) {
	for _, tc := range prefetchCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePrefetch([]byte(tc.body))
			if tc.code != "" {
				var e *apierr.Error
				if !errors.As(err, &e) || e.Status != 400 || e.Code != tc.code {
					t.Fatalf("parsePrefetch(%q) = %v, want 400 %s", tc.body, err, tc.code)
				}
				return
			}
			if err != nil || !slices.Equal(got.Videos, tc.want.Videos) || got.Rendition != tc.want.Rendition || got.Segments == nil || *got.Segments != *tc.want.Segments || got.Local != tc.want.Local {
				t.Fatalf("parsePrefetch(%q) = %+v, %v; want %+v", tc.body, got, err, tc.want)
			}
		})
	}
}

// FuzzParsePrefetch checks that a prefetch body is either refused with a 400 or one JSON
// object whose request is within the limits, the defaults filled in.
func FuzzParsePrefetch(f *testing.F) {
	for _, tc := range prefetchCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parsePrefetch(body)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("parsePrefetch(%q): %v, want a 400", body, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted %q, which is not one JSON value", body)
		}
		if len(req.Videos) == 0 || len(req.Videos) > prefetchMaxVideos {
			t.Fatalf("accepted %q with %d videos", body, len(req.Videos))
		}
		for _, v := range req.Videos {
			if !videoid.Valid(v) {
				t.Fatalf("accepted %q with video %q", body, v)
			}
		}
		if req.Rendition != prefetchAutoRendition && !layout.ValidRendition(req.Rendition) {
			t.Fatalf("accepted %q with rendition %q", body, req.Rendition)
		}
		if req.Segments == nil || *req.Segments < 0 || *req.Segments > prefetchMaxSegments {
			t.Fatalf("accepted %q with segments %v", body, req.Segments)
		}
	})
}

// TestPrefetchLocal shows where a prefetched object is a hit. Without "local" the node that
// takes the prefetch warms the object's owner only: a player asking that node for it is a fill
// from the owner, a miss there, and the use counts on the owner. With "local" the node keeps
// it too: the player asking it is answered a hit, and the use counts on that node. Either way
// the origin is asked once.
func TestPrefetchLocal(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 2, o.URL)
	asked, owner := nodes[0], nodes[1]
	for _, tc := range []struct {
		local       bool
		cacheStatus string // a prefix of the player's answer's Cache-Status
		usedOn      *testNode
	}{
		{false, asked.name + "; fwd=uri-miss; fwd-status=200; stored; detail=peer", owner},
		{true, asked.name + "; hit", asked},
	} {
		t.Run(fmt.Sprintf("local=%v", tc.local), func(t *testing.T) {
			video, key := ownedKey(asked, owner, "360p/seg_00001.m4s")
			before := tc.usedOn.Stats().PrefetchUsed
			body := fmt.Sprintf(`{"videos":[%q],"segments":1,"local":%v}`, video, tc.local)
			if status, res, raw := postPrefetch(t, asked.url, body); status != 200 || res.Videos[0].Error != "" {
				t.Fatalf("prefetch: %d %s", status, raw)
			}
			resp, _ := do(t, "GET", asked.url+key)
			if cs := resp.Header.Get("Cache-Status"); resp.StatusCode != 200 || !strings.HasPrefix(cs, tc.cacheStatus) {
				t.Errorf("GET %s: %d, Cache-Status %q; want 200, %q", key, resp.StatusCode, cs, tc.cacheStatus)
			}
			if n := o.count(key); n != 1 {
				t.Errorf("origin fetched %s %d times, want 1", key, n)
			}
			if used := tc.usedOn.Stats().PrefetchUsed - before; used != 1 {
				t.Errorf("%s counts %d prefetched objects used, want 1", tc.usedOn.name, used)
			}
		})
	}
	_, metrics := do(t, "GET", asked.url+"/metrics", "Authorization", "Bearer "+testMetricsToken)
	for _, want := range []string{"reelay_edge_prefetch_used_total 1", "reelay_edge_prefetch_wasted_total 0", "reelay_edge_prefetched_total "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
