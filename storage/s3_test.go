package storage

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

func TestNewS3Unreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := l.Addr().String()
	l.Close() // nothing listens there now

	s, err := NewS3(context.Background(), S3Config{Endpoint: endpoint, Bucket: "videos", AccessKey: "k", SecretKey: "s"})
	if err == nil || s != nil {
		t.Fatalf("NewS3 on a closed port = %v, %v", s, err)
	}
	if want := "storage: s3 endpoint " + endpoint + " unreachable"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestNewS3Config(t *testing.T) {
	for _, cfg := range []S3Config{
		{Endpoint: "127.0.0.1:9"},                                      // no bucket
		{Endpoint: "127.0.0.1:9", Bucket: "Bad_Name"},                  // not a bucket name
		{Endpoint: "127.0.0.1:9", Bucket: "videos", PartSize: 1 << 20}, // part too small
		{Endpoint: "http://127.0.0.1:9/x", Bucket: "videos"},           // not host:port
	} {
		if _, err := NewS3(context.Background(), cfg); err == nil {
			t.Errorf("NewS3(%+v) succeeded", cfg)
		}
	}
}

func TestNewS3Bucket(t *testing.T) {
	srv := testenv.MinIO(t)
	ctx := context.Background()
	cfg := S3Config{Endpoint: srv.Endpoint, Bucket: "no-such-bucket", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1"}
	_, err := NewS3(ctx, cfg)
	if want := `storage: s3 bucket "no-such-bucket" does not exist`; err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.Contains(err.Error(), "reelay store init") {
		t.Errorf("missing bucket: error %v, want %q and how to create it", err, want)
	}

	cfg.Bucket = srv.Bucket(t)
	cfg.SecretKey = "wrong-secret"
	if _, err := NewS3(ctx, cfg); err == nil || !strings.Contains(err.Error(), "REELAY_S3_SECRET_KEY") {
		t.Errorf("NewS3 with a wrong secret key: error %v, want one naming the credentials' variables", err)
	}

	cfg.SecretKey = srv.SecretKey
	cfg.Secure = true // MinIO here speaks plain HTTP
	if _, err := NewS3(ctx, cfg); err == nil || !strings.Contains(err.Error(), "endpoint=http://"+srv.Endpoint) {
		t.Errorf("NewS3 over TLS to a plain HTTP endpoint: error %v, want one saying endpoint=http://", err)
	}
}

// TestInit: Init creates a missing bucket or directory (Open makes a missing directory too),
// once, and Open then works; a second Init finds it there.
func TestInit(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "objects")
	srv := testenv.MinIO(t)
	t.Setenv("REELAY_S3_ACCESS_KEY", srv.AccessKey)
	t.Setenv("REELAY_S3_SECRET_KEY", srv.SecretKey)
	s3URL := "s3://new-bucket-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "?endpoint=http://" + srv.Endpoint + "&region=us-east-1"
	for _, raw := range []string{dir, s3URL} {
		if raw == s3URL {
			if _, err := Open(ctx, raw); err == nil {
				t.Errorf("Open(%q) before Init succeeded", raw)
			}
		}
		for i, want := range []bool{true, false} {
			created, err := Init(ctx, raw)
			if err != nil || created != want {
				t.Errorf("Init(%q) #%d = %v, %v; want %v", raw, i+1, created, err, want)
			}
		}
		s, err := Open(ctx, raw)
		if err != nil {
			t.Fatalf("Open(%q) after Init: %v", raw, err)
		}
		put(t, s, "k", []byte("v"), PutOptions{})
	}
	if _, err := Init(ctx, "s3://videos?endpoint=ftp://x"); err == nil {
		t.Error("Init of a bad URL succeeded")
	}
}

// The conformance suite again, with the keys under a prefix of a shared bucket.
func TestS3Prefix(t *testing.T) {
	srv := testenv.MinIO(t)
	testStore(t, func(t *testing.T) Store { return newTestS3(t, srv, srv.Bucket(t), "tenant/one") })

	ctx := context.Background()
	bucket := srv.Bucket(t)
	whole := newTestS3(t, srv, bucket, "")
	sub := newTestS3(t, srv, bucket, "tenant/one/")
	put(t, whole, "tenant/onex", []byte("not under the prefix"), PutOptions{})
	put(t, sub, "k", []byte("v"), PutOptions{})
	if got, _ := get(t, whole, "tenant/one/k"); string(got) != "v" {
		t.Errorf("tenant/one/k = %q", got)
	}
	if keys := listKeys(t, sub, ""); len(keys) != 1 || keys[0] != "k" {
		t.Errorf("List under the prefix = %q", keys)
	}
	if err := sub.Ping(ctx); err != nil {
		t.Error(err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, raw := range []string{dir, "file://" + dir} {
		s, err := Open(ctx, raw)
		if err != nil {
			t.Fatalf("Open(%q): %v", raw, err)
		}
		if _, ok := s.(*FS); !ok {
			t.Errorf("Open(%q) = %T", raw, s)
		}
	}
	if _, err := Open(ctx, "ftp://x/y"); err == nil {
		t.Error("Open(ftp://x/y) succeeded")
	}

	srv := testenv.MinIO(t)
	t.Setenv("REELAY_S3_ACCESS_KEY", srv.AccessKey)
	t.Setenv("REELAY_S3_SECRET_KEY", srv.SecretKey)
	raw := "s3://" + srv.Bucket(t) + "/p?endpoint=" + srv.Endpoint + "&secure=false&region=us-east-1"
	s, err := Open(ctx, raw)
	if err != nil {
		t.Fatalf("Open(%q): %v", raw, err)
	}
	put(t, s, "k", []byte("v"), PutOptions{})
	if _, err := s.Stat(ctx, "k"); err != nil {
		t.Error(err)
	}
	if _, err := s.Stat(ctx, "p/k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("prefix applied twice? Stat(p/k) = %v", err)
	}
}
