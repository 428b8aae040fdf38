package storage

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3Config says where an S3 store keeps its objects.
type S3Config struct {
	// Endpoint is the service's host or host:port. Default "s3.amazonaws.com".
	Endpoint string
	// Bucket holds the objects; it must exist (InitS3 creates it). Required.
	Bucket string
	// Prefix is prepended to every key, so that several stores can share a bucket; a "/" is
	// added if it does not end with one. Default "": keys are object names.
	Prefix string
	// AccessKey and SecretKey sign the requests. Default "": anonymous requests.
	AccessKey, SecretKey string
	// Region is the bucket's region. Default "": asked of the service (one extra request).
	Region string
	// Secure speaks TLS (https) to the endpoint. The zero value speaks plain HTTP, as to a
	// MinIO on a private network; a store URL (Open) speaks TLS unless its endpoint says
	// http:// or it has secure=false.
	Secure bool
	// PartSize is the part size of multipart uploads, used for objects larger than it and for
	// objects of unknown size (which buffer one part in memory). At least 5 MiB. Default 16 MiB.
	PartSize uint64
}

// DefaultPartSize is the default S3Config.PartSize.
const DefaultPartSize = 16 << 20

// s3CheckTimeout bounds the checks that NewS3 makes.
const s3CheckTimeout = 10 * time.Second

// S3 is a Store in an S3 bucket. PUT is atomic in S3, and so is a completed multipart upload.
//
// MinIO holds a read lock on an object while it streams it (unless the object is small enough
// to be stored inline, about 128 KiB): a Put or Delete of that key waits for open bodies to be
// read or closed, and after MinIO's lock timeout (30 s) the stalled body ends in an error. Read
// bodies promptly and close them.
type S3 struct {
	cfg    S3Config
	client *minio.Client
	core   minio.Core // for eager GETs that return the response headers
}

var _ Store = (*S3)(nil)

// NewS3 returns a store for cfg after checking that the endpoint answers and the bucket exists.
// Its errors say which setting of the store URL (Open) to fix.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	cfg, client, probe, err := s3Clients(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s3CheckTimeout)
	defer cancel()
	ok, err := probe.BucketExists(ctx, cfg.Bucket)
	switch {
	case err != nil:
		return nil, s3CheckError(cfg, err)
	case !ok:
		return nil, fmt.Errorf("storage: s3 bucket %q does not exist at %s; create it with `reelay store init --store URL` "+
			"(or check the bucket, the host of the s3:// URL)", cfg.Bucket, cfg.Endpoint)
	}
	return &S3{cfg: cfg, client: client, core: minio.Core{Client: client}}, nil
}

// InitS3 creates cfg's bucket, in cfg.Region if set, unless it exists. It reports whether it
// created it.
func InitS3(ctx context.Context, cfg S3Config) (created bool, err error) {
	cfg, _, probe, err := s3Clients(cfg)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s3CheckTimeout)
	defer cancel()
	ok, err := probe.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return false, s3CheckError(cfg, err)
	}
	if ok {
		return false, nil
	}
	if err := probe.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
		code := minio.ToErrorResponse(err).Code
		if code == "BucketAlreadyOwnedByYou" { // made meanwhile by another init
			return false, nil
		}
		return false, fmt.Errorf("storage: s3 creating bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, s3CheckError(cfg, err))
	}
	return true, nil
}

// s3Clients checks cfg, fills in its defaults and returns a client for the store and a probe
// that tries each request once: minio-go's retries would turn a dead endpoint into a long wait.
func s3Clients(cfg S3Config) (S3Config, *minio.Client, *minio.Client, error) {
	cfg.Endpoint = cmp.Or(cfg.Endpoint, "s3.amazonaws.com")
	cfg.PartSize = cmp.Or(cfg.PartSize, DefaultPartSize)
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return cfg, nil, nil, fmt.Errorf("storage: s3 bucket %q: %w", cfg.Bucket, err)
	}
	if cfg.PartSize < 5<<20 {
		return cfg, nil, nil, fmt.Errorf("storage: s3 part size %d is below the S3 minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	opts := minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
	}
	client, err := minio.New(cfg.Endpoint, &opts)
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("storage: s3 endpoint %s: %w (endpoint= in the store URL)", cfg.Endpoint, err)
	}
	opts.MaxRetries = 1
	probe, err := minio.New(cfg.Endpoint, &opts)
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("storage: s3 endpoint %s: %w (endpoint= in the store URL)", cfg.Endpoint, err)
	}
	return cfg, client, probe, nil
}

// s3CheckError explains an error of NewS3's or InitS3's first request, naming the setting of
// the store URL, or the variable, that would fix it.
func s3CheckError(cfg S3Config, err error) error {
	scheme := map[bool]string{true: "https", false: "http"}[cfg.Secure]
	msg := err.Error()
	var hint string
	switch code := minio.ToErrorResponse(err).Code; {
	case strings.Contains(msg, "HTTP response to HTTPS client"):
		hint = "the endpoint speaks plain HTTP, not TLS: write endpoint=http://" + cfg.Endpoint + " in the store URL"
	case strings.Contains(msg, "first record does not look like a TLS handshake") ||
		strings.Contains(msg, "malformed HTTP response"):
		hint = "the endpoint speaks TLS: write endpoint=https://" + cfg.Endpoint + " in the store URL"
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AccessDenied":
		hint = "check the credentials: REELAY_S3_ACCESS_KEY and REELAY_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
	case code == "AuthorizationHeaderMalformed" || code == "InvalidRegion":
		hint = "check the bucket's region: region= in the store URL"
	case code == "": // no S3 answer at all
		return fmt.Errorf("storage: s3 endpoint %s unreachable over %s: %w; is endpoint= in the store URL right?", cfg.Endpoint, scheme, err)
	}
	if hint == "" {
		return fmt.Errorf("storage: s3 endpoint %s, bucket %q: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	return fmt.Errorf("storage: s3 endpoint %s (%s), bucket %q: %w; %s", cfg.Endpoint, scheme, cfg.Bucket, err, hint)
}

// fail maps minio errors to the package's sentinels.
func (s *S3) fail(op, key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey":
		return notFound(key)
	case "InvalidRange":
		return fmt.Errorf("%w: %q: %w", ErrInvalidRange, key, err)
	}
	return fmt.Errorf("storage: s3 %s %q: %w", op, key, err)
}

func (s *S3) info(key string, oi minio.ObjectInfo) Info {
	return Info{
		Key:          key,
		Size:         oi.Size,
		ContentType:  oi.ContentType,
		CacheControl: oi.Metadata.Get("Cache-Control"),
		ETag:         quoteETag(oi.ETag),
		ModTime:      oi.LastModified,
	}
}

// quoteETag puts back the quotes that minio-go strips.
func quoteETag(etag string) string {
	if etag == "" {
		return ""
	}
	return `"` + etag + `"`
}

// Put implements Store. Objects larger than PartSize, or of unknown size, go up in parts.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	po := minio.PutObjectOptions{
		ContentType:  cmp.Or(opts.ContentType, DefaultContentType),
		CacheControl: opts.CacheControl,
		PartSize:     s.cfg.PartSize,
	}
	up, err := s.client.PutObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, r, size, po)
	if err != nil {
		return Info{}, s.fail("put", key, err)
	}
	return Info{Key: key, Size: up.Size, ContentType: po.ContentType, CacheControl: po.CacheControl,
		ETag: quoteETag(up.ETag), ModTime: up.LastModified}, nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	return s.get(ctx, key, "")
}

// GetRange implements Store.
func (s *S3) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error) {
	if offset < 0 || length == 0 || length < -1 {
		return nil, Info{}, fmt.Errorf("%w: offset %d length %d of %q", ErrInvalidRange, offset, length, key)
	}
	rng := fmt.Sprintf("bytes=%d-", offset)
	if length > 0 {
		rng += strconv.FormatInt(offset+length-1, 10)
	}
	return s.get(ctx, key, rng)
}

// get sends the GET at once, so that a missing key or a bad range is reported here rather than
// at the first Read.
func (s *S3) get(ctx context.Context, key, rng string) (io.ReadCloser, Info, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Info{}, err
	}
	var opts minio.GetObjectOptions
	if rng != "" {
		opts.Set("Range", rng)
	}
	body, oi, h, err := s.core.GetObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, opts)
	if err != nil {
		return nil, Info{}, s.fail("get", key, err)
	}
	info := s.info(key, oi)
	// A 206's Content-Length is the range's; the object's size ends Content-Range ("bytes 0-9/100").
	if _, total, ok := strings.Cut(h.Get("Content-Range"), "/"); ok {
		if n, err := strconv.ParseInt(total, 10, 64); err == nil {
			info.Size = n
		}
	}
	return body, info, nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s.fail("stat", key, err)
	}
	return s.info(key, oi), nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, minio.RemoveObjectOptions{}); err != nil {
		return s.fail("delete", key, err)
	}
	return nil
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: s.cfg.Prefix + prefix, Recursive: true}
	for oi := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, opts) {
		if oi.Err != nil {
			return fmt.Errorf("storage: s3 list %q: %w", prefix, oi.Err)
		}
		if err := fn(s.info(strings.TrimPrefix(oi.Key, s.cfg.Prefix), oi)); err != nil {
			return err
		}
	}
	return nil
}

// Ping implements Store: the bucket must answer.
func (s *S3) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("storage: s3 ping %s: %w", s.cfg.Endpoint, err)
	}
	if !ok {
		return fmt.Errorf("storage: s3 bucket %q does not exist at %s", s.cfg.Bucket, s.cfg.Endpoint)
	}
	return nil
}
