package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// TestMain runs the tests, or, with runMainEnv set, the reelay command itself: the process
// tests start the test binary again as reelay. The tests share the machine as parallel_test.go
// says, and the clips of makeTestClip, removed at the end.
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		childNoFile()
		main()
		return
	}
	flag.Parse()
	parallelFlag()
	code := m.Run()
	removeTestClips()
	testenv.StopAll()
	os.Exit(code)
}

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "reelay.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigLayers(t *testing.T) {
	file := writeFile(t, "api-addr: 10.0.0.1:1\nedge_addr: 10.0.0.2:2\norigin-addr: 10.0.0.3:3\nlog-level: warn\n")
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	c := setupUp(fs).(*upConfig)
	env := envOf(map[string]string{
		"REELAY_CONFIG":      file,
		"REELAY_EDGE_ADDR":   "10.0.0.4:4", // env beats the file
		"REELAY_ORIGIN_ADDR": "10.0.0.5:5", // but not the flag
	})
	if err := loadConfig(fs, []string{"--origin-addr", "10.0.0.6:6"}, env); err != nil {
		t.Fatal(err)
	}
	want := upConfig{apiAddr: "10.0.0.1:1", edgeAddr: "10.0.0.4:4", originAddr: "10.0.0.6:6", gossipAddr: "127.0.0.1:7946", data: "./data"}
	if c.apiAddr != want.apiAddr || c.edgeAddr != want.edgeAddr || c.originAddr != want.originAddr || c.gossipAddr != want.gossipAddr || c.data != want.data || c.logLevel != "warn" {
		t.Fatalf("got %+v", *c)
	}
}

func TestBadConfigExits2(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown yaml key", []string{"--config", writeFile(t, "api-addr: 127.0.0.1:0\nbogus: 1\n")}, nil, `unknown key "bogus"`},
		{"yaml not a mapping", []string{"--config", writeFile(t, "- a\n- b\n")}, nil, "want a mapping"},
		{"yaml nested value", []string{"--config", writeFile(t, "data:\n  a: b\n")}, nil, `"data": want a plain value`},
		{"missing file", []string{"--config", "/nonexistent/reelay.yaml"}, nil, "no such file"},
		{"bad address", []string{"--api-addr", "localhost"}, nil, "invalid --api-addr"},
		{"bad address from env", nil, map[string]string{"REELAY_EDGE_ADDR": "nope"}, "invalid --edge-addr"},
		{"bad log format", []string{"--log-format", "xml"}, nil, "invalid --log-format"},
		{"short admin token", []string{"--admin-token", "short"}, nil, "admin-token"},
		{"signing key not hex", []string{"--signing-key", "xyz"}, nil, "invalid --signing-key"},
		{"short signing key", []string{"--signing-key", "abcd"}, nil, "invalid --signing-key"},
		{"public URL not a URL", []string{"--public-url", "api.example"}, nil, "invalid --public-url"},
		{"public URL with a query", []string{"--public-url", "https://api.example/?x=1"}, nil, "invalid --public-url"},
		{"signed URLs too short-lived", []string{"--signed-url-ttl", "1s"}, nil, "invalid --signed-url-ttl"},
		{"no unfinished upload allowed", []string{"--upload-quota-unfinished", "0"}, nil, "invalid --upload-quota-unfinished"},
		{"daily quota below -1", []string{"--upload-quota-daily", "-2"}, nil, "invalid --upload-quota-daily"},
		{"byte quota below the largest upload", []string{"--upload-quota-bytes", "1GiB", "--max-upload", "2GiB"}, nil, "invalid --upload-quota-bytes"},
		{"no report hides", []string{"--report-threshold", "0"}, nil, "invalid --report-threshold"},
		{"comments of no length", []string{"--comment-max", "0"}, nil, "invalid --comment-max"},
		{"no celebrity threshold", []string{"--celebrity-threshold", "0"}, nil, "invalid --celebrity-threshold"},
		{"no fan-out worker", []string{"--fanout-workers", "0"}, nil, "invalid --fanout-workers"},
		{"unknown flag", []string{"--bogus"}, nil, "flag provided but not defined: -bogus"},
		{"stray argument", []string{"extra"}, nil, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"up"}, tc.args...), &env{stdout: io.Discard, stderr: &stderr, getenv: envOf(tc.env)})
			if code != 2 || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, stderr.String(), tc.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &env{stdout: io.Discard, stderr: &stderr, getenv: envOf(nil)}); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

func TestHelpListsEveryFlagWithDefault(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"help", "up"}, &env{stdout: &out, stderr: io.Discard, getenv: envOf(nil)}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	setupUp(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "--"+f.Name+"\n") {
			t.Errorf("help lacks --%s", f.Name)
		}
	})
	if !strings.Contains(out.String(), "(default 127.0.0.1:8080)") || !strings.Contains(out.String(), "REELAY_API_ADDR") {
		t.Errorf("help:\n%s", out.String())
	}
}

// TestHelpExampleIsAFlag: the environment variable each command's help gives as an example is
// that of one of the command's flags.
func TestHelpExampleIsAFlag(t *testing.T) {
	re := regexp.MustCompile(`environment variable \(([a-z-]+) is\s+(REELAY_[A-Z_]+)\)`)
	for _, cmd := range commands() {
		if cmd.setup == nil {
			continue
		}
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		cmd.setup(fs)
		if countFlags(fs) == 0 {
			continue // nothing to set
		}
		var out bytes.Buffer
		if code := run(context.Background(), []string{"help", cmd.name}, &env{stdout: &out, stderr: io.Discard, getenv: envOf(nil)}); code != 0 {
			t.Fatalf("help %s: exit %d", cmd.name, code)
		}
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("help %s gives no example variable:\n%s", cmd.name, out.String())
			continue
		}
		if !strings.Contains(out.String(), "  --"+m[1]+"\n") || m[2] != envName(m[1]) {
			t.Errorf("help %s: the example %s (%s) is not one of its flags", cmd.name, m[2], m[1])
		}
	}
}

func countFlags(fs *flag.FlagSet) (n int) {
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n
}

func TestUnreachableDependenciesFailClearly(t *testing.T) {
	for name, args := range map[string][]string{
		"postgres": {"--db", "postgres://reelay:hunter2@127.0.0.1:1/reelay?sslmode=disable"},
		"s3":       {"--store", "s3://videos?endpoint=127.0.0.1:1&secure=false"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"up", "--data", t.TempDir(), "--api-addr", "127.0.0.1:0"}, args...)
			code := run(context.Background(), args, &env{stdout: io.Discard, stderr: &stderr, getenv: envOf(nil)})
			if code != 1 || !strings.Contains(stderr.String(), "127.0.0.1:1") || strings.Contains(stderr.String(), "hunter2") {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
		})
	}
}

// startUp runs `reelay up` in-process and returns the listener URLs it prints.
func startUp(t *testing.T, args ...string) (urls map[string]string, stop func() int) {
	t.Helper()
	return startCmd(t, "up", "origin", args...)
}

// startCmd runs the command in-process until the test ends, reading the listener lines it
// prints ("api http://...") up to the one named last, and returns them by name.
func startCmd(t *testing.T, command, last string, args ...string) (urls map[string]string, stop func() int) {
	t.Helper()
	return startCmdHooked(t, env{}, command, last, args...)
}

// startCmdHooked is startCmd with the test hooks of hooks (afterSample, which the transcodes
// it runs call, and tracerProvider) in the command's env.
func startCmdHooked(t *testing.T, hooks env, command, last string, args ...string) (urls map[string]string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &testenv.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{command}, args...), &env{stdout: pw, stderr: stderr, getenv: envOf(nil),
			afterSample: hooks.afterSample, tracerProvider: hooks.tracerProvider})
		pw.Close()
	}()
	urls = map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		name, url, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("unexpected output %q", sc.Text())
		}
		urls[name] = url
		if name == last {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if urls[last] == "" {
		t.Fatalf("reelay %s did not print its %s listener; stderr:\n%s", command, last, stderr)
	}
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { stop() })
	return urls, stop
}

func TestUpServesHealthOnEveryListener(t *testing.T) {
	waitingTest(t)
	for _, dbName := range []string{"sqlite", "postgres"} {
		t.Run(dbName, func(t *testing.T) {
			args := []string{"--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
				"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--admin-token", "0123456789abcdef"}
			if dbName == "postgres" {
				args = append(args, "--db", testenv.Postgres(t))
			}
			urls, stop := startUp(t, args...)
			if len(urls) != 3 || urls["edge"] == "" {
				t.Fatalf("listeners %v, want api, edge and origin", urls)
			}
			for name, url := range urls {
				// /metrics answers the admin token, which stands for the metrics token.
				for _, c := range []struct {
					path, token string
					want        int
				}{
					{"/healthz", "", 200}, {"/readyz", "", 200}, {"/metrics", "0123456789abcdef", 200}, {"/metrics", "", 403},
				} {
					req, _ := http.NewRequest("GET", url+c.path, nil)
					if c.token != "" {
						req.Header.Set("Authorization", "Bearer "+c.token)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != c.want {
						t.Errorf("%s %s with token %q: %d, want %d", name, c.path, c.token, resp.StatusCode, c.want)
					}
				}
			}
			// The API answers for real: register a user.
			resp, err := http.Post(urls["api"]+"/v1/users", "application/json", strings.NewReader(`{"handle":"ann","password":"correct horse"}`))
			if err != nil || resp.StatusCode != 201 {
				t.Fatalf("register through reelay up: %v %v", resp, err)
			}
			resp.Body.Close()
			if code := stop(); code != 0 {
				t.Fatalf("reelay up exited %d after SIGINT", code)
			}
			if _, err := (&http.Client{Timeout: time.Second}).Get(urls["api"] + "/healthz"); err == nil {
				t.Fatal("api still answers after stop")
			}
		})
	}
}

func TestUpEdgeCluster(t *testing.T) {
	waitingTest(t)
	const metricsToken = "metrics-0123456789"
	urls, _ := startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--edges", "3", "--metrics-token", metricsToken)
	for _, name := range []string{"edge-1", "edge-2", "edge-3"} {
		if urls[name] == "" {
			t.Fatalf("listeners %v lack %s", urls, name)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var stats struct {
			Members []struct{ Name, State string }
		}
		req, _ := http.NewRequest("GET", urls["edge-3"]+"/_edge/stats", nil)
		req.Header.Set("Authorization", "Bearer "+metricsToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&stats)
		resp.Body.Close()
		alive := 0
		for _, m := range stats.Members {
			if m.State == "alive" {
				alive++
			}
		}
		if alive == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge-3 sees %+v, want 3 alive members", stats.Members)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUpPlan places the edge nodes of `reelay up` on the README's defaults and on clashes.
func TestUpPlan(t *testing.T) {
	defaults := func(edges int, args ...string) *upConfig {
		t.Helper()
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		c := setupUp(fs).(*upConfig)
		if err := loadConfig(fs, append([]string{"--edges", strconv.Itoa(edges)}, args...), envOf(nil)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	p, err := defaults(3).plan()
	wantEdges := []string{"127.0.0.1:8081", "127.0.0.1:8083", "127.0.0.1:8084"} // 8082 is the origin's
	wantGossip := []string{"127.0.0.1:7946", "127.0.0.1:7947", "127.0.0.1:7948"}
	if err != nil || !slices.Equal(p.edges, wantEdges) || !slices.Equal(p.gossip, wantGossip) {
		t.Errorf("plan of --edges 3 = %+v, %v; want edges %v, gossip %v", p, err, wantEdges, wantGossip)
	}
	if p, err := defaults(2, "--edge-addr", "127.0.0.1:0").plan(); err != nil || !slices.Equal(p.edges, []string{"127.0.0.1:0", "127.0.0.1:0"}) {
		t.Errorf("plan with port 0 = %+v, %v", p, err)
	}
	for _, clash := range [][]string{
		{"--origin-addr", "127.0.0.1:8080"}, // the API's
		{"--edge-addr", "127.0.0.1:8082"},   // the origin's
		{"--gossip-addr", "127.0.0.1:8080"}, // the API's
	} {
		c := defaults(1, clash...)
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "would both listen on") {
			t.Errorf("%v: validate = %v, want a clash named", clash, err)
		}
	}
}

// TestUpEdgesAvoidOtherListeners runs the README's `reelay up --edges 3` on the same layout of
// ports as its defaults (API, edge, origin on three consecutive ports), shifted to free ones:
// the second edge skips the origin's port instead of failing on it.
func TestUpEdgesAvoidOtherListeners(t *testing.T) {
	base := freePortRun(t, 5)
	gossip := freePortRun(t, 3)
	port := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	urls, _ := startUp(t, "--data", t.TempDir(), "--edges", "3", "--api-addr", port(base), "--edge-addr", port(base+1),
		"--origin-addr", port(base+2), "--gossip-addr", port(gossip))
	for name, want := range map[string]int{"api": base, "edge-1": base + 1, "origin": base + 2, "edge-2": base + 3, "edge-3": base + 4} {
		if urls[name] != "http://"+port(want) {
			t.Errorf("%s listens at %q, want %s", name, urls[name], port(want))
		}
	}
}

// freePortRun returns the first of n consecutive loopback ports that are free now.
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		first := testenv.FreePort(t)
		if first+n > 65535 {
			continue
		}
		free := true
		for p := first; p < first+n && free; p++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if free = err == nil; free {
				ln.Close()
			}
		}
		if free {
			return first
		}
	}
	t.Fatalf("no run of %d free ports", n)
	return 0
}

// TestUpPublicURL checks that reelay up gives uploads a Location under --public-url, and a
// relative one without it, never one built from the Host header.
func TestUpPublicURL(t *testing.T) {
	waitingTest(t)
	for _, public := range []string{"https://videos.example/reelay", ""} {
		t.Run("public URL "+public, func(t *testing.T) {
			args := []string{"--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
				"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}
			if public != "" {
				args = append(args, "--public-url", public)
			}
			urls, _ := startUp(t, args...)
			token := createCreator(t, urls["api"])
			req, err := http.NewRequest("POST", urls["api"]+"/v1/uploads/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "evil.example"
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Upload-Length", "1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if id := loc[strings.LastIndexByte(loc, '/')+1:]; resp.StatusCode != 201 || id == "" || loc != public+"/v1/uploads/"+id {
				t.Fatalf("POST /v1/uploads/: %d, Location %q, want %s/v1/uploads/<id>", resp.StatusCode, loc, public)
			}
		})
	}
}
