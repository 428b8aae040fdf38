package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/testenv"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		status       int
		contentType  string // prefix
	}{
		{"GET", "/", 200, "text/html"},
		{"GET", "/dashboard", 200, "text/html"},
		{"HEAD", "/", 200, "text/html"},
		{"GET", "/assets/vendor/hls.min.mjs", 200, "text/javascript"},
		{"GET", "/assets/vendor/uPlot.min.css", 200, "text/css"},
		{"GET", "/assets/", 404, "application/json"},
		{"GET", "/assets/../web.go", 404, "application/json"},
		{"GET", "/assets/vendor/../../web.go", 404, "application/json"},
		{"GET", "/assets/nothing.js", 404, "application/json"},
		{"GET", "/web.go", 404, "application/json"},
		{"GET", "/dashboard/", 404, "application/json"},
		{"POST", "/", 405, "application/json"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.contentType) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.contentType)
			}
			if c.status >= 400 {
				var body struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code == "" {
					t.Fatalf("error body: %v %+v", err, body)
				}
			}
		})
	}

	// A page carries its policy; a second fetch with the ETag is a 304.
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Security-Policy") != ContentSecurityPolicy || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers: %v", resp.Header)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d, want 304", resp.StatusCode)
	}
}

// TestVendored checks that each vendored package is the file that package-lock.json pins, as
// npm installed it: a hand edit, or a version bumped in package.json without running
// scripts/vendor-web, fails here.
func TestVendored(t *testing.T) {
	modules := filepath.Join("..", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, ".package-lock.json")); err != nil {
		testenv.Require(t, "node_modules is not installed (npm ci): %v", err)
	}
	f, err := os.Open("vendor.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, src, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("vendor.txt: %q is not NAME<tab>FILE", line)
		}
		listed[name] = true
		want, err := os.ReadFile(filepath.Join(modules, src))
		if err != nil {
			t.Fatal(err)
		}
		got, err := assets.ReadFile("assets/vendor/" + name)
		if err != nil {
			t.Fatalf("%s is listed but not vendored: run scripts/vendor-web", name)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("assets/vendor/%s differs from node_modules/%s: run scripts/vendor-web", name, src)
		}
	}
	entries, err := assets.ReadDir("assets/vendor")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("assets/vendor/%s is not in vendor.txt", e.Name())
		}
	}
}

// TestPlayerAssets follows the player page's references: every script and stylesheet that
// index.html names and every module that its modules import must be served, as scripts or
// styles, and the page may hold no inline script, which its policy forbids.
func TestPlayerAssets(t *testing.T) {
	page, ok := Lookup("/")
	if !ok {
		t.Fatal("no page at /")
	}
	refRE := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`)
	importRE := regexp.MustCompile(`(?m)^(?:import|export)\b[^'";]*?\bfrom\s+'([^']+)'|^import\s+'([^']+)'`)
	if n, m := strings.Count(string(page.Body), "<script"), len(regexp.MustCompile(`<script[^>]+src="[^"]+"`).FindAll(page.Body, -1)); n != m || n == 0 {
		t.Errorf("index.html has %d scripts, %d of them with a src: inline scripts break the page's policy", n, m)
	}
	want := map[string]bool{} // path: whether it is a module, whose imports are followed
	for _, m := range refRE.FindAllSubmatch(page.Body, -1) {
		want[string(m[1])] = strings.HasSuffix(string(m[1]), ".mjs")
	}
	seen := map[string]bool{}
	for len(want) > 0 {
		for p, module := range want {
			delete(want, p)
			if seen[p] {
				continue
			}
			seen[p] = true
			f, ok := Lookup(p)
			if !ok {
				t.Errorf("%s is referenced but not served", p)
				continue
			}
			if !strings.HasPrefix(f.ContentType, "text/javascript") && !strings.HasPrefix(f.ContentType, "text/css") {
				t.Errorf("%s is served as %s", p, f.ContentType)
			}
			if !module || strings.HasPrefix(p, AssetsPath+"vendor/") {
				continue
			}
			for _, m := range importRE.FindAllStringSubmatch(string(f.Body), -1) {
				spec := m[1] + m[2]
				if !strings.HasPrefix(spec, "/") {
					spec = path.Join(path.Dir(p), spec)
				}
				want[spec] = true
			}
		}
	}
	for _, p := range []string{"/assets/player/app.mjs", "/assets/player/clip.mjs", "/assets/vendor/hls.min.mjs", "/assets/vendor/tus.min.js"} {
		if !seen[p] {
			t.Errorf("the player does not load %s (it loads %v)", p, seen)
		}
	}
}
