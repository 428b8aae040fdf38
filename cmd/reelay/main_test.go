package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// TestMain runs the tests, or, with runMainEnv set, the reelay command itself: the process
// tests start the test binary again as reelay.
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		childNoFile()
		main()
		return
	}
	testenv.Main(m)
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
		{"signed URLs too short-lived", []string{"--signed-url-ttl", "1s"}, nil, "invalid --signed-url-ttl"},
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
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &testenv.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{command}, args...), &env{stdout: pw, stderr: stderr, getenv: envOf(nil)})
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
