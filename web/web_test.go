package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
