package ratelimit

import "net/netip"

// Addr is the key under which a client address is limited: an IPv4 address itself, and an
// IPv6 address its /64, the smallest network handed to one subscriber, in which every host
// picks as many addresses as it likes (privacy addresses, RFC 8981). Keyed by address, one
// client would get 2^64 buckets. remoteAddr is "ip:port" (http.Request.RemoteAddr) or a bare
// address; an IPv4-mapped IPv6 address counts as its IPv4 address. What is not an address at
// all is its own key.
func Addr(remoteAddr string) string {
	ip, err := netip.ParseAddr(remoteAddr)
	if err != nil {
		ap, err := netip.ParseAddrPort(remoteAddr)
		if err != nil {
			return remoteAddr
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
