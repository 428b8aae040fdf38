package storage

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

var reelayEnv = map[string]string{
	"REELAY_S3_ACCESS_KEY": "rk", "REELAY_S3_SECRET_KEY": "rs",
	"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "as",
}

var parseURLTests = []struct {
	raw     string
	env     map[string]string
	want    spec
	wantErr string // a part of the error
}{
	{raw: "/var/lib/reelay", want: spec{root: "/var/lib/reelay"}},
	{raw: "data/objects/", want: spec{root: "data/objects"}},
	{raw: "file:///var/lib/reelay/", want: spec{root: "/var/lib/reelay"}},
	{raw: "file://localhost/srv/x", want: spec{root: "/srv/x"}},
	{raw: "file:///a%20b", want: spec{root: "/a b"}},
	{raw: "s3://videos", env: reelayEnv, want: spec{s3: &S3Config{
		Endpoint: "s3.amazonaws.com", Bucket: "videos", AccessKey: "rk", SecretKey: "rs", Secure: true}}},
	{raw: "s3://videos/a/b/?endpoint=127.0.0.1:9000&secure=false&region=us-east-1",
		env: map[string]string{"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "as"},
		want: spec{s3: &S3Config{Endpoint: "127.0.0.1:9000", Bucket: "videos", Prefix: "a/b/",
			AccessKey: "ak", SecretKey: "as", Region: "us-east-1"}}},
	{raw: "s3://videos?endpoint=minio.internal", want: spec{s3: &S3Config{
		Endpoint: "minio.internal", Bucket: "videos", Secure: true}}},

	{raw: "", wantErr: "empty store URL"},
	{raw: "file://host/x", wantErr: "absolute path"},
	{raw: "file://", wantErr: "absolute path"},
	{raw: "file:///x?sync=1", wantErr: "no query parameters"},
	{raw: "s3://videos?part=5", wantErr: `unknown parameter "part"`},
	{raw: "s3://videos?secure=maybe", wantErr: "secure must be true or false"},
	{raw: "s3://videos?endpoint=http://x:9000", want: spec{s3: &S3Config{Endpoint: "x:9000", Bucket: "videos"}}},
	{raw: "s3://videos?endpoint=https://x:9000", want: spec{s3: &S3Config{Endpoint: "x:9000", Bucket: "videos", Secure: true}}},
	{raw: "s3://videos?endpoint=http://x&secure=false", want: spec{s3: &S3Config{Endpoint: "x", Bucket: "videos"}}},
	{raw: "s3://videos?secure=false", want: spec{s3: &S3Config{Endpoint: "s3.amazonaws.com", Bucket: "videos"}}},
	{raw: "s3://videos?endpoint=http://x&secure=true", wantErr: "contradicts the endpoint's scheme http://"},
	{raw: "s3://videos?endpoint=https://x&secure=0", wantErr: "contradicts the endpoint's scheme https://"},
	{raw: "s3://videos?endpoint=ftp://x:9000", wantErr: "endpoint must be host[:port], http://host[:port] or https://host[:port]"},
	{raw: "s3://videos?endpoint=http://x/path", wantErr: "endpoint must be host[:port]"},
	{raw: "s3://videos?endpoint=http://", wantErr: "endpoint must be host[:port]"},
	{raw: "s3://videos?endpoint=", wantErr: "endpoint must be host[:port]"},
	{raw: "s3://videos?region=a&region=b", wantErr: "given 2 times"},
	{raw: "s3://key:secret@videos", wantErr: "credentials in the URL"},
	{raw: "s3://Bad_Bucket", wantErr: "bucket"},
	{raw: "s3:///prefix", wantErr: "bucket"},
	{raw: "s3://videos/a/../b", wantErr: "prefix"},
	{raw: "s3://videos/a//b", wantErr: "prefix"},
	{raw: "s3://videos#x", wantErr: "fragment"},
	{raw: "gs://videos", wantErr: `unknown scheme "gs"`},
	{raw: "http://host/x", wantErr: `unknown scheme "http"`},
	{raw: "s3://vid eos", wantErr: "store URL"},
}

func TestParseURL(t *testing.T) {
	for _, tc := range parseURLTests {
		got, err := parseURL(tc.raw, func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseURL(%q) error = %v, want one containing %q", tc.raw, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseURL(%q): %v", tc.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseURL(%q) = %+v %+v, want %+v %+v", tc.raw, got, got.s3, tc.want, tc.want.s3)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, tc := range parseURLTests {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		sp, err := parseURL(raw, func(k string) string { return reelayEnv[k] })
		if err != nil {
			return
		}
		switch {
		case sp.s3 == nil:
			if sp.root == "" || filepath.Clean(sp.root) != sp.root {
				t.Errorf("parseURL(%q): root %q", raw, sp.root)
			}
		case sp.root != "":
			t.Errorf("parseURL(%q): both a root and S3", raw)
		default:
			c := sp.s3
			if s3utils.CheckValidBucketNameStrict(c.Bucket) != nil || c.Endpoint == "" || strings.ContainsAny(c.Endpoint, "/@") ||
				c.AccessKey != "rk" || c.SecretKey != "rs" || c.PartSize != 0 {
				t.Errorf("parseURL(%q) = %+v", raw, *c)
			}
			if p, ok := strings.CutSuffix(c.Prefix, "/"); c.Prefix != "" && (!ok || ValidateKey(p) != nil) {
				t.Errorf("parseURL(%q): prefix %q", raw, c.Prefix)
			}
		}
	})
}

var validateKeyTests = []struct {
	key string
	ok  bool
}{
	{"videos/abc/720p/seg_00001.m4s", true},
	{"a", true},
	{"..x/y..", true},
	{".hidden", true},
	{"vidéo/✓", true},
	{strings.Repeat("k", MaxKeyLen), true},
	{"", false},
	{"/abs", false},
	{"a/../b", false},
	{"..", false},
	{".", false},
	{"a/.", false},
	{"a//b", false},
	{"a/", false},
	{"a\x00b", false},
	{"a\nb", false},
	{"a\x7fb", false},
	{"a\u0085b", false},
	{"a\\b", false},
	{"\xff", false},
	{strings.Repeat("k", MaxKeyLen+1), false},
}

func TestValidateKey(t *testing.T) {
	for _, tc := range validateKeyTests {
		err := ValidateKey(tc.key)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, tc := range validateKeyTests {
		f.Add(tc.key)
	}
	root := filepath.FromSlash("/srv/reelay/objects")
	f.Fuzz(func(t *testing.T, key string) {
		if err := ValidateKey(key); err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("ValidateKey(%q) = %v, not ErrInvalidKey", key, err)
			}
			return
		}
		for elem := range strings.SplitSeq(key, "/") {
			if elem == ".." || elem == "." || elem == "" {
				t.Errorf("accepted %q with element %q", key, elem)
			}
		}
		if strings.ContainsAny(key, "\x00\\") || strings.HasPrefix(key, "/") || !utf8.ValidString(key) || len(key) > MaxKeyLen {
			t.Errorf("accepted %q", key)
		}
		// Under a root, the key names exactly itself: nothing is cleaned away, nothing escapes.
		if p := filepath.Join(root, key); p != root+string(filepath.Separator)+filepath.FromSlash(key) {
			t.Errorf("key %q joins to %q", key, p)
		}
	})
}
