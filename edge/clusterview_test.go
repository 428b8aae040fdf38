package edge

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/web"
)

// TestClusterView reads GET /_edge/cluster of a three-node cluster: closed without a token,
// open to the admin and the metrics tokens, every member with its stats, the players' busiest
// video summed over the nodes with its origin fetches per object (one fetch per object, each
// counted once whichever node fetched it), and a node whose HTTP listener is down while its
// gossip still answers reported suspect, then dead once its gossip stops too.
func TestClusterView(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 3, o.URL)
	id, prefix := newVideo()
	// Immutable objects only: the test origin's playlists have max-age=0, and each refresh is
	// one more origin fetch.
	paths := []string{prefix + "720p/init.mp4", prefix + "720p/seg_00001.m4s", prefix + "720p/seg_00002.m4s", prefix + "720p/seg_00003.m4s"}
	getAll(t, nodes, paths, 3) // every path through every node: 12 player requests
	_, other := newVideo()
	getAll(t, nodes, []string{other + "720p/init.mp4"}, 1)
	// Two nodes asked as peers fill a new object from the origin each: two fetches of one
	// object, which the view counts once.
	for _, nd := range nodes[:2] {
		if resp, _ := do(t, "GET", nd.url+prefix+"720p/seg_00004.m4s", PeerHeader, "1"); resp.StatusCode != 200 {
			t.Fatalf("peer GET on %s: %d", nd.name, resp.StatusCode)
		}
	}

	for _, tc := range []struct {
		header []string
		status int
	}{
		{nil, http.StatusForbidden},
		{[]string{"Authorization", "Bearer nope"}, http.StatusForbidden},
		{[]string{"Authorization", "Bearer tok"}, http.StatusOK},
		{[]string{"Authorization", "Bearer " + testMetricsToken}, http.StatusOK},
	} {
		resp, body := do(t, "GET", nodes[0].url+"/_edge/cluster", tc.header...)
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET /_edge/cluster with %v: %d %s, want %d", tc.header, resp.StatusCode, body, tc.status)
		}
	}
	if resp, _ := do(t, "POST", nodes[0].url+"/_edge/cluster", "Authorization", "Bearer tok"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /_edge/cluster: %d, want 405", resp.StatusCode)
	}

	view := clusterView(t, nodes[1])
	if view.Node != "edge-1" || len(view.Members) != 3 {
		t.Fatalf("view: node %s, %d members", view.Node, len(view.Members))
	}
	var requests int64
	for i, m := range view.Members {
		if m.Name != nodes[i].name || m.State != "alive" || m.Stats == nil || m.HTTP != nodes[i].Addr().String() || m.Addr == "" ||
			time.Since(m.Since) > time.Minute || m.Stats.Members != nil {
			t.Errorf("member %d: %+v", i, m)
			continue
		}
		requests += m.Stats.Requests - m.Stats.PeerRequests
	}
	if requests != 13 {
		t.Errorf("players' requests over the members' stats: %d, want 13", requests)
	}
	if len(view.Videos) != 2 {
		t.Fatalf("videos: %+v, want 2", view.Videos)
	}
	busiest := view.Videos[0]
	if busiest.Video != id || busiest.Requests != 12 || busiest.OriginFetches != 6 || busiest.OriginObjects != 5 || busiest.Bytes == 0 {
		t.Errorf("busiest video: %+v, want %s with 12 requests, 6 origin fetches of 5 objects", busiest, id)
	}
	if view.OriginFetches != 7 || view.OriginObjects != 6 {
		t.Errorf("cluster origin fetches %d of %d objects, want 7 of 6", view.OriginFetches, view.OriginObjects)
	}

	// edge-2's HTTP goes down, its gossip stays: suspect; then its gossip goes: dead.
	nodes[2].ln.takeDown()
	view = clusterView(t, nodes[0])
	if m := view.Members[2]; m.State != "suspect" || m.Stats != nil || m.Error == "" {
		t.Errorf("edge-2 with its HTTP down: %+v, want suspect with an error", m)
	}
	first := view.Members[2].Since
	if m := clusterView(t, nodes[0]).Members[2]; m.State != "suspect" || !m.Since.Equal(first) {
		t.Errorf("edge-2 asked again: %s since %v, want suspect since %v", m.State, m.Since, first)
	}
	nodes[2].cluster.Close()
	waitFor(t, 20*time.Second, "edge-2 dead in the view", func() bool {
		m := clusterView(t, nodes[0]).Members[2]
		return m.State == "dead" && m.Stats == nil && m.Error == ""
	})
}

func clusterView(t *testing.T, n *testNode) ClusterView {
	t.Helper()
	resp, body := do(t, "GET", n.url+"/_edge/cluster", "Authorization", "Bearer tok")
	var v ClusterView
	if err := json.Unmarshal([]byte(body), &v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_edge/cluster of %s: %d %v", n.name, resp.StatusCode, err)
	}
	return v
}

// TestClusterViewStandalone: a node without a cluster is a cluster of one.
func TestClusterViewStandalone(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, AdminToken: "tok", Name: "solo"})
	v := e.ClusterView()
	if v.Node != "solo" || len(v.Members) != 1 || v.Members[0].State != "alive" || v.Members[0].Stats == nil {
		t.Errorf("standalone view: %+v", v)
	}
}

// TestDashboardPage: the edge serves the dashboard and its assets as the API listener does,
// with the page's security policy, validators and conditional requests, and nothing else of
// the pages.
func TestDashboardPage(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	for _, p := range []string{"/dashboard", "/assets/dashboard/app.mjs", "/assets/vendor/uPlot.esm.js"} {
		want, _ := web.Lookup(p)
		resp, body := do(t, "GET", e.url+p)
		h := resp.Header
		if resp.StatusCode != 200 || body != string(want.Body) || h.Get("Content-Type") != want.ContentType || h.Get("ETag") != want.ETag ||
			h.Get("Cache-Control") != "no-cache" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d, %d bytes, headers %v", p, resp.StatusCode, len(body), h)
		}
		if csp := h.Get("Content-Security-Policy"); (p == "/dashboard") != (csp == web.ContentSecurityPolicy) {
			t.Errorf("GET %s: Content-Security-Policy %q", p, csp)
		}
		if resp, body := do(t, "GET", e.url+p, "If-None-Match", want.ETag); resp.StatusCode != http.StatusNotModified || body != "" {
			t.Errorf("GET %s If-None-Match: %d, %d bytes", p, resp.StatusCode, len(body))
		}
		if resp, body := do(t, "HEAD", e.url+p); resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len(want.Body)) {
			t.Errorf("HEAD %s: %d, Content-Length %d", p, resp.StatusCode, resp.ContentLength)
		}
	}
	for _, p := range []string{"/", "/assets/", "/assets/nope.js", "/assets/../web.go", "/dashboard/"} {
		if resp, _ := do(t, "GET", e.url+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, _ := do(t, "POST", e.url+"/dashboard"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /dashboard: %d, want 405", resp.StatusCode)
	}
}

// TestTrafficWindow: the traffic of a video counts for a minute, then no more; the busiest
// come first, and a video seen only in origin fetches is listed too.
func TestTrafficWindow(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tr := newTraffic(func() time.Time { return now })
	for range 3 {
		tr.served("a", 100)
	}
	tr.served("b", 10)
	tr.fetched("c", "x/seg_00001.m4s")
	tr.fetched("c", "x/seg_00001.m4s")
	tr.fetched("c", "x/seg_00002.m4s")
	now = now.Add(30 * time.Second)
	tr.served("b", 10)
	got := tr.top()
	names := []string{}
	for _, v := range got {
		names = append(names, v.Video)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("top: %+v", got)
	}
	if got[0].Requests != 3 || got[0].Bytes != 300 || got[1].Requests != 2 ||
		got[2].OriginFetches != 3 || !slices.Equal(got[2].OriginObjects, []string{"x/seg_00001.m4s", "x/seg_00002.m4s"}) {
		t.Errorf("top: %+v", got)
	}
	now = now.Add(45 * time.Second) // the first bucket is past the minute; b's second is not
	got = tr.top()
	if len(got) != 1 || got[0].Video != "b" || got[0].Requests != 1 {
		t.Errorf("top a minute later: %+v, want b's last request", got)
	}
	now = now.Add(time.Minute)
	if got := tr.top(); len(got) != 0 {
		t.Errorf("top two minutes later: %+v, want none", got)
	}
}
