package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// NodeMeta is what a node tells the others about itself, carried by gossip as node metadata.
type NodeMeta struct {
	// HTTPAddr is the host:port the node's edge server answers the other nodes' fills at: an
	// IP address or a host name, and a port from 1 to 65535. Empty means the node takes no
	// fills from the others.
	HTTPAddr string `json:"http,omitempty"`
	// CapacityBytes is the node's cache capacity, not negative. The ring gives each live node
	// a share of the keys and of the load proportional to it; a node that advertises none (0)
	// counts as one of average capacity, and when none advertises one all are equal.
	CapacityBytes int64 `json:"cap,omitempty"`
}

// wireMeta is the node metadata as gossiped.
type wireMeta struct {
	NodeMeta
	// Leaving is set by Leave before it announces the departure, so that the other nodes
	// stop giving keys to the node at once and can tell a departure from a failure.
	Leaving bool `json:"leaving,omitempty"`
}

// errBadMeta is wrapped by the errors of metadata that a node may not advertise.
var errBadMeta = errors.New("bad node metadata")

// decodeMeta decodes the metadata another node gossips: one JSON object (empty metadata is
// all defaults), whose fields unknown to this version are ignored, and that NodeMeta.validate
// accepts. The nodes of a cluster trust each other, but a node's metadata ends up in the URLs
// of fills: what cannot stand in one is refused, and the node owns no keys.
func decodeMeta(b []byte) (wireMeta, error) {
	var m wireMeta
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return wireMeta{}, fmt.Errorf("%w: %w", errBadMeta, err)
	}
	if err := m.validate(); err != nil {
		return wireMeta{}, err
	}
	return m, nil
}

// validate checks what a node may advertise: see NodeMeta's fields.
func (m NodeMeta) validate() error {
	if m.CapacityBytes < 0 {
		return fmt.Errorf("%w: CapacityBytes %d", errBadMeta, m.CapacityBytes)
	}
	if m.HTTPAddr != "" && !validHostPort(m.HTTPAddr) {
		return fmt.Errorf("%w: HTTPAddr %q is not host:port", errBadMeta, m.HTTPAddr)
	}
	return nil
}

// validHostPort reports whether s is an IP address (IPv6 in brackets) or a host name, then a
// port from 1 to 65535, written as "http://" + s + path needs it.
func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	host, port := s[:i], s[i+1:]
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
		return false
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		return err == nil && a.Is6() && a.Zone() == ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Is4()
	}
	return validHostName(host)
}

// validHostName reports whether s is a DNS name: dot-separated labels of letters, digits and
// inner hyphens, 63 bytes at most each and 253 in all.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
