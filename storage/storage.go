// Package storage is reelay's object store: flat keys mapped to immutable blobs, kept either in a
// local directory (FS) or in any S3-compatible service (S3, through minio-go).
//
// Keys are slash-separated paths such as "videos/abc/720p/seg_00001.m4s"; ValidateKey says which
// are allowed, and every method refuses other keys with ErrInvalidKey before touching disk or
// network. Writes are atomic: a reader sees the old object or the whole new one, never a part.
//
// Open builds a store from a URL:
//
//	file:///var/lib/reelay/objects                    a local directory (a plain path works too)
//	s3://bucket/optional/prefix?endpoint=http://host:9000&region=us-east-1
//
// An S3 endpoint is host[:port], by default s3.amazonaws.com, spoken to over TLS (https) unless
// it says http:// (a MinIO on a private network). secure=false is the older way to say plain
// HTTP; it may not contradict the endpoint's scheme. The bucket must exist: Init creates it
// (reelay store init).
//
// S3 credentials come from REELAY_S3_ACCESS_KEY and REELAY_S3_SECRET_KEY, or else from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Store is an object store. Implementations are safe for concurrent use.
type Store interface {
	// Put writes the object atomically: readers see the old object or the whole new one, never
	// part. size may be -1 if unknown; otherwise r must yield exactly size bytes.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Info, error)
	// Get opens the whole object. The caller must close the body; it keeps reading the object
	// it opened even if the key is overwritten or deleted meanwhile.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// GetRange reads length bytes from offset; length -1 means to the end, and a length past the
	// end is cut at the end. Offset at or beyond the size (so any range of an empty object),
	// a negative offset, or a length of 0 or below -1 is ErrInvalidRange. Info describes the
	// whole object: Info.Size is the object's size, not the range's.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error)
	// Stat returns the object's Info without its body.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in key order (bytewise).
	// The prefix is a plain string prefix, as in S3: "videos/a" matches "videos/a/x" and
	// "videos/ab"; use "videos/a/" for one "directory". It stops at fn's first error and
	// returns it. List fills Key, Size, ETag and ModTime; ContentType and CacheControl may be
	// empty (S3 listings do not carry them).
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Ping reports whether the store is usable, for readiness checks.
	Ping(ctx context.Context) error
}

// PutOptions are the metadata stored with an object.
type PutOptions struct {
	// ContentType is served as Content-Type; empty means DefaultContentType.
	ContentType string
	// CacheControl is served as Cache-Control; empty means none.
	CacheControl string
}

// Info describes a stored object.
type Info struct {
	Key          string // the key as given to the store, without any S3Config.Prefix
	Size         int64  // the whole object's size in bytes
	ContentType  string // as stored by Put (DefaultContentType if none was given)
	CacheControl string // as stored by Put, or ""
	// ETag is a strong validator in HTTP form, quoted ("\"9e107d9d372bb6826bd81d3542a419d6\"").
	// It changes whenever the content changes. It is the MD5 of the content for objects written in
	// one piece, but not for S3 multipart uploads: treat it as opaque.
	ETag string
	// ModTime is when the object was written. Put may leave it zero when the store does not
	// report it on write.
	ModTime time.Time
}

// DefaultContentType is the content type of objects stored without one.
const DefaultContentType = "application/octet-stream"

// MaxKeyLen is the longest key allowed, in bytes (the S3 limit).
const MaxKeyLen = 1024

// Errors returned by stores, wrapped with the key; match them with errors.Is.
var (
	// ErrNotFound: no object has this key.
	ErrNotFound = errors.New("storage: object not found")
	// ErrInvalidKey: the key (or List prefix) is refused by ValidateKey.
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrInvalidRange: the range asked of GetRange cannot be satisfied.
	ErrInvalidRange = errors.New("storage: invalid range")
)

// ValidateKey returns an error wrapping ErrInvalidKey unless key is non-empty, at most MaxKeyLen
// bytes of valid UTF-8 without control characters or backslashes, and a relative slash-separated
// path whose elements are neither empty nor "." nor ".." (so no leading, trailing or doubled "/").
// Such a key joined under a directory always stays inside it.
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.ContainsRune(key, '\\'):
		return bad("contains a backslash")
	case strings.IndexFunc(key, unicode.IsControl) >= 0:
		return bad("contains a control character")
	}
	for elem := range strings.SplitSeq(key, "/") {
		switch elem {
		case "":
			return bad(`empty path element (leading, trailing or doubled "/")`)
		case ".", "..":
			return bad(fmt.Sprintf("%q path element", elem))
		}
	}
	return nil
}

// validatePrefix checks a List prefix: "" (everything) or the start of some valid key, so that
// "videos/" and "videos/a" are allowed but "/videos", "a//" and "../" are not.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidateKey(prefix + "x"); err != nil {
		return fmt.Errorf("%w %q: not the start of a valid key", ErrInvalidKey, prefix)
	}
	return nil
}

// checkRange validates a GetRange request against an object of the given size and returns the
// number of bytes to read.
func checkRange(key string, size, offset, length int64) (int64, error) {
	if offset < 0 || offset >= size || length == 0 || length < -1 {
		return 0, fmt.Errorf("%w: offset %d length %d of %q (size %d)", ErrInvalidRange, offset, length, key, size)
	}
	if length == -1 || length > size-offset {
		return size - offset, nil
	}
	return length, nil
}

// Open returns the store described by rawURL (see the package comment). Credentials for S3 come
// from the environment.
func Open(ctx context.Context, rawURL string) (Store, error) {
	sp, err := parseURL(rawURL, os.Getenv)
	if err != nil {
		return nil, err
	}
	if sp.s3 != nil {
		return NewS3(ctx, *sp.s3)
	}
	return NewFS(sp.root)
}

// Init makes the store that rawURL names ready for Open: it creates the S3 bucket or the
// directory if missing. It reports whether it created one.
func Init(ctx context.Context, rawURL string) (created bool, err error) {
	sp, err := parseURL(rawURL, os.Getenv)
	if err != nil {
		return false, err
	}
	if sp.s3 != nil {
		return InitS3(ctx, *sp.s3)
	}
	_, missing := os.Stat(sp.root)
	if _, err := NewFS(sp.root); err != nil { // makes the directories
		return false, err
	}
	return errors.Is(missing, fs.ErrNotExist), nil
}

// spec is a parsed store URL: a directory (root) or an S3 bucket (s3 non-nil).
type spec struct {
	root string
	s3   *S3Config
}

// parseURL parses a store URL, reading S3 credentials through getenv. A string without "://"
// is a directory path.
func parseURL(raw string, getenv func(string) string) (spec, error) {
	if raw == "" {
		return spec{}, errors.New("storage: empty store URL")
	}
	if !strings.Contains(raw, "://") {
		return spec{root: filepath.Clean(raw)}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return spec{}, fmt.Errorf("storage: store URL: %w", err)
	}
	bad := func(format string, args ...any) (spec, error) {
		return spec{}, fmt.Errorf("storage: store URL %q: %s", raw, fmt.Sprintf(format, args...))
	}
	if u.User != nil {
		return bad("credentials in the URL are not accepted; set REELAY_S3_ACCESS_KEY and REELAY_S3_SECRET_KEY")
	}
	if u.Fragment != "" || u.Opaque != "" {
		return bad("unexpected fragment or opaque part")
	}
	q := u.Query()
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return bad("file URLs take an absolute path: file:///path/to/dir")
		}
		if len(q) > 0 || u.ForceQuery {
			return bad("file URLs take no query parameters")
		}
		if !strings.HasPrefix(u.Path, "/") {
			return bad("file URLs take an absolute path: file:///path/to/dir")
		}
		return spec{root: filepath.Clean(u.Path)}, nil
	case "s3":
		if err := s3utils.CheckValidBucketNameStrict(u.Host); err != nil {
			return bad("bucket %q: %v", u.Host, err)
		}
		cfg := S3Config{Bucket: u.Host, Endpoint: "s3.amazonaws.com", Secure: true}
		var endpointScheme string // "", http or https
		var secure *bool          // secure=, if given
		if p := strings.Trim(u.Path, "/"); p != "" {
			if err := ValidateKey(p); err != nil {
				return bad("prefix: %v", err)
			}
			cfg.Prefix = p + "/"
		}
		for name, vals := range q {
			if len(vals) != 1 {
				return bad("parameter %q given %d times", name, len(vals))
			}
			v := vals[0]
			switch name {
			case "endpoint":
				scheme, host, ok := strings.Cut(v, "://")
				if !ok {
					scheme, host = "", v
				}
				if host == "" || strings.ContainsAny(host, "/?#@ ") || (ok && scheme != "http" && scheme != "https") {
					return bad("endpoint must be host[:port], http://host[:port] or https://host[:port], got %q", v)
				}
				cfg.Endpoint = host
				if ok {
					endpointScheme = scheme
				}
			case "secure":
				b, err := strconv.ParseBool(v)
				if err != nil {
					return bad("secure must be true or false, got %q", v)
				}
				secure = &b
			case "region":
				cfg.Region = v
			default:
				return bad("unknown parameter %q (known: endpoint, secure, region)", name)
			}
		}
		switch {
		case secure != nil && endpointScheme != "" && *secure != (endpointScheme == "https"):
			return bad("secure=%t contradicts the endpoint's scheme %s://; drop secure", *secure, endpointScheme)
		case secure != nil:
			cfg.Secure = *secure
		case endpointScheme != "":
			cfg.Secure = endpointScheme == "https"
		}
		cfg.AccessKey, cfg.SecretKey = getenv("REELAY_S3_ACCESS_KEY"), getenv("REELAY_S3_SECRET_KEY")
		if cfg.AccessKey == "" {
			cfg.AccessKey, cfg.SecretKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
		}
		return spec{s3: &cfg}, nil
	default:
		return bad("unknown scheme %q (known: file, s3)", u.Scheme)
	}
}
