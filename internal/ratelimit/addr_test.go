package ratelimit

import (
	"net/netip"
	"testing"
)

var addrCases = []struct{ in, want string }{
	{"192.0.2.1:1234", "192.0.2.1"},
	{"192.0.2.1", "192.0.2.1"},
	{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
	{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::/64"},
	{"[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"},
	{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
	{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
	{"[fe80::1%eth0]:80", "fe80::/64"},
	{"[::1]:80", "::/64"},
	{"@", "@"},
	{"", ""},
}

func TestAddr(t *testing.T) {
	for _, tc := range addrCases {
		if got := Addr(tc.in); got != tc.want {
			t.Errorf("Addr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzAddr checks that every IPv4 address is its own key, and that two IPv6 addresses share
// a key exactly when they share their first 64 bits.
func FuzzAddr(f *testing.F) {
	for _, tc := range addrCases {
		f.Add(tc.in, uint64(1))
	}
	f.Fuzz(func(t *testing.T, in string, low uint64) {
		key := Addr(in)
		ap, err := netip.ParseAddrPort(in)
		if err != nil {
			return
		}
		ip := ap.Addr().Unmap()
		if ip.Is4() {
			if key != ip.String() {
				t.Fatalf("Addr(%q) = %q", in, key)
			}
			return
		}
		p, err := netip.ParsePrefix(key)
		if err != nil || p.Bits() != 64 || !p.Contains(ip.WithZone("")) {
			t.Fatalf("Addr(%q) = %q, not the address's /64", in, key)
		}
		b := ip.As16()
		for i := range 8 {
			b[15-i] = byte(low >> (8 * i))
		}
		// (::ffff:0:0/96, in ::/64, is IPv4's, and each address there is its own key.)
		if other := netip.AddrFrom16(b); !other.Is4In6() && Addr(netip.AddrPortFrom(other, 1).String()) != key {
			t.Fatalf("%s and %s, in one /64, have different keys", in, other)
		}
		b[7] ^= 1
		if other := netip.AddrFrom16(b); Addr(netip.AddrPortFrom(other, 1).String()) == key {
			t.Fatalf("%s and %s, in different /64s, share a key", in, other)
		}
	})
}
