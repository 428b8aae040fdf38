package cluster

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
)

var metaCases = []struct {
	name string
	in   string
	want wireMeta
	ok   bool
}{
	{"empty", ``, wireMeta{}, true},
	{"empty object", `{}`, wireMeta{}, true},
	{"null", `null`, wireMeta{}, true},
	{"all", `{"http":"127.0.0.1:8081","cap":1073741824,"leaving":true}`, wireMeta{NodeMeta{"127.0.0.1:8081", 1 << 30}, true}, true},
	{"IPv6", `{"http":"[::1]:8081"}`, wireMeta{NodeMeta: NodeMeta{HTTPAddr: "[::1]:8081"}}, true},
	{"host name", `{"http":"edge-a.pop1.internal:80"}`, wireMeta{NodeMeta: NodeMeta{HTTPAddr: "edge-a.pop1.internal:80"}}, true},
	{"unknown field of a later version", `{"http":"10.0.0.5:8080","zone":"b"}`, wireMeta{NodeMeta: NodeMeta{HTTPAddr: "10.0.0.5:8080"}}, true},
	{"not JSON", `edge`, wireMeta{}, false},
	{"two objects", `{}{}`, wireMeta{}, false},
	{"array", `[]`, wireMeta{}, false},
	{"capacity a string", `{"cap":"1"}`, wireMeta{}, false},
	{"negative capacity", `{"cap":-1}`, wireMeta{}, false},
	{"no port", `{"http":"127.0.0.1"}`, wireMeta{}, false},
	{"port 0", `{"http":"127.0.0.1:0"}`, wireMeta{}, false},
	{"port too large", `{"http":"127.0.0.1:65536"}`, wireMeta{}, false},
	{"port with a leading zero", `{"http":"127.0.0.1:080"}`, wireMeta{}, false},
	{"no host", `{"http":":8080"}`, wireMeta{}, false},
	{"IPv6 without brackets", `{"http":"::1:8080"}`, wireMeta{}, false},
	{"IPv6 with a zone", `{"http":"[fe80::1%eth0]:8080"}`, wireMeta{}, false},
	{"path", `{"http":"evil.example/x:80"}`, wireMeta{}, false},
	{"user info", `{"http":"user@evil.example:80"}`, wireMeta{}, false},
	{"space", `{"http":"edge a:80"}`, wireMeta{}, false},
	{"label ending in a hyphen", `{"http":"edge-.internal:80"}`, wireMeta{}, false},
}

func TestDecodeMeta(t *testing.T) {
	for _, tc := range metaCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeMeta([]byte(tc.in))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("decodeMeta(%q) = %+v, %v; want %+v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, errBadMeta) {
				t.Errorf("error %v does not wrap errBadMeta", err)
			}
		})
	}
}

// FuzzDecodeMeta checks that metadata another node sends either is refused, or names an HTTP
// address that a fill URL can be built on, and survives encoding again.
func FuzzDecodeMeta(f *testing.F) {
	for _, tc := range metaCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			if m != (wireMeta{}) {
				t.Fatalf("refused %q but returned %+v", b, m)
			}
			return
		}
		if m.CapacityBytes < 0 {
			t.Fatalf("accepted %q with capacity %d", b, m.CapacityBytes)
		}
		if m.HTTPAddr != "" {
			u, err := url.Parse("http://" + m.HTTPAddr + "/v/x/master.m3u8")
			if err != nil || u.Host != m.HTTPAddr || u.Path != "/v/x/master.m3u8" || u.User != nil || u.Port() == "" {
				t.Fatalf("accepted %q with HTTP address %q, which a fill URL cannot stand: %v", b, m.HTTPAddr, err)
			}
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if m2, err := decodeMeta(again); err != nil || m2 != m {
			t.Fatalf("%q decoded as %+v, encoded as %s, decoded again as %+v, %v", b, m, again, m2, err)
		}
	})
}
