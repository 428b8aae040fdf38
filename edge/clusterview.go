package edge

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/cluster"
)

// statsTimeout bounds the fetch of one member's stats for ClusterView: a member that does not
// answer within it is reported suspect, and the view does not wait longer for it.
const statsTimeout = time.Second

// maxStatsBytes bounds the stats a member may answer.
const maxStatsBytes = 4 << 20

// ClusterView is what GET /_edge/cluster answers: the whole cluster as the node asked sees
// it, for the operator dashboard. The dashboard polls it (every second) and keeps the series of
// its charts itself: the counters are totals since each node started, of which the page draws
// the rates.
type ClusterView struct {
	Node    string       `json:"node"` // the node that answered
	At      time.Time    `json:"at"`
	Members []MemberView `json:"members"`
	// Videos are the cluster's busiest videos of the last minute: each node's (Stats.Videos)
	// summed, with OriginObjects the distinct objects of the video that the nodes fetched from
	// the origin, so that OriginFetches/OriginObjects is the video's origin fetches per object
	// (1 when the cluster fetches each object once).
	Videos []ClusterVideo `json:"videos"`
	// OriginFetches and OriginObjects sum Videos' figures: the cluster's origin fetches per
	// object over the last minute, for the videos listed.
	OriginFetches int64 `json:"origin_fetches"`
	OriginObjects int64 `json:"origin_objects"`
}

// MemberView is a member of the cluster with its stats.
type MemberView struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // gossip address
	HTTP string `json:"http"` // HTTP address
	// State is the member's state in gossip (alive, dead, left), or "suspect" for a member
	// that gossip holds alive but that did not answer its stats in time: memberlist does not
	// tell its users when it suspects a node, so the view asks.
	State string    `json:"state"`
	Since time.Time `json:"since"` // when the node answering saw the member enter State
	Stats *Stats    `json:"stats,omitempty"`
	Error string    `json:"error,omitempty"` // why Stats is missing for a member held alive
}

// ClusterVideo is a video's traffic over the whole cluster in the last minute.
type ClusterVideo struct {
	Video         string `json:"video"`
	Requests      int64  `json:"requests"`
	Bytes         int64  `json:"bytes"`
	OriginFetches int64  `json:"origin_fetches"`
	OriginObjects int64  `json:"origin_objects"`
}

// ClusterView returns the cluster as this node sees it, with each live member's stats, asked
// of the members at once (GET /_edge/stats, with the node's metrics token, which every node
// of a cluster must share); a standalone node is a cluster of one.
func (e *Edge) ClusterView() ClusterView {
	now := time.Now()
	v := ClusterView{Node: e.name, At: now}
	self := e.Stats()
	if e.picker == nil {
		v.Members = []MemberView{{Name: e.name, HTTP: e.ln.Addr().String(), State: cluster.StateAlive.String(), Stats: &self}}
	} else {
		members := e.picker.Members()
		v.Members = make([]MemberView, len(members))
		var wg sync.WaitGroup
		for i, m := range members {
			mv := &v.Members[i]
			*mv = MemberView{Name: m.Name, Addr: m.Addr, HTTP: m.Meta.HTTPAddr, State: m.State.String(), Since: m.Since}
			switch {
			case m.Name == e.self:
				mv.Stats = &self
				self.Members = nil // the view's own
			case m.State == cluster.StateAlive && m.Meta.HTTPAddr != "":
				wg.Go(func() {
					s, err := e.memberStats(m.Meta.HTTPAddr)
					if err != nil {
						mv.Error = err.Error()
						return
					}
					s.Members = nil // the view's own
					mv.Stats = &s
				})
			}
		}
		wg.Wait()
		e.suspects.mark(v.Members, now)
	}
	v.Videos = clusterVideos(v.Members)
	for _, cv := range v.Videos {
		v.OriginFetches += cv.OriginFetches
		v.OriginObjects += cv.OriginObjects
	}
	return v
}

// memberStats fetches the stats of the member whose HTTP address is addr.
func (e *Edge) memberStats(addr string) (Stats, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/_edge/stats")
	req.Header.Set("Authorization", "Bearer "+e.cfg.MetricsToken)
	resp.StreamBody = true // stats may be longer than the client's limit for whole bodies
	if err := e.client.DoTimeout(req, resp, statsTimeout); err != nil {
		return Stats{}, err
	}
	if resp.StatusCode() != http.StatusOK {
		return Stats{}, fmt.Errorf("edge: stats: status %d", resp.StatusCode())
	}
	var s Stats
	if resp.BodyStream() == nil {
		return s, json.Unmarshal(resp.Body(), &s)
	}
	return s, json.NewDecoder(io.LimitReader(resp.BodyStream(), maxStatsBytes)).Decode(&s)
}

// suspects remembers since when each member held alive has failed to answer its stats.
type suspects struct {
	mu    sync.Mutex
	since map[string]time.Time
}

// mark turns the members held alive that did not answer into suspects, since they first
// failed, and forgets the others.
func (s *suspects) mark(members []MemberView, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since == nil {
		s.since = map[string]time.Time{}
	}
	failing := map[string]bool{}
	for i := range members {
		m := &members[i]
		if m.State != cluster.StateAlive.String() || m.Stats != nil {
			continue
		}
		failing[m.Name] = true
		at, ok := s.since[m.Name]
		if !ok {
			at = now
			s.since[m.Name] = at
		}
		m.State, m.Since = "suspect", at
	}
	for name := range s.since {
		if !failing[name] {
			delete(s.since, name)
		}
	}
}

// clusterVideos sums the members' busiest videos, counting each object fetched from the
// origin once however many nodes fetched it.
func clusterVideos(members []MemberView) []ClusterVideo {
	byID := map[string]*ClusterVideo{}
	objects := map[string]map[string]struct{}{}
	for _, m := range members {
		if m.Stats == nil {
			continue
		}
		for _, vt := range m.Stats.Videos {
			cv := byID[vt.Video]
			if cv == nil {
				cv = &ClusterVideo{Video: vt.Video}
				byID[vt.Video] = cv
				objects[vt.Video] = map[string]struct{}{}
			}
			cv.Requests += vt.Requests
			cv.Bytes += vt.Bytes
			cv.OriginFetches += vt.OriginFetches
			for _, name := range vt.OriginObjects {
				objects[vt.Video][name] = struct{}{}
			}
		}
	}
	out := make([]ClusterVideo, 0, len(byID))
	for id, cv := range byID {
		cv.OriginObjects = int64(len(objects[id]))
		out = append(out, *cv)
	}
	slices.SortFunc(out, func(a, b ClusterVideo) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(b.OriginFetches, a.OriginFetches), cmp.Compare(a.Video, b.Video))
	})
	return out
}
