// Package web holds reelay's pages, embedded in the binary: the swipe player at / and the
// operator dashboard at /dashboard, with their scripts and styles under /assets/. The front-end
// packages they use (hls.js, tus-js-client, uPlot, Preact with htm) are vendored from npm into
// assets/vendor (see vendor.txt); nothing is fetched from another origin, so the pages work
// offline.
//
// The API listener serves Handler; the edge, which speaks fasthttp, serves the same files
// through Lookup. The dashboard's data on the API listener is Dashboard's (NewDashboard, at
// DashboardPath); on an edge, the edge's own GET /_edge/cluster.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/reelay/reelay/internal/apierr"
)

//go:embed assets
var assets embed.FS

// AssetsPath is the URL prefix of the pages' scripts, styles and vendored packages.
const AssetsPath = "/assets/"

// File is one embedded file, ready to serve.
type File struct {
	Body        []byte
	ContentType string
	// ETag is a strong validator of Body. Files are served with Cache-Control: no-cache, so
	// a browser revalidates them and a new binary's files are used at once.
	ETag string
}

// pages maps the paths of the pages to their files in assets.
var pages = map[string]string{
	"/":          "assets/player/index.html",
	"/dashboard": "assets/dashboard/index.html",
}

// Lookup returns the file served at urlPath: a page, or an asset under AssetsPath. ok is false
// for any other path.
func Lookup(urlPath string) (f File, ok bool) {
	name, ok := pages[urlPath]
	if !ok {
		rest, isAsset := strings.CutPrefix(urlPath, AssetsPath)
		if !isAsset || rest == "" || !fs.ValidPath(rest) {
			return File{}, false
		}
		name = "assets/" + rest
	}
	body, err := assets.ReadFile(name)
	if err != nil {
		return File{}, false
	}
	ct := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // the system's MIME table may not know them
	case ".mjs", ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".html":
		ct = "text/html; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	sum := sha256.Sum256(body)
	return File{Body: body, ContentType: ct, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}, true
}

// Handler serves the pages and their assets for GET and HEAD, and answers 404 (a JSON error)
// for any other path, so that it can be mounted at / under more specific routes.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := Lookup(r.URL.Path)
		if !ok {
			apierr.Write(w, r, nil, apierr.New(http.StatusNotFound, "not_found", "no such page"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			apierr.Write(w, r, nil, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "pages answer GET and HEAD"))
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ContentType)
		h.Set("ETag", f.ETag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(f.ContentType, "html; charset=utf-8") {
			h.Set("Content-Security-Policy", ContentSecurityPolicy)
			h.Set("X-Frame-Options", "DENY")
		}
		// ServeContent answers If-None-Match against the ETag set above, and ranges.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.Body))
	})
}

// ContentSecurityPolicy is the policy of every page: scripts, styles and frames from the
// page's own origin only; media, images and API calls (to the edges and the API) from anywhere.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src * data: blob:; media-src * blob:; connect-src *; worker-src 'self' blob:; frame-ancestors 'none'"
