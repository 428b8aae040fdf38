package ingest

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// uploadURL is the URL of upload id, for its Location. It is never built from the Host
// header, which is whatever the client sent:
//   - with Config.PublicURL set, PublicURL + Path + id;
//   - else, when the immediate peer is one of Config.TrustedProxies and forwards the host the
//     client asked for (RFC 7239 Forwarded first, then X-Forwarded-Host), an absolute URL with
//     that host and the forwarded scheme (else the scheme of the connection);
//   - else Path + id alone: a relative reference, which tus 1.0 allows and clients resolve
//     against the URL they sent the POST to (RFC 9110, section 10.2.2), so it names this
//     server under whatever name the client reached it by.
func (h *Handler) uploadURL(r *http.Request, id string) string {
	if h.cfg.PublicURL != "" { // without its trailing slashes (New)
		return h.cfg.PublicURL + Path + id
	}
	if !h.trustedPeer(r.RemoteAddr) {
		return Path + id
	}
	proto, host, ok := parseForwarded(r.Header.Values("Forwarded"))
	if !ok {
		proto = firstValue(r.Header.Get("X-Forwarded-Proto"))
		host = firstValue(r.Header.Get("X-Forwarded-Host"))
	}
	if !validHost(host) {
		return Path + id
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(proto); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + host + Path + id
}

// parsePublicURL checks Config.PublicURL, an http(s) base URL with a host and perhaps a path
// prefix but no user, query or fragment, and returns it without its trailing slashes.
func parsePublicURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !validHost(u.Host) ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("ingest: Config.PublicURL %q is not an http(s) base URL", raw)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// trustedPeer reports whether remoteAddr ("ip:port") is in Config.TrustedProxies.
func (h *Handler) trustedPeer(remoteAddr string) bool {
	if len(h.cfg.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range h.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// firstValue is the first element of a comma-separated header value, trimmed.
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// validHost reports whether h is a host[:port] fit for a URL: a name of letters, digits and
// . - _, or a bracketed IPv6 address, then an optional decimal port. Nothing else passes, so a
// proxy header cannot smuggle user info, a path or another header into a Location.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		ip, err := netip.ParseAddr(h[1:end])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return false
		}
		name, port = "", h[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i:]
		if name == "" {
			return false
		}
	}
	if port != "" && (len(port) < 2 || len(port) > 6 || strings.Trim(port[1:], "0123456789") != "") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseForwarded returns the proto and host parameters of the first element of the RFC 7239
// Forwarded header (given as its field lines), and whether there was a well-formed element.
func parseForwarded(lines []string) (proto, host string, ok bool) {
	if len(lines) == 0 {
		return "", "", false
	}
	s := lines[0]
	for {
		s = strings.TrimLeft(s, " \t")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return "", "", false
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = s[eq+1:]
		var value string
		if strings.HasPrefix(s, `"`) {
			var closed bool
			value, s, closed = unquote(s)
			if !closed {
				return "", "", false
			}
		} else {
			end := strings.IndexAny(s, ";, \t")
			if end < 0 {
				end = len(s)
			}
			value, s = s[:end], s[end:]
		}
		switch name {
		case "proto":
			proto = value
		case "host":
			host = value
		}
		s = strings.TrimLeft(s, " \t")
		if s == "" || s[0] == ',' {
			return proto, host, true
		}
		if s[0] != ';' {
			return "", "", false
		}
		s = s[1:]
	}
}

// unquote reads the RFC 9110 quoted-string at the start of s and returns its value, the rest
// of s, and whether the string was closed.
func unquote(s string) (value, rest string, closed bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return "", "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}
