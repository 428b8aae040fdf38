package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
)

// users is a hand-written auth.TokenUsers: "user-token" is @viewer's, "mod-token" the admin
// user @mod's.
type users struct{}

func (users) UserByToken(_ context.Context, hash []byte) (auth.Principal, error) {
	switch string(hash) {
	case string(auth.HashToken("user-token")):
		return auth.Principal{UserID: 7, Handle: "viewer"}, nil
	case string(auth.HashToken("mod-token")):
		return auth.Principal{UserID: 8, Handle: "mod", Admin: true}, nil
	}
	return auth.Principal{}, auth.ErrUnknownToken
}

const adminToken = "admin-token-0123456789"

// fakeEdge answers GET /_edge/cluster with a view whose members' HTTP addresses are its own
// and those of others, and counts the requests and the tokens they carried.
func fakeEdge(t *testing.T, others ...string) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var tokens []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path != "/_edge/cluster" {
			http.NotFound(w, r)
			return
		}
		members := []string{fmt.Sprintf(`{"name":"self","http":%q,"state":"alive"}`, strings.TrimPrefix(srv.URL, "http://"))}
		for _, o := range others {
			members = append(members, fmt.Sprintf(`{"name":"other","http":%q,"state":"alive"}`, strings.TrimPrefix(o, "http://")))
		}
		fmt.Fprintf(w, `{"node":"self","members":[%s],"videos":[]}`, strings.Join(members, ","))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), tokens...) }
}

func TestDashboard(t *testing.T) {
	// Two clusters: a (which lists b as its member) and c, and d, which is down.
	b, _ := fakeEdge(t)
	a, aTokens := fakeEdge(t, b.URL)
	c, _ := fakeEdge(t)
	d := httptest.NewServer(http.NotFoundHandler())
	d.Close()

	var logs testenv.Buffer
	var purged []string
	purgeErr := error(nil)
	dash := NewDashboard(DashboardConfig{
		Pipeline:  func(context.Context) (any, error) { return map[string]int{"queued": 3}, nil },
		Edges:     []string{a.URL, b.URL, c.URL, d.URL},
		EdgeToken: "edge-token",
		Purge: func(_ context.Context, id string) error {
			purged = append(purged, id)
			return purgeErr
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	mux := http.NewServeMux()
	mux.Handle(DashboardPath, dash)
	srv := httptest.NewServer(auth.NewAuthenticator(users{}, adminToken, nil).Middleware(mux))
	defer srv.Close()

	call := func(method, path, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode, body
	}
	video := videoid.New()

	// The gate: no token 401, a user 403, a bad token 401; the admin token and an admin user pass.
	for _, path := range []string{"pipeline", "cluster", "videos/" + video + "/cache"} {
		method := "GET"
		if strings.HasSuffix(path, "/cache") {
			method = "DELETE"
		}
		for token, want := range map[string]int{"": 401, "user-token": 403, "wrong": 401} {
			if status, body := call(method, DashboardPath+path, token); status != want || body["error"] == nil {
				t.Errorf("%s %s with %q: %d %v, want %d", method, path, token, status, body, want)
			}
		}
	}
	if len(purged) != 0 {
		t.Fatalf("purges refused at the gate ran: %v", purged)
	}
	for _, token := range []string{adminToken, "mod-token"} {
		if status, body := call("GET", DashboardPath+"pipeline", token); status != 200 || body["queued"] != 3.0 {
			t.Errorf("pipeline with %s: %d %v", token, status, body)
		}
	}

	// The clusters: a's view covers b; c's is its own; d does not answer.
	status, body := call("GET", DashboardPath+"cluster", adminToken)
	var got []string
	for _, cl := range body["clusters"].([]any) {
		m := cl.(map[string]any)
		got = append(got, fmt.Sprintf("%s view=%v error=%v", m["source"], m["view"] != nil, m["error"] != nil))
	}
	want := []string{a.URL + " view=true error=false", c.URL + " view=true error=false", d.URL + " view=false error=true"}
	if status != 200 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("clusters: %d\n%s\nwant\n%s", status, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tokens := aTokens(); len(tokens) == 0 || tokens[0] != "Bearer edge-token" {
		t.Errorf("the edge was asked with %v, want the edge token", tokens)
	}

	// Purge: logged with who.
	if status, body := call("DELETE", DashboardPath+"videos/"+video+"/cache", "mod-token"); status != 200 || body["video"] != video {
		t.Errorf("purge: %d %v", status, body)
	}
	if len(purged) != 1 || purged[0] != video || !strings.Contains(logs.String(), "video="+video+" by=@mod") {
		t.Errorf("purged %v, logs:\n%s", purged, logs.String())
	}
	if status, _ := call("DELETE", DashboardPath+"videos/not-a-video/cache", adminToken); status != 404 {
		t.Errorf("purge of a bad id: %d, want 404", status)
	}
	purgeErr = errors.New("edge-2 is down")
	if status, body := call("DELETE", DashboardPath+"videos/"+video+"/cache", adminToken); status != 502 || !strings.Contains(fmt.Sprint(body), "edge-2 is down") {
		t.Errorf("failed purge: %d %v, want 502 with the reason", status, body)
	}
	if !strings.Contains(logs.String(), `by="admin token"`) {
		t.Errorf("the failed purge is not logged with who:\n%s", logs.String())
	}
	if status, _ := call("GET", DashboardPath+"nothing", adminToken); status != 404 {
		t.Errorf("unknown dashboard path: %d, want 404", status)
	}
	if status, _ := call("POST", DashboardPath+"pipeline", adminToken); status != 405 {
		t.Errorf("POST pipeline: %d, want 405", status)
	}
}

// TestDashboardWithout: without a pipeline or a purge, their endpoints answer 404; without
// edges, no cluster.
func TestDashboardWithout(t *testing.T) {
	srv := httptest.NewServer(auth.NewAuthenticator(users{}, adminToken, nil).Middleware(NewDashboard(DashboardConfig{})))
	defer srv.Close()
	for _, c := range []struct{ method, path, want string }{
		{"GET", "pipeline", "404"},
		{"DELETE", "videos/" + videoid.New() + "/cache", "404"},
		{"GET", "cluster", `200 {"clusters":[]}`},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+DashboardPath+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
}
