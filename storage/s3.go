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
	// Bucket holds the objects; it must exist. Required.
	Bucket string
	// Prefix is prepended to every key, so that several stores can share a bucket; a "/" is
	// added if it does not end with one. Default "": keys are object names.
	Prefix string
	// AccessKey and SecretKey sign the requests. Default "": anonymous requests.
	AccessKey, SecretKey string
	// Region is the bucket's region. Default "": asked of the service (one extra request).
	Region string
	// Secure uses HTTPS. Default false: plain HTTP, as for a MinIO on a private network.
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
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	cfg.Endpoint = cmp.Or(cfg.Endpoint, "s3.amazonaws.com")
	cfg.PartSize = cmp.Or(cfg.PartSize, DefaultPartSize)
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("storage: s3 bucket %q: %w", cfg.Bucket, err)
	}
	if cfg.PartSize < 5<<20 {
		return nil, fmt.Errorf("storage: s3 part size %d is below the S3 minimum of 5 MiB", cfg.PartSize)
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
		return nil, fmt.Errorf("storage: s3 endpoint %s: %w", cfg.Endpoint, err)
	}
	// The check gets one try: minio-go's retries would turn a dead endpoint into a long wait.
	opts.MaxRetries = 1
	probe, err := minio.New(cfg.Endpoint, &opts)
	if err != nil {
		return nil, fmt.Errorf("storage: s3 endpoint %s: %w", cfg.Endpoint, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s3CheckTimeout)
	defer cancel()
	ok, err := probe.BucketExists(ctx, cfg.Bucket)
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == "": // no answer at all
		return nil, fmt.Errorf("storage: s3 endpoint %s unreachable: %w", cfg.Endpoint, err)
	case err != nil:
		return nil, fmt.Errorf("storage: s3 endpoint %s, bucket %q: %w", cfg.Endpoint, cfg.Bucket, err)
	case !ok:
		return nil, fmt.Errorf("storage: s3 bucket %q does not exist at %s", cfg.Bucket, cfg.Endpoint)
	}
	return &S3{cfg: cfg, client: client, core: minio.Core{Client: client}}, nil
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
