package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reelay/reelay/internal/testenv"
)

// promDir is the Prometheus configuration that operators copy.
const promDir = "../../deploy/prometheus"

// TestPrometheusScrapesUp runs Debian's Prometheus on deploy/prometheus as the README says to
// use it (a copy of the directory, the metrics token in its file, the nodes in targets/),
// against `reelay up` with two edges and a `reelay transcode --worker` on its queue, and checks
// through Prometheus' HTTP API that every target is up, that every alert rule loaded and
// evaluates without an error, that the metrics the rules need are there, and that a healthy
// system raises no alert.
func TestPrometheusScrapesUp(t *testing.T) {
	waitingTest(t)
	testenv.RequireCommand(t, "prometheus")
	const token = "metrics-0123456789"
	data := t.TempDir()
	urls, _ := startUp(t, "--data", data, "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--edges", "2", "--metrics-token", token)
	// And a worker of its queue on its own, for the reelay-transcode job.
	worker, _ := startCmd(t, "transcode", "transcode", "--worker", "--addr", "127.0.0.1:0", "--metrics-token", token,
		"--db", filepath.Join(data, "reelay.db"), "--store", filepath.Join(data, "objects"), "--scratch", t.TempDir())
	urls["transcode"] = worker["transcode"]

	dir := filepath.Join(t.TempDir(), "prometheus")
	if err := os.CopyFS(dir, os.DirFS(promDir)); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	// Scrape and evaluate every second rather than every 15, so that the test is quick.
	text := string(b)
	for _, key := range []string{"scrape_interval", "evaluation_interval"} {
		if !strings.Contains(text, key+": 15s") {
			t.Fatalf("prometheus.yml has no %q: 15s to shorten", key)
		}
		text = strings.Replace(text, key+": 15s", key+": 1s", 1)
	}
	host := func(names ...string) string {
		var hosts []string
		for _, n := range names {
			u, err := url.Parse(urls[n])
			if err != nil || u.Host == "" {
				t.Fatalf("listener %s: %q", n, urls[n])
			}
			hosts = append(hosts, "'"+u.Host+"'")
		}
		return "- targets: [" + strings.Join(hosts, ", ") + "]\n"
	}
	for name, content := range map[string]string{
		"prometheus.yml":        text,
		"reelay-metrics.token":  token + "\n",
		"targets/api.yml":       host("api"),
		"targets/origin.yml":    host("origin"),
		"targets/edge.yml":      host("edge-1", "edge-2"),
		"targets/transcode.yml": host("transcode"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{} // job/instance of every target
	for job, names := range map[string][]string{"reelay-api": {"api"}, "reelay-origin": {"origin"}, "reelay-edge": {"edge-1", "edge-2"},
		"reelay-transcode": {"transcode"}} {
		for _, n := range names {
			want[job+"/"+strings.TrimPrefix(urls[n], "http://")] = true
		}
	}
	alerts := alertNames(t, filepath.Join(promDir, "rules"))

	prom := startPrometheus(t, config)

	// Every target up.
	var targets struct {
		ActiveTargets []struct {
			Labels    map[string]string `json:"labels"`
			Health    string            `json:"health"`
			LastError string            `json:"lastError"`
		} `json:"activeTargets"`
	}
	pollProm(t, prom, "every target up", "/api/v1/targets", &targets, func() bool {
		up := 0
		for _, tg := range targets.ActiveTargets {
			if tg.Health == "up" && want[tg.Labels["job"]+"/"+tg.Labels["instance"]] {
				up++
			}
		}
		return up == len(want) && len(targets.ActiveTargets) == len(want)
	})

	// Every rule loaded, and evaluated without an error.
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	pollProm(t, prom, "every rule evaluated", "/api/v1/rules", &rules, func() bool {
		var ok []string
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.LastError != "" {
					t.Fatalf("rule %s of %s: %s", r.Name, g.Name, r.LastError)
				}
				if r.Health == "ok" {
					ok = append(ok, r.Name)
				}
			}
		}
		slices.Sort(ok)
		return slices.Equal(ok, alerts)
	})

	// The gauges that the edges and the queue add for the rules, as a healthy reelay up has them.
	for _, c := range []struct{ query, want string }{
		{`max(reelay_edge_members{state="alive"})`, "2"},
		{`max(reelay_edge_members{state="dead"})`, "0"},
		{`count(reelay_edge_requests_total)`, "2"},
		{`count(reelay_jobs_queued{kind="transcode"})`, "3"}, // reelay up's (on its API and origin listeners) and the worker's
		{`max(reelay_jobs_queued{kind="transcode"})`, "0"},
		{`max(reelay_jobs_oldest_age_seconds{kind="transcode"})`, "0"},
	} {
		var res struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		}
		pollProm(t, prom, c.query, "/api/v1/query?query="+url.QueryEscape(c.query), &res, func() bool {
			return len(res.Result) == 1 && res.Result[0].Value[1] == c.want
		})
	}

	// Every metric that the rules name exists in the running system, so that a name mistyped
	// in a rule (and in its unit tests alike) cannot pass, except those with no series until
	// something happens.
	lazy := map[string]string{ // name: when its first series comes
		"reelay_transcode_jobs_total":          "by result, at the end of the first job",
		"reelay_origin_store_duration_seconds": "by operation, at the origin's first read of the store",
	}
	// A series comes with the scrape after its first sample (the request counters with the
	// first request that ends), so the names are polled until a deadline rather than read once.
	var names, missing []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		getProm(t, prom, "/api/v1/label/__name__/values", &names)
		missing = missing[:0]
		for _, name := range ruleMetrics(t, filepath.Join(promDir, "rules")) {
			if _, ok := lazy[name]; ok {
				continue
			}
			base := strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count")
			if !slices.Contains(names, name) && !slices.Contains(names, base+"_count") {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range missing {
		t.Errorf("the rules name %s, which reelay does not export", name)
	}

	// A healthy system: no alert firing, nor even pending.
	var active struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	getProm(t, prom, "/api/v1/alerts", &active)
	for _, a := range active.Alerts {
		t.Errorf("alert %s is %s on a healthy reelay up: %v", a.Labels["alertname"], a.State, a.Labels)
	}
}

// alertNames returns the names of the alerts in the rule files of dir, sorted.
func alertNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in %s: %v", dir, err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Rules []struct {
					Alert string `yaml:"alert"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				names = append(names, r.Alert)
			}
		}
	}
	slices.Sort(names)
	return names
}

// ruleMetrics returns the names of reelay's metrics that the rule files of dir mention, in
// their expressions and their annotations, sorted.
func ruleMetrics(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, metricName.FindAllString(string(b), -1)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var metricName = regexp.MustCompile(`\breelay_[a-z0-9_]+`)

// startPrometheus runs Debian's prometheus on config, with its storage in a temporary
// directory and its API on a free loopback port, until the test ends, and returns its URL
// once it is ready.
func startPrometheus(t *testing.T, config string) string {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	logs := &testenv.Buffer{}
	cmd := exec.Command("prometheus", "--config.file="+config, "--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// Cleanups run last first: Prometheus stops before its temporary directories go.
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus (pid %d) said:\n%s", cmd.Process.Pid, logs)
		}
	})
	u := "http://" + addr
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(u + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %v\n%s", cmd.ProcessState, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready within a minute: %v\n%s", err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getProm GETs path of Prometheus' API and decodes its data into v.
func getProm(t *testing.T, prom, path string, v any) {
	t.Helper()
	resp, err := http.Get(prom + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, body.Error, err)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// pollProm GETs path into v until done holds, for a minute at most.
func pollProm(t *testing.T, prom, what, path string, v any, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		getProm(t, prom, path, v)
		if done() {
			return
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(v)
			t.Fatalf("%s: not within a minute; last %s", what, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
