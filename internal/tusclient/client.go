// Package tusclient is a client of the tus 1.0.0 resumable upload protocol
// (https://tus.io/protocols/resumable-upload), as reelay's ingest tier serves it at
// /v1/uploads/. It creates an upload (the creation extension), asks for its offset, and sends
// a file in chunks, each with a SHA-256 Upload-Checksum (the checksum extension). When a
// chunk fails on the way (the network broke, the server answered 5xx, 409, 423 or 460) it
// asks the server for the offset it really holds and continues from there after a bounded
// exponential backoff.
//
// Memory stays bounded whatever the file's size: each chunk streams from an io.ReaderAt
// through an io.SectionReader, read once for its checksum and once to send it.
package tusclient

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Version is the tus protocol version the client speaks, sent as Tus-Resumable.
const Version = "1.0.0"

// Defaults of Client.
const (
	DefaultChunkSize       = 8 << 20
	DefaultMaxRetries      = 10
	DefaultMinBackoff      = 500 * time.Millisecond
	DefaultMaxBackoff      = 10 * time.Second
	DefaultStallTimeout    = time.Minute
	DefaultResponseTimeout = 5 * time.Minute
)

// Client talks tus to one server. Its zero value is usable but for Endpoint, which Create
// needs; a Client is safe for concurrent use once configured.
type Client struct {
	// HTTP sends the requests. It should have no overall Timeout (a chunk takes as long as
	// the link needs): StallTimeout and ResponseTimeout bound each request instead.
	// Default: a client like http.DefaultClient whose transport writes through a 1 MiB
	// buffer instead of 4 KiB, so a chunk goes out in few large writes.
	HTTP *http.Client
	// Endpoint is the URL uploads are created at, e.g. http://host/v1/uploads/. Required by
	// Create; the other operations take an upload's URL.
	Endpoint string
	// Token, when not empty, is sent with every request as "Authorization: Bearer Token".
	Token string
	// ChunkSize is the most bytes one PATCH carries: a failed request costs at most this much
	// to send again. Default DefaultChunkSize (8 MiB).
	ChunkSize int64
	// NoChecksum leaves out the Upload-Checksum header. Default false: every chunk carries
	// its SHA-256, which costs reading it twice from the file, and the server discards a
	// chunk damaged on the way (460) instead of storing it.
	NoChecksum bool
	// MaxRetries is how many failed requests in a row Upload retries before it gives up; a
	// request that moves the offset forward starts the count again. Default
	// DefaultMaxRetries (10).
	MaxRetries int
	// MinBackoff is the wait before the first retry; each next one waits twice as long, up to
	// MaxBackoff, less up to half at random. Defaults DefaultMinBackoff (500ms) and
	// DefaultMaxBackoff (10s).
	MinBackoff, MaxBackoff time.Duration
	// StallTimeout is how long a PATCH may go without sending more of its chunk before it is
	// abandoned and retried: a link that died silently would otherwise hold it for as long as
	// TCP takes to notice. Default DefaultStallTimeout (1m).
	StallTimeout time.Duration
	// ResponseTimeout is how long a request waits for the server's answer once it is sent;
	// the answer to an upload's last chunk waits for the server's hand-over of the upload.
	// Default DefaultResponseTimeout (5m).
	ResponseTimeout time.Duration
	// Logger receives a warning for every retried request. Default nil: discarded.
	Logger *slog.Logger
}

// ServerError is an answer of the server that is not what the request asked for, with the
// code and message of its JSON body {"error":{"code","message"}} when it has one.
type ServerError struct {
	Status  int    // HTTP status
	Code    string // machine-readable code, "" when the body had none
	Message string // for people: the body's message, else the status text
}

func (e *ServerError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("tusclient: server answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("tusclient: server answered %d (%s): %s", e.Status, e.Code, e.Message)
}

// ErrGone is the error of Offset and Upload when the server does not know the upload (404)
// or no longer has it (410: it expired, was deleted or was refused): the caller starts a new
// one. The *ServerError that said so is in the error chain too.
var ErrGone = errors.New("tusclient: the upload is gone")

// errTimeout is the cause of a request abandoned by its watchdog.
var errTimeout = errors.New("timed out")

// FileError is a failure to read the file being uploaded: retrying does not help.
type FileError struct{ Err error }

func (e *FileError) Error() string { return "tusclient: reading the file: " + e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// Create makes a new upload of size bytes with metadata (the Upload-Metadata pairs, e.g.
// "filename") and returns its absolute URL. It sends one request and does not retry it: a
// request that failed may still have created an upload, which the server expires unused.
func (c *Client) Create(ctx context.Context, size int64, metadata map[string]string) (string, error) {
	if size < 0 {
		return "", fmt.Errorf("tusclient: negative upload size %d", size)
	}
	if c.Endpoint == "" {
		return "", errors.New("tusclient: Client.Endpoint is not set")
	}
	base, err := url.Parse(c.Endpoint)
	if err != nil {
		return "", fmt.Errorf("tusclient: Client.Endpoint: %w", err)
	}
	meta, err := encodeMetadata(metadata)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, c.responseTimeout())
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodPost, c.Endpoint, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	if meta != "" {
		req.Header.Set("Upload-Metadata", meta)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return "", err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusCreated {
		return "", newServerError(resp)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", errors.New("tusclient: the server created an upload without a Location")
	}
	u, err := base.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("tusclient: the server created an upload at a bad Location %q: %w", loc, err)
	}
	return u.String(), nil
}

// Offset asks the server (HEAD) how many bytes of the upload at uploadURL it holds, and the
// upload's length: -1 when the upload's length is deferred. An upload the server does not
// know or no longer has is ErrGone. It sends one request and does not retry it.
func (c *Client) Offset(ctx context.Context, uploadURL string) (offset, length int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.responseTimeout())
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodHead, uploadURL, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return 0, 0, goneOr(newServerError(resp))
	}
	offset, ok := parseSize(resp.Header.Get("Upload-Offset"))
	if !ok {
		return 0, 0, fmt.Errorf("tusclient: HEAD %s: bad Upload-Offset %q", uploadURL, resp.Header.Get("Upload-Offset"))
	}
	length = -1
	if v := resp.Header.Get("Upload-Length"); v != "" || resp.Header.Get("Upload-Defer-Length") != "1" {
		if length, ok = parseSize(v); !ok {
			return 0, 0, fmt.Errorf("tusclient: HEAD %s: bad Upload-Length %q", uploadURL, v)
		}
	}
	return offset, length, nil
}

// Upload sends bytes [from, size) of r to the upload at uploadURL, which must be size bytes
// long and hold the first from bytes (from is what Offset returned, or 0 for a new upload).
// It returns nil once the server holds all size bytes.
//
// A request that fails on the way (a network error, a stall, or a 5xx, 409, 423, 429 or 460
// answer) is retried after a backoff: Upload asks the server for its offset and continues
// from there, at most MaxRetries times in a row. Other answers are a *ServerError that ends
// the upload; one saying the upload is gone is also ErrGone. A file that cannot be read is a
// *FileError. When ctx is done Upload returns its error; the server keeps what it received.
//
// progress, if not nil, is called with how many bytes of the file the server holds or is
// being sent, as they go: from Upload's goroutine or the HTTP transport's, never by two at
// once. It goes back after a failed request to what the server holds.
func (c *Client) Upload(ctx context.Context, uploadURL string, r io.ReaderAt, size, from int64, progress func(sent int64)) error {
	if from < 0 || from > size {
		return fmt.Errorf("tusclient: offset %d outside the upload's %d bytes", from, size)
	}
	if u, err := url.Parse(uploadURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("tusclient: bad upload URL %q", uploadURL)
	}
	if progress == nil {
		progress = func(int64) {}
	}
	var mu sync.Mutex // serialises progress between Upload and the transport's goroutines
	report := func(n int64) { mu.Lock(); progress(n); mu.Unlock() }
	report(from)

	offset, known := from, true
	failures := 0
	// retry decides about a failed request: nil to try again once the backoff is over.
	retry := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryable(err) {
			return err
		}
		failures++
		if failures > c.maxRetries() {
			return fmt.Errorf("tusclient: giving up after %d failed requests in a row: %w", failures, err)
		}
		wait := c.backoff(failures)
		c.logger().Warn("upload request failed; retrying", "url", uploadURL, "offset", offset, "retry", failures, "wait", wait, "err", err)
		return sleep(ctx, wait)
	}
	for {
		if !known {
			off, length, err := c.Offset(ctx, uploadURL)
			if err != nil {
				if err := retry(err); err != nil {
					return err
				}
				continue
			}
			if length != size {
				return fmt.Errorf("tusclient: the upload at %s is %d bytes long, not %d", uploadURL, length, size)
			}
			if off > size {
				return fmt.Errorf("tusclient: the server holds %d bytes of a %d-byte upload", off, size)
			}
			if off > offset {
				failures = 0 // the failed request got some bytes through
			}
			offset, known = off, true
			report(offset)
		}
		if offset == size {
			return nil
		}
		n := min(c.chunkSize(), size-offset)
		next, err := c.patch(ctx, uploadURL, r, offset, n, func(read int64) { report(offset + read) })
		var fe *FileError
		switch {
		case errors.As(err, &fe):
			return err
		case err != nil:
			known = false
			if err := retry(err); err != nil {
				return err
			}
			continue
		case next <= offset || next > offset+n:
			return fmt.Errorf("tusclient: the server answered a chunk of %d bytes at %d with offset %d", n, offset, next)
		}
		failures = 0
		offset = next
		report(offset)
	}
}

// patch sends bytes [offset, offset+n) of r and returns the server's new offset.
func (c *Client) patch(ctx context.Context, uploadURL string, r io.ReaderAt, offset, n int64, progress func(read int64)) (int64, error) {
	var sum string
	if !c.NoChecksum {
		h := sha256.New()
		if m, err := io.Copy(h, io.NewSectionReader(r, offset, n)); err != nil {
			return 0, &FileError{err}
		} else if m < n {
			return 0, &FileError{fmt.Errorf("the file is %d bytes shorter than its size", n-m)}
		}
		sum = "sha256 " + base64.StdEncoding.EncodeToString(h.Sum(nil))
	}

	// The watchdog abandons the request when its body stops moving for StallTimeout, and
	// once the body is sent when the answer takes longer than ResponseTimeout.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall, answer := c.stallTimeout(), c.responseTimeout()
	var sent atomic.Bool
	watchdog := time.AfterFunc(stall, func() {
		if sent.Load() {
			cancel(fmt.Errorf("%w: no answer %s after the chunk was sent", errTimeout, answer))
		} else {
			cancel(fmt.Errorf("%w: the chunk made no progress for %s", errTimeout, stall))
		}
	})
	defer watchdog.Stop()
	ch := &chunk{r: r, off: offset, n: n, onRead: func(read int64, eof bool) {
		if eof {
			sent.Store(true)
			watchdog.Reset(answer)
		} else {
			sent.Store(false) // a body read again (GetBody) is not sent yet
			watchdog.Reset(stall)
		}
		progress(read)
	}}

	req, err := c.newRequest(ctx, http.MethodPatch, uploadURL, ch.body())
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	req.GetBody = func() (io.ReadCloser, error) { return ch.body(), nil }
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	if sum != "" {
		req.Header.Set("Upload-Checksum", sum)
	}
	resp, err := c.httpClient().Do(req)
	if ferr := ch.finish(); ferr != nil {
		if err == nil {
			closeBody(resp)
		}
		return 0, &FileError{ferr}
	}
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errTimeout) {
			return 0, fmt.Errorf("tusclient: PATCH %s at offset %d: %w", uploadURL, offset, cause)
		}
		return 0, err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return 0, goneOr(newServerError(resp))
	}
	next, ok := parseSize(resp.Header.Get("Upload-Offset"))
	if !ok {
		return 0, fmt.Errorf("tusclient: PATCH %s: bad Upload-Offset %q in the answer", uploadURL, resp.Header.Get("Upload-Offset"))
	}
	return next, nil
}

// chunk is the body of one PATCH: a section of the file, read by the HTTP transport in its
// own goroutine, and perhaps more than once (GetBody). After finish, reads fail and report
// nothing, even from a transport still holding the body.
type chunk struct {
	r      io.ReaderAt
	off, n int64
	onRead func(read int64, eof bool)

	mu   sync.Mutex
	done bool
	err  error // the first failure to read the file
}

var errChunkDone = errors.New("tusclient: the request is over")

func (c *chunk) body() io.ReadCloser {
	return &chunkReader{c: c, r: io.NewSectionReader(c.r, c.off, c.n)}
}

// finish ends the chunk's reads and returns the error reading the file, if any.
func (c *chunk) finish() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	return c.err
}

type chunkReader struct {
	c    *chunk
	r    *io.SectionReader
	read int64
}

func (cr *chunkReader) Read(p []byte) (int, error) {
	c := cr.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return 0, errChunkDone
	}
	n, err := cr.r.Read(p)
	cr.read += int64(n)
	if err == io.EOF && cr.read < c.n {
		err = fmt.Errorf("the file is %d bytes shorter than its size", c.n-cr.read)
	}
	if err != nil && err != io.EOF {
		if c.err == nil {
			c.err = err
		}
		return n, err
	}
	c.onRead(cr.read, err == io.EOF)
	return n, err
}

func (cr *chunkReader) Close() error { return nil }

// retryable reports whether a failed request of Upload may succeed when tried again:
// transport failures and timeouts may, and so may the answers that say the server could not
// take the chunk right now. The caller has checked that its own context is not done.
func retryable(err error) bool {
	var se *ServerError
	if errors.As(err, &se) {
		switch se.Status {
		case http.StatusConflict, // the offset moved: ask for it again
			http.StatusLocked,          // another request still holds the upload
			http.StatusTooManyRequests, // rate limited
			460:                        // checksum mismatch: the chunk was damaged on the way
			return true
		}
		return se.Status >= 500
	}
	var fe *FileError
	return !errors.As(err, &fe)
}

// goneOr returns se, marked ErrGone when it says the upload does not exist (any more).
func goneOr(se *ServerError) error {
	if se.Status == http.StatusNotFound || se.Status == http.StatusGone {
		return fmt.Errorf("%w: %w", ErrGone, se)
	}
	return se
}

// maxErrorBody is how much of an error answer is read for its message.
const maxErrorBody = 64 << 10

// newServerError reads resp's error body.
func newServerError(resp *http.Response) *ServerError {
	e := &ServerError{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var v struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &v) == nil && (v.Error.Code != "" || v.Error.Message != "") {
		e.Code, e.Message = v.Error.Code, v.Error.Message
	} else if text := strings.Join(strings.Fields(string(b)), " "); text != "" && utf8.ValidString(text) && len(text) <= 200 {
		e.Message = text // a proxy's plain-text answer
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// closeBody drains a little of resp's body, so that its connection can carry another
// request, and closes it.
func closeBody(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, maxErrorBody)
	resp.Body.Close()
}

func (c *Client) newRequest(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, fmt.Errorf("tusclient: %w", err)
	}
	req.Header.Set("Tus-Resumable", Version)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// encodeMetadata writes an Upload-Metadata value: "key base64(value)" pairs, comma-separated,
// in key order; a key with an empty value goes alone. Keys must be printable ASCII without
// spaces or commas.
func encodeMetadata(m map[string]string) (string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "" || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r > '~' || r == ',' }) {
			return "", fmt.Errorf("tusclient: metadata key %q: want printable ASCII without spaces or commas", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		if v := m[k]; v != "" {
			b.WriteByte(' ')
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(v)))
		}
	}
	return b.String(), nil
}

// parseSize parses an Upload-Offset or Upload-Length value: decimal digits only.
func parseSize(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// backoff is the wait before retry number n (from 1): MinBackoff doubled each time up to
// MaxBackoff, less up to half of it at random so that clients cut off together spread out.
func (c *Client) backoff(n int) time.Duration {
	d, hi := c.MinBackoff, c.MaxBackoff
	if d <= 0 {
		d = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - rand.N(d/2+1)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// defaultHTTP is the client used when Client.HTTP is nil; it is never modified.
var defaultHTTP = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.WriteBufferSize = 1 << 20
	return &http.Client{Transport: t}
}()

func (c *Client) chunkSize() int64 {
	if c.ChunkSize > 0 {
		return c.ChunkSize
	}
	return DefaultChunkSize
}

func (c *Client) maxRetries() int {
	if c.MaxRetries > 0 {
		return c.MaxRetries
	}
	return DefaultMaxRetries
}

func (c *Client) stallTimeout() time.Duration {
	if c.StallTimeout > 0 {
		return c.StallTimeout
	}
	return DefaultStallTimeout
}

func (c *Client) responseTimeout() time.Duration {
	if c.ResponseTimeout > 0 {
		return c.ResponseTimeout
	}
	return DefaultResponseTimeout
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}
