package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
)

// dashboardStep is a line that e2e/dashboard/dashboard.mjs prints: one step's outcome.
type dashboardStep struct {
	Step      string            `json:"step"`
	Login     bool              `json:"login"`
	Rows      int               `json:"rows"`
	Path      string            `json:"path"`
	Status    int               `json:"status"`
	Error     string            `json:"error"`
	States    map[string]string `json:"states"`
	Charts    map[string]int    `json:"charts"`
	Drawn     int               `json:"drawn"`
	Overflow  int               `json:"phone_overflow_px"`
	Cancelled int               `json:"requests_after_cancel"`
	Requests  []string          `json:"requests"`
	Toast     string            `json:"toast"`
	Text      string            `json:"text"`
	WaitedMS  int               `json:"waited_ms"`
	Errors    []string          `json:"errors"`
}

// TestDashboardInChromium opens the dashboard of a cluster of three `reelay edge` processes in
// Debian's Chromium, as an operator would: the login page first (and the data refused without
// the admin token), a wrong token refused, then signed in, three alive nodes; one edge is
// killed, and its row turns dead (or left) within the failure detection of --tuning local; the
// charts draw the players' requests; a purge asks for confirmation, and the edges log it.
// Screenshots of the dashboard on a laptop and a phone go to screenshots/.
func TestDashboardInChromium(t *testing.T) {
	waitingTest(t)
	b := newBrowser(t)
	shots := filepath.Join(b.root, "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lib := fillStore(t, dir)
	origin := startProc(t, t, "origin", "origin", "--store", "file://"+dir, "--addr", "127.0.0.1:0")
	c := &procCluster{life: t, lib: lib, origin: origin, proxy: startProxy(t, origin.url), client: newTestClient(t)}
	for i := range 3 {
		e := &edgeProc{name: fmt.Sprintf("edge-%d", i+1), gossip: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), disk: t.TempDir()}
		var join []string
		if i > 0 {
			join = []string{c.edges[0].gossip}
		}
		c.start(t, e, join...)
		c.edges = append(c.edges, e)
	}
	c.waitStates(t, c.edges, map[string]string{"edge-1": "alive", "edge-2": "alive", "edge-3": "alive"})

	// Players: a few requests a second to edge-1 and edge-2, for the charts and the busiest
	// videos, until the test ends.
	players := c.edges[:2]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// Mostly the first video, then the others: one busiest video.
			p := lib.cached[i%20]
			if i%3 == 0 {
				p = lib.cached[20+i%(len(lib.cached)-20)]
			}
			c.get(players[i%len(players)], p)
		}
	})
	defer func() { close(stop); wg.Wait() }()

	cmd := exec.CommandContext(t.Context(), b.node, filepath.Join(b.root, "e2e", "dashboard", "dashboard.mjs"), c.edges[0].url+"/dashboard", shots)
	cmd.Env = append(os.Environ(), "CHROMIUM="+b.chromium, "REELAY_TOKEN=0123456789abcdef")
	d := startDriver(t, cmd)
	next, send := d.next, d.send

	// The gate: the login page, no node, the data refused.
	if s := next("gate"); !s.Login || s.Rows != 0 || s.Path != "/_edge/cluster" || s.Status != http.StatusForbidden {
		t.Errorf("without a token: %+v, want the login page and 403", s)
	}
	if s := next("refused"); s.Error == "" || s.Rows != 0 {
		t.Errorf("a wrong token: %+v, want an error on the login page", s)
	}
	send("nodes 3")
	if s := next("alive"); len(s.States) != 3 {
		t.Fatalf("signed in: node rows %v, want 3 alive", s.States)
	}
	send("points")
	s := next("points")
	for _, chart := range []string{"requests", "bytes", "hit_ratio", "memory_fill", "disk_fill", "origin_fetches", "peer_fills", "prefetch_issued"} {
		if s.Charts[chart] < 2 {
			t.Errorf("chart %s has %d points, want some", chart, s.Charts[chart])
		}
	}
	if s.Drawn == 0 {
		t.Errorf("the requests chart drew no pixel of its series: %+v", s)
	}

	// Kill edge-3: its row turns dead (or left) without a reload.
	c.edges[2].kill()
	send("gone edge-3")
	s = next("gone")
	t.Logf("edge-3's row turned %s %d ms after the kill was sent", s.States["edge-3"], s.WaitedMS)
	if st := s.States["edge-3"]; st != "dead" && st != "left" {
		t.Errorf("edge-3 killed: its row is %q, want dead or left", st)
	}
	if s.States["edge-1"] != "alive" || s.States["edge-2"] != "alive" {
		t.Errorf("edge-3 killed: rows %v, want edge-1 and edge-2 alive", s.States)
	}

	send("screenshots")
	if s := next("screenshots"); s.Overflow > 0 {
		t.Errorf("on a 390 px phone the page is %d px wider than the screen", s.Overflow)
	}

	// Purge the busiest video, after a cancelled confirmation.
	video := strings.Split(lib.cached[0], "/")[2]
	send("purge " + video)
	s = next("purge")
	if s.Cancelled != 0 {
		t.Errorf("a cancelled purge sent %d requests", s.Cancelled)
	}
	if len(s.Requests) != 1 || !strings.HasSuffix(s.Requests[0], "/_edge/v/"+video) || !strings.Contains(s.Toast, "Purged") {
		t.Errorf("purge: requests %v, toast %q", s.Requests, s.Toast)
	}
	for _, e := range c.edges[:2] {
		if out := e.stderr.String(); !strings.Contains(out, "edge: purged") || !strings.Contains(out, "video="+video) {
			t.Errorf("%s did not log the purge of %s", e.name, video)
		}
	}
	send("quit")
	if s := next("done"); len(s.Errors) > 0 {
		t.Errorf("the page threw: %v", s.Errors)
	}
}

// TestUpDashboardInChromium opens the dashboard of `reelay up --edges 2` on the API listener,
// signed in as an admin account: the pipeline (a clip uploaded, its time to playable), the
// two edges of the process alive, the charts, and a purge through the API, logged with who
// asked. Its data answers 401 without a token and 403 to a user who is not an admin.
func TestUpDashboardInChromium(t *testing.T) {
	waitingTest(t)
	b := newBrowser(t)
	shots := filepath.Join(b.root, "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	const admin = "0123456789abcdef"
	// A process of its own, whose log tells the purge.
	up, stdout := spawn(t, t, "up", nil, "up", "--data", data, "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--edges", "2", "--admin-token", admin)
	first := bufio.NewReader(stdout)
	line, err := first.ReadString('\n')
	api, ok := strings.CutPrefix(strings.TrimSpace(line), "api ")
	if err != nil || !ok {
		t.Fatalf("reelay up printed %q (%v):\n%s", line, err, up.stderr)
	}
	go io.Copy(io.Discard, first)
	creator := createCreator(t, api)
	createUser(t, api, "ops")
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"admin", "grant", "ops", "--data", data}, &env{stdout: &out, stderr: &errOut, getenv: envOf(nil)}); code != 0 {
		t.Fatalf("reelay admin grant ops: %d %s", code, errOut.String())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	playback := uploadClip(t, ctx, api, creator, "public", makeTestClip(t, "180x320", "2"))
	video := strings.Split(strings.TrimPrefix(playback, "http://"), "/")[2]

	// The data's gate, and what it tells an admin.
	for token, want := range map[string]int{"": 401, creator: 403} {
		req, _ := http.NewRequest("GET", api+"/v1/admin/dashboard/pipeline", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		doJSON(t, req, want)
	}
	var st struct {
		TimeToPlayable struct{ Count int } `json:"time_to_playable"`
	}
	json.Unmarshal(getJSON(t, api+"/v1/admin/dashboard/pipeline", admin), &st)
	if st.TimeToPlayable.Count != 1 {
		t.Errorf("pipeline: %+v, want the clip's time to playable", st)
	}
	var cl struct {
		Clusters []struct {
			View struct {
				Members []struct{ Name, State string }
			}
		}
	}
	json.Unmarshal(getJSON(t, api+"/v1/admin/dashboard/cluster", admin), &cl)
	if len(cl.Clusters) != 1 || len(cl.Clusters[0].View.Members) != 2 {
		t.Errorf("clusters: %+v, want one of two members", cl)
	}

	// Players of the clip, for the charts.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if resp, err := http.Get(playback); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	cmd := exec.CommandContext(t.Context(), b.node, filepath.Join(b.root, "e2e", "dashboard", "dashboard.mjs"), api+"/dashboard", shots, "dashboard-api")
	cmd.Env = append(os.Environ(), "CHROMIUM="+b.chromium, "REELAY_TOKEN="+admin, "REELAY_HANDLE=ops", "REELAY_PASSWORD=correct horse")
	d := startDriver(t, cmd)
	if s := d.next("gate"); !s.Login || s.Rows != 0 || s.Path != "/v1/admin/dashboard/cluster" || s.Status != http.StatusUnauthorized {
		t.Errorf("without a token: %+v, want the login page and 401", s)
	}
	d.next("refused")
	d.send("nodes 2")
	if s := d.next("alive"); len(s.States) != 2 {
		t.Fatalf("signed in as @ops: node rows %v, want 2 alive", s.States)
	}
	d.send("pipeline")
	if s := d.next("pipeline"); !strings.Contains(s.Text, "Time to playable") || !strings.Contains(s.Text, "1 video") {
		t.Errorf("the pipeline's section: %q", s.Text)
	}
	d.send("points")
	if s := d.next("points"); s.Charts["requests"] < 2 || s.Drawn == 0 {
		t.Errorf("charts: %+v", s)
	}
	d.send("screenshots")
	d.next("screenshots")
	d.send("purge " + video)
	s := d.next("purge")
	if s.Cancelled != 0 || len(s.Requests) != 1 || !strings.HasSuffix(s.Requests[0], "/v1/admin/dashboard/videos/"+video+"/cache") || !strings.Contains(s.Toast, "Purged") {
		t.Errorf("purge: %+v", s)
	}
	if logs := up.stderr.String(); !strings.Contains(logs, "dashboard: purged a video from every edge") || !strings.Contains(logs, "video="+video+" by=@ops") {
		t.Errorf("the purge is not logged with who asked")
	}
	d.send("quit")
	if s := d.next("done"); len(s.Errors) > 0 {
		t.Errorf("the page threw: %v", s.Errors)
	}
}

// dashboardDriver is e2e/dashboard/dashboard.mjs running: its steps, one per line, and its
// commands.
type dashboardDriver struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	steps  *bufio.Scanner
	stderr *testenv.Buffer
}

// startDriver starts cmd, the driver, which ends with the test.
func startDriver(t *testing.T, cmd *exec.Cmd) *dashboardDriver {
	t.Helper()
	d := &dashboardDriver{t: t, cmd: cmd, stderr: &testenv.Buffer{}}
	var err error
	if d.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.steps = bufio.NewScanner(stdout)
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stdin.Close()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dashboard.mjs:\n%s", d.stderr)
		}
	})
	return d
}

// send sends the driver a command.
func (d *dashboardDriver) send(command string) { io.WriteString(d.stdin, command+"\n") }

// next returns the driver's next step, which must be want.
func (d *dashboardDriver) next(want string) dashboardStep {
	d.t.Helper()
	if !d.steps.Scan() {
		d.cmd.Wait()
		d.t.Fatalf("dashboard.mjs ended (%v) before step %q:\n%s", d.cmd.ProcessState, want, d.stderr)
	}
	var s dashboardStep
	if err := json.Unmarshal(d.steps.Bytes(), &s); err != nil || s.Step != want {
		d.t.Fatalf("dashboard.mjs printed %s (%v), want step %q", d.steps.Bytes(), err, want)
	}
	return s
}

// TestFeedDashboard: `reelay feed`'s dashboard data comes from the database and from the
// edges of --purge-url, and its purge goes to them.
func TestFeedDashboard(t *testing.T) {
	const admin = "0123456789abcdef"
	edgeURLs, _ := startCmd(t, "edge", "edge", "--addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--name", "edge-a",
		"--origin", "http://127.0.0.1:1", "--admin-token", admin)
	urls, _ := startCmd(t, "feed", "api", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "reelay.db"),
		"--playback-url", edgeURLs["edge"], "--purge-url", edgeURLs["edge"], "--admin-token", admin)
	api := urls["api"]

	var cl struct {
		Clusters []struct {
			Source string
			View   struct {
				Members []struct {
					Name, State string
					Stats       *struct{ Purges int }
				}
			}
		}
	}
	json.Unmarshal(getJSON(t, api+"/v1/admin/dashboard/cluster", admin), &cl)
	if len(cl.Clusters) != 1 || cl.Clusters[0].Source != edgeURLs["edge"] || len(cl.Clusters[0].View.Members) != 1 ||
		cl.Clusters[0].View.Members[0].Name != "edge-a" || cl.Clusters[0].View.Members[0].State != "alive" || cl.Clusters[0].View.Members[0].Stats == nil {
		t.Fatalf("clusters: %+v", cl)
	}
	if body := getJSON(t, api+"/v1/admin/dashboard/pipeline", admin); jsonField(body, "at") == "" {
		t.Errorf("pipeline: %s", body)
	}
	video := videoid.New()
	req, _ := http.NewRequest("DELETE", api+"/v1/admin/dashboard/videos/"+video+"/cache", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	doJSON(t, req, 200)
	json.Unmarshal(getJSON(t, api+"/v1/admin/dashboard/cluster", admin), &cl)
	if m := cl.Clusters[0].View.Members[0]; m.Stats == nil || m.Stats.Purges != 1 {
		t.Errorf("the edge after the purge: %+v, want 1 purge", m)
	}
}
