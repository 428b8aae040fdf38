package main

import (
	"bufio"
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
	Errors    []string          `json:"errors"`
}

// TestDashboardInChromium opens the dashboard of a cluster of three `reelay edge` processes in
// Debian's Chromium, as an operator would: the login page first (and the data refused without
// the admin token), a wrong token refused, then signed in, three alive nodes; one edge is
// killed, and its row turns dead (or left) within the failure detection of --tuning local; the
// charts draw the players' requests; a purge asks for confirmation, and the edges log it.
// Screenshots of the dashboard on a laptop and a phone go to screenshots/.
func TestDashboardInChromium(t *testing.T) {
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

	cmd := exec.CommandContext(t.Context(), b.node, filepath.Join(b.root, "e2e", "dashboard", "dashboard.mjs"),
		c.edges[0].url+"/dashboard", shots)
	cmd.Env = append(os.Environ(), "CHROMIUM="+b.chromium, "REELAY_TOKEN=0123456789abcdef")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dashboard.mjs:\n%s", stderr)
		}
	}()
	steps := bufio.NewScanner(stdout)
	send := func(command string) { io.WriteString(stdin, command+"\n") }
	next := func(want string) dashboardStep {
		t.Helper()
		if !steps.Scan() {
			cmd.Wait()
			t.Fatalf("dashboard.mjs ended (%v) before step %q:\n%s", cmd.ProcessState, want, stderr)
		}
		var s dashboardStep
		if err := json.Unmarshal(steps.Bytes(), &s); err != nil || s.Step != want {
			t.Fatalf("dashboard.mjs printed %s (%v), want step %q", steps.Bytes(), err, want)
		}
		return s
	}

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
