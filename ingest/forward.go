package ingest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/videoid"
)

// forwardedHeader marks a request that one node passed to the node staging its upload, with
// that node's URL as the sender believed it: a node that receives one for an upload staged
// elsewhere answers 502 rather than passing it on again (two nodes that disagree about a
// node's URL would otherwise pass it round for ever).
const forwardedHeader = "Reelay-Upload-Node"

// forward passes a request for an upload staged on another node (Config.NodeURL) to that
// node, whose answer it relays, and reports whether it did. The upload's bytes stay on the
// node that created it, so the chunks of one upload may reach any node behind a plain
// round-robin balancer: the node that has the bytes writes them, and the tus locks stay in
// one process. The other node checks the token itself. A node that does not answer makes the
// request fail with 502 (upload_node_unavailable), which tus clients retry.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.NodeURL == "" || r.Method == http.MethodOptions || r.Method == http.MethodPost && r.Header.Get("X-HTTP-Method-Override") == "" {
		return false
	}
	id, ok := splitPath(r.URL.Path)
	if !ok || !videoid.Valid(id) {
		return false
	}
	u, err := h.uploads.get(r.Context(), id)
	if err != nil || u.Node == "" || u.Node == h.cfg.NodeURL {
		return false // served here, which answers what a failed read means
	}
	if sent := r.Header.Get(forwardedHeader); sent != "" {
		w.Header().Set("Tus-Resumable", tusVersion)
		apierr.Write(w, r, h.log, &apierr.Error{Status: http.StatusBadGateway, Code: "upload_node_misconfigured",
			Message: "the API nodes disagree about which node stages this upload",
			Err:     fmt.Errorf("upload %s is staged on %s; a node sent it here as %s: check each node's URL setting", id, u.Node, sent)})
		return true
	}
	target, err := url.Parse(u.Node)
	if err != nil {
		return false // parsed before it was stored
	}
	h.m.forwarded.Inc()
	// A client that stalls mid-chunk loses its connection here after ChunkIdleTimeout, as on
	// the staging node, rather than holding both until that node gives up.
	body := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: h.cfg.ChunkIdleTimeout}
	r.Body = body
	defer body.done()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path, pr.Out.URL.RawPath = r.URL.Path, r.URL.RawPath // SetURL would join the base path
			pr.Out.Header.Set(forwardedHeader, u.Node)
		},
		Transport: h.peers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log := h.log
			if r.Context().Err() != nil {
				log = nil // the client went away
			}
			w.Header().Set("Tus-Resumable", tusVersion)
			apierr.Write(w, r, log, &apierr.Error{Status: http.StatusBadGateway, Code: "upload_node_unavailable",
				Message: "the API node that stages this upload does not answer; try again later", Err: fmt.Errorf("upload %s on %s: %w", id, u.Node, err)})
		},
	}
	proxy.ServeHTTP(w, r)
	return true
}

// idleBody is a request body whose every read must make progress within idle: it moves the
// connection's read deadline as the bytes come (at most every tenth of idle, like copyBody).
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	set  time.Time   // when the deadline was last moved
	off  bool        // deadlines are not supported
	eof  atomic.Bool // the body was read to its end (the proxy reads it on a goroutine of its own)
}

func (b *idleBody) Read(p []byte) (int, error) {
	if now := time.Now(); !b.off && now.Sub(b.set) >= b.idle/10 {
		b.set = now
		b.off = b.rc.SetReadDeadline(now.Add(b.idle)) != nil
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// done clears the deadline once the whole body has been read, for the connection's next
// request; a body that broke off keeps it, so that the server's reading of what is left of it
// cannot hang either.
func (b *idleBody) done() {
	if b.eof.Load() {
		b.rc.SetReadDeadline(time.Time{})
	}
}

// parseNodeURL checks Config.NodeURL: an http(s) URL of a host, without a path.
func parseNodeURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("ingest: Config.NodeURL %q is not an http(s) URL of a host, such as http://10.0.0.1:8080", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}
