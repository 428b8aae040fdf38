package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reelay/reelay/edge"
	"github.com/reelay/reelay/internal/testenv"
)

// deployDir is deploy/, what an operator copies.
const deployDir = "../../deploy"

// recipeUnit is what a systemd unit of deploy/systemd runs: its ExecStart's reelay arguments
// and its EnvironmentFiles' names (with %i, /etc/reelay/edge-%i.env).
type recipeUnit struct {
	args     []string
	envFiles []string
}

// loadUnit reads deploy/systemd/NAME.
func loadUnit(t *testing.T, name string) recipeUnit {
	t.Helper()
	f, err := os.Open(filepath.Join(deployDir, "systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u recipeUnit
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, _ := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch key {
		case "ExecStart":
			fields := strings.Fields(value)
			if fields[0] != "/usr/local/bin/reelay" {
				t.Fatalf("%s: ExecStart runs %s, want /usr/local/bin/reelay", name, fields[0])
			}
			u.args = fields[1:]
		case "EnvironmentFile":
			u.envFiles = append(u.envFiles, value)
		}
	}
	if len(u.args) == 0 || len(u.envFiles) == 0 {
		t.Fatalf("%s: no ExecStart or EnvironmentFile", name)
	}
	return u
}

// readEnvFile reads an example environment file of deploy/env: KEY=VALUE lines, # comments.
func readEnvFile(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "env", name))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^REELAY_[A-Z0-9_]+$`).MatchString(k) {
			t.Fatalf("deploy/env/%s: %q is not a REELAY_ setting", name, line)
		}
		env[k] = v
	}
	return env
}

// TestDeployEnvNamesRealFlags: every variable of deploy/env's example files is a flag of a
// tier that reads the file (its unit's EnvironmentFile), or the S3 credentials; and every
// flag that a unit's ExecStart gives exists on its tier.
func TestDeployEnvNamesRealFlags(t *testing.T) {
	readers := map[string][]string{} // env file -> the commands of the units that read it
	units, _ := filepath.Glob(filepath.Join(deployDir, "systemd", "*.service"))
	if len(units) < 4 {
		t.Fatalf("deploy/systemd: %d units, want one per tier", len(units))
	}
	for _, path := range units {
		u := loadUnit(t, filepath.Base(path))
		fs := flag.NewFlagSet(u.args[0], flag.ContinueOnError)
		cmd, ok := find(u.args[0])
		if !ok || cmd.setup == nil {
			t.Fatalf("%s runs reelay %s: no such command", path, u.args[0])
		}
		cmd.setup(fs)
		for _, a := range u.args[1:] {
			if name, ok := strings.CutPrefix(a, "--"); ok && fs.Lookup(name) == nil {
				t.Errorf("%s: reelay %s has no flag %s", path, u.args[0], a)
			}
		}
		for _, f := range u.envFiles {
			base := strings.ReplaceAll(filepath.Base(f), "%i", "1")
			readers[base] = append(readers[base], u.args[0])
		}
	}
	files, _ := filepath.Glob(filepath.Join(deployDir, "env", "*.env"))
	for _, path := range files {
		name := filepath.Base(path)
		if len(readers[name]) == 0 {
			t.Errorf("deploy/env/%s: no unit reads it", name)
		}
		for k := range readEnvFile(t, name) {
			if k == "REELAY_S3_ACCESS_KEY" || k == "REELAY_S3_SECRET_KEY" {
				continue
			}
			flagName := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "REELAY_")), "_", "-")
			found := false
			for _, c := range readers[name] {
				fs := flag.NewFlagSet(c, flag.ContinueOnError)
				cmd, _ := find(c)
				cmd.setup(fs)
				found = found || fs.Lookup(flagName) != nil
			}
			if !found {
				t.Errorf("deploy/env/%s: %s is a flag of none of %v", name, k, readers[name])
			}
		}
	}
}

// recipe is the cluster of README.md's "Scaling out" on one machine: deploy/'s units run as
// child processes with deploy/env's example files, their example addresses (10.0.0.x) mapped
// to free loopback ports and their secrets to the test's.
type recipe struct {
	t        *testing.T
	dir      string            // the nodes' machines: %S and %C of the units under dir/host
	addrs    map[string]string // example address -> loopback address
	override map[string]string // variables the test sets whatever the examples say
	admin    string
}

// node starts instance i of unit (1 for a unit that is not a template) as the node of the
// examples at host (10.0.0.12 for the second API node: the example files describe the first).
func (r *recipe) node(unit string, i int, host string) *reelayProc {
	t := r.t
	t.Helper()
	u := loadUnit(t, unit)
	// Each node has the state and cache directories of a machine of its own.
	root := filepath.Join(r.dir, host)
	expand := strings.NewReplacer("%i", strconv.Itoa(i), "%H", "host-"+host, "%S", root, "%C", root)
	var args []string
	for _, a := range u.args {
		args = append(args, expand.Replace(a))
	}
	var env []string
	for _, f := range u.envFiles {
		vars := readEnvFile(t, strings.ReplaceAll(filepath.Base(f), "%i", "1"))
		for k, v := range vars {
			if k == "REELAY_ADDR" || k == "REELAY_NODE_URL" || k == "REELAY_GOSSIP_ADDR" {
				// This node's own address: the first node's in the example.
				v = regexp.MustCompile(`10\.0\.0\.\d+`).ReplaceAllString(v, host)
			}
			for from, to := range r.addrs {
				v = strings.ReplaceAll(v, from, to)
			}
			if o, ok := r.override[k]; ok {
				v = o
			}
			if strings.Contains(v, "10.0.0.") || strings.Contains(v, "example.com") || strings.Contains(v, "CHANGE-ME") {
				t.Fatalf("deploy/env: %s=%s: the test does not know this example's address or secret", k, v)
			}
			env = append(env, k+"="+v)
		}
	}
	name := strings.TrimSuffix(strings.ReplaceAll(unit, "@", "-"+strconv.Itoa(i)), ".service") + " on " + host
	return startProcEnv(t, t, name, env, args...)
}

// TestClusterRecipe runs README.md's "Scaling out" on one machine, as an operator following it
// would: PostgreSQL, MinIO over plain HTTP (the bucket made by reelay store init), nginx with
// deploy/nginx/reelay.conf as the API and the edge balancer, two API nodes, two transcode
// workers, one origin and three edges, each started as its deploy/systemd unit with
// deploy/env's files. A creator uploads a clip through the API balancer with tus-js-client
// (its chunks go round-robin to both API nodes); a viewer plays it through the edge balancer
// with hls.js in Chromium. Then one node of each kind is killed: an API node, a worker and an
// edge for good, and the origin, the only one of its kind, is killed and started again as
// systemd's Restart= would. A second clip goes up through the balancer, and both play again.
func TestClusterRecipe(t *testing.T) {
	testenv.RequireCommand(t, "nginx")
	b := newBrowser(t)
	dsn := testenv.Postgres(t)
	minio := testenv.MinIO(t)
	t.Setenv("REELAY_S3_ACCESS_KEY", minio.AccessKey)
	t.Setenv("REELAY_S3_SECRET_KEY", minio.SecretKey)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	// The bucket, as the README says: reelay store init.
	store := "s3://recipe-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "/videos?endpoint=http://" + minio.Endpoint + "&region=us-east-1"
	var stderr bytes.Buffer
	if code := run(ctx, []string{"store", "init", "--store", store}, &env{stdout: &bytes.Buffer{}, stderr: &stderr, getenv: os.Getenv}); code != 0 {
		t.Fatalf("reelay store init: exit %d: %s", code, stderr.String())
	}

	port := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	apiLB, edgeLB := port(), port()
	r := &recipe{t: t, dir: t.TempDir(), admin: "recipe-admin-token-0123", addrs: map[string]string{
		"https://api.example.com": "http://" + apiLB, "https://video.example.com": "http://" + edgeLB,
	}}
	for _, a := range []string{"10.0.0.11:8080", "10.0.0.12:8080", "10.0.0.21:8082", "10.0.0.31:8081", "10.0.0.32:8081",
		"10.0.0.33:8081", "10.0.0.31:7946", "10.0.0.32:7946", "10.0.0.33:7946", "10.0.0.41:8083", "10.0.0.42:8083"} {
		r.addrs[a] = port()
	}
	key := make([]byte, 32)
	rand.Read(key)
	r.override = map[string]string{
		"REELAY_DB": dsn, "REELAY_STORE": store, "REELAY_S3_ACCESS_KEY": minio.AccessKey, "REELAY_S3_SECRET_KEY": minio.SecretKey,
		"REELAY_SIGNING_KEY": hex.EncodeToString(key), "REELAY_ADMIN_TOKEN": r.admin, "REELAY_TRUSTED_PROXIES": "127.0.0.1",
		// One machine: the README's fast failure detection, and caches that fit a test.
		"REELAY_TUNING": "local", "REELAY_MEM": "64MiB", "REELAY_DISK_SIZE": "256MiB",
	}

	origin := r.node("reelay-origin.service", 1, "10.0.0.21")
	var edges []*reelayProc
	for i := 1; i <= 3; i++ {
		edges = append(edges, r.node("reelay-edge@.service", i, fmt.Sprintf("10.0.0.3%d", i)))
	}
	workers := []*reelayProc{r.node("reelay-transcode@.service", 1, "10.0.0.41"), r.node("reelay-transcode@.service", 2, "10.0.0.42")}
	apis := []*reelayProc{r.node("reelay-api.service", 1, "10.0.0.11")}
	apis = append(apis, r.node("reelay-api.service", 1, "10.0.0.12")) // the second API machine's
	startNginx(t, r.addrs, apiLB, edgeLB)
	r.waitMembers(edges, 3)

	api, videoBase := "http://"+apiLB, "http://"+edgeLB
	postJSON(t, api+"/v1/users", "", `{"handle":"creator","password":"correct horse"}`, 201)
	var session struct{ Token string }
	json.Unmarshal(postJSON(t, api+"/v1/sessions", "", `{"handle":"creator","password":"correct horse"}`, 201), &session)
	page := b.pageServer(t, playerPage, nil, nil)
	play := func(what, id string) {
		t.Helper()
		v := r.waitReady(ctx, api, session.Token, id)
		if !strings.HasPrefix(v, videoBase+"/v/"+id+"/") {
			t.Fatalf("%s: playback_url %q, want one on the edge balancer %s", what, v, videoBase)
		}
		var res playResult
		b.play(t, ctx, page.URL+"/?src="+url.QueryEscape(v), &res)
		if res.Played < 1.5 || len(res.Errors) > 0 {
			t.Errorf("%s: hls.js through the edge balancer: %+v", what, res)
		}
	}

	clip := makeTestClip(t, "360x640", "2")
	first := r.upload(ctx, b, api, session.Token, clip)
	play("before the kills", first)
	forwarded := 0.0
	for _, a := range apis {
		forwarded += r.metric(a.url, "reelay_ingest_forwarded_requests_total")
	}
	if forwarded == 0 {
		t.Errorf("no API node passed a request for an upload to the other: did the balancer send all chunks to one?")
	}

	// One of each kind.
	apis[1].kill()
	workers[0].kill()
	edges[1].kill()
	origin.kill()
	r.node("reelay-origin.service", 1, "10.0.0.21")
	r.waitMembers([]*reelayProc{edges[0], edges[2]}, 2)

	second := r.upload(ctx, b, api, session.Token, clip)
	play("uploaded after the kills", second)
	play("uploaded before the kills, after them", first)
}

// upload sends clip through the API balancer with tus-js-client and returns the video's id.
func (r *recipe) upload(ctx context.Context, b *browser, api, token, clip string) string {
	t := r.t
	t.Helper()
	cmd := exec.CommandContext(ctx, b.node, filepath.Join(b.root, "e2e", "tus", "upload.mjs"), "--aborts", "1", api+"/v1/uploads/", clip)
	cmd.Env = append(os.Environ(), "REELAY_TOKEN="+token)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("upload.mjs: %v\n%s", err, stderrOf(err))
	}
	loc := strings.TrimSpace(string(out))
	if !strings.HasPrefix(loc, api+"/v1/uploads/") {
		t.Fatalf("upload.mjs printed %q, want an upload URL on the API balancer %s", loc, api)
	}
	return loc[strings.LastIndex(loc, "/")+1:]
}

// waitReady polls the video's status through the API balancer until it is ready, and returns
// its playback URL.
func (r *recipe) waitReady(ctx context.Context, api, token, id string) string {
	t := r.t
	t.Helper()
	var body []byte
	for ctx.Err() == nil {
		body = getJSON(t, api+"/v1/videos/"+id, token)
		switch jsonField(body, "status") {
		case "ready":
			return jsonField(body, "playback_url")
		case "failed":
			t.Fatalf("video %s failed: %s", id, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("video %s: not ready in time: %s", id, body)
	return ""
}

// waitMembers waits until each of edges sees n members alive.
func (r *recipe) waitMembers(edges []*reelayProc, n int) {
	t := r.t
	t.Helper()
	last := ""
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ok := true
		for _, e := range edges {
			var s edge.Stats
			r.getAdmin(e.url+"/_edge/stats", &s)
			alive := 0
			for _, m := range s.Members {
				if m.State == "alive" {
					alive++
				}
			}
			ok = ok && alive == n
			last = fmt.Sprintf("%s: %+v", e.name, s.Members)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("edges do not see %d members alive: %s", n, last)
		}
	}
}

// getAdmin GETs url with the admin token and decodes its JSON into v.
func (r *recipe) getAdmin(url string, v any) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+r.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		r.t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
}

// metric returns the value of an unlabelled counter on base's /metrics, 0 when absent.
func (r *recipe) metric(base, name string) float64 {
	r.t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+r.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// startNginx runs Debian's nginx with deploy/nginx/reelay.conf, its example addresses mapped
// by addrs and its two servers listening on apiLB and edgeLB, until the test ends.
func startNginx(t *testing.T, addrs map[string]string, apiLB, edgeLB string) {
	t.Helper()
	conf, err := os.ReadFile(filepath.Join(deployDir, "nginx", "reelay.conf"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(conf)
	for from, to := range addrs {
		text = strings.ReplaceAll(text, from, to)
	}
	for _, lb := range []string{apiLB, edgeLB} { // the API's server comes first
		if !strings.Contains(text, "listen 80;") {
			t.Fatal("deploy/nginx/reelay.conf: want a server listening on port 80 for each balancer")
		}
		text = strings.Replace(text, "listen 80;", "listen "+lb+";", 1)
	}
	if strings.Contains(text, "10.0.0.") {
		t.Fatalf("deploy/nginx/reelay.conf has an address the test does not know:\n%s", text)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reelay.conf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Getuid() == 0 {
		user = "user root;\n" // the workers use the temporary directories of this one
	}
	main := fmt.Sprintf("%spid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n    access_log off;\n    include %s/reelay.conf;\n}\n", user, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr", "-g", "daemon off;")
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // nginx's graceful stop, of this master and its workers
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx:\n%s", out)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + apiLB + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not pass /healthz to the API: %v %s", err, out)
		}
	}
}
