package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/videoid"
)

// DashboardPath is the prefix of the dashboard's data on the API listener, which the API
// mounts Dashboard's handler at:
//
//	GET    /v1/admin/dashboard/pipeline            the transcode pipeline (DashboardConfig.Pipeline)
//	GET    /v1/admin/dashboard/cluster             the edge clusters: each one's GET /_edge/cluster
//	DELETE /v1/admin/dashboard/videos/{id}/cache   purge a video from every edge (DashboardConfig.Purge)
//
// Each answers admins only (the admin token, or an admin user's session): 401 without a
// token, 403 for anyone else.
const DashboardPath = "/v1/admin/dashboard/"

// edgeTimeout bounds the request for one edge cluster's view.
const edgeTimeout = 3 * time.Second

// maxClusterBytes bounds the view an edge may answer.
const maxClusterBytes = 8 << 20

// DashboardConfig configures the dashboard's data on the API listener.
type DashboardConfig struct {
	// Pipeline returns where the transcode pipeline stands (pipeline.ReadStatus on the
	// database). Default nil: GET .../pipeline answers 404.
	Pipeline func(ctx context.Context) (any, error)
	// Edges are base URLs of edges ("http://127.0.0.1:8081"), whose GET /_edge/cluster tells
	// their whole cluster. They are asked in order; an edge that another's view already lists
	// as a member is not asked, so list every edge of a cluster (the first that answers
	// speaks for the rest) or one edge per cluster. Default none: no cluster.
	Edges []string
	// EdgeToken is the bearer token sent to the edges: their metrics or admin token. Default
	// "".
	EdgeToken string
	// Purge drops a video's cached objects from every edge (the feed's Config.Purge). Default
	// nil: purges answer 404.
	Purge func(ctx context.Context, video string) error
	// Logger receives the log of each action, with who took it. Default: discarded.
	Logger *slog.Logger
}

// EdgeCluster is an edge cluster in GET .../cluster: the view of the edge at Source (its
// GET /_edge/cluster, as it answered), or why there is none.
type EdgeCluster struct {
	Source string          `json:"source"`
	View   json.RawMessage `json:"view,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Dashboard serves the dashboard's data on the API listener.
type Dashboard struct {
	cfg  DashboardConfig
	log  *slog.Logger
	http *http.Client
	mux  *http.ServeMux
}

// NewDashboard returns the handler of the dashboard's data, to mount at DashboardPath.
func NewDashboard(cfg DashboardConfig) *Dashboard {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{cfg: cfg, log: cfg.Logger.With("tier", "dashboard"), http: &http.Client{Timeout: edgeTimeout}, mux: http.NewServeMux()}
	h := func(f apierr.HandlerFunc) http.Handler { return apierr.Handler(d.log, auth.RequireAdmin(f)) }
	d.mux.Handle("GET "+DashboardPath+"pipeline", h(d.pipeline))
	d.mux.Handle("GET "+DashboardPath+"cluster", h(d.clusters))
	d.mux.Handle("DELETE "+DashboardPath+"videos/{id}/cache", h(d.purge))
	d.mux.Handle(DashboardPath, h(func(w http.ResponseWriter, r *http.Request) error {
		rest := strings.TrimPrefix(r.URL.Path, DashboardPath)
		allow := ""
		switch {
		case rest == "pipeline" || rest == "cluster":
			allow = "GET, HEAD"
		case strings.HasPrefix(rest, "videos/") && strings.HasSuffix(rest, "/cache"):
			allow = "DELETE"
		default:
			return apierr.New(http.StatusNotFound, "not_found", "no such dashboard resource")
		}
		w.Header().Set("Allow", allow)
		return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "this resource answers "+allow)
	}))
	return d
}

// ServeHTTP implements http.Handler.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

func (d *Dashboard) pipeline(w http.ResponseWriter, r *http.Request) error {
	if d.cfg.Pipeline == nil {
		return apierr.New(http.StatusNotFound, "no_pipeline", "this process reads no pipeline")
	}
	st, err := d.cfg.Pipeline(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	apierr.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (d *Dashboard) clusters(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"clusters": d.Clusters(r.Context())})
	return nil
}

// Clusters asks the edges for their clusters' views (see DashboardConfig.Edges).
func (d *Dashboard) Clusters(ctx context.Context) []EdgeCluster {
	// Ask them all at once, then keep them in order, skipping those another's view covers.
	answers := make([]EdgeCluster, len(d.cfg.Edges))
	members := make([][]string, len(d.cfg.Edges))
	var wg sync.WaitGroup
	for i, base := range d.cfg.Edges {
		wg.Go(func() {
			answers[i] = EdgeCluster{Source: base}
			view, hosts, err := d.edgeView(ctx, base)
			if err != nil {
				answers[i].Error = err.Error()
				return
			}
			answers[i].View, members[i] = view, hosts
		})
	}
	wg.Wait()
	covered := map[string]bool{}
	out := []EdgeCluster{}
	for i, a := range answers {
		if covered[hostOf(a.Source)] {
			continue
		}
		if a.View == nil {
			// An edge that does not answer is reported unless a later one covers it.
			if !coveredLater(a.Source, members[i+1:]) {
				out = append(out, a)
			}
			continue
		}
		for _, h := range members[i] {
			covered[h] = true
		}
		covered[hostOf(a.Source)] = true
		out = append(out, a)
	}
	return out
}

// coveredLater reports whether source's host is among the members of a later view.
func coveredLater(source string, later [][]string) bool {
	for _, hosts := range later {
		for _, h := range hosts {
			if h == hostOf(source) {
				return true
			}
		}
	}
	return false
}

// hostOf returns the host:port of a base URL.
func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Host
}

var errEdgeStatus = errors.New("web: the edge refused")

// edgeView returns the edge's GET /_edge/cluster, and the HTTP addresses of the members it
// lists.
func (d *Dashboard) edgeView(ctx context.Context, base string) (json.RawMessage, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/_edge/cluster", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.cfg.EdgeToken)
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxClusterBytes))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%w: %s", errEdgeStatus, resp.Status)
	}
	var v struct {
		Members []struct {
			HTTP string `json:"http"`
		} `json:"members"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, nil, fmt.Errorf("web: the edge's cluster view: %w", err)
	}
	hosts := make([]string, 0, len(v.Members))
	for _, m := range v.Members {
		hosts = append(hosts, m.HTTP)
	}
	return b, hosts, nil
}

func (d *Dashboard) purge(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !videoid.Valid(id) {
		return apierr.New(http.StatusNotFound, "not_found", "no such video")
	}
	if d.cfg.Purge == nil {
		return apierr.New(http.StatusNotFound, "no_edges", "this process purges no edge")
	}
	p, _ := auth.FromContext(r.Context())
	who := "admin token"
	if p.UserID != 0 {
		who = "@" + p.Handle
	}
	err := d.cfg.Purge(r.Context(), id)
	if err != nil {
		d.log.Error("dashboard: purge failed", "video", id, "by", who, "user", p.UserID, "client", r.RemoteAddr, "err", err)
		return apierr.Errorf(http.StatusBadGateway, "purge_failed", "the purge failed on some edge: %v", err)
	}
	d.log.Info("dashboard: purged a video from every edge", "video", id, "by", who, "user", p.UserID, "client", r.RemoteAddr)
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"video": id, "purged": true})
	return nil
}
