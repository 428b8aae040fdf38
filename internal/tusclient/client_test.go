package tusclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/tusclient/tustest"
	"github.com/reelay/reelay/internal/videoid"
)

const chunkSize = 128 << 10

// testData is n pseudo-random bytes, the same for every run.
func testData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// patchFault returns a client transport that hands the PATCH numbered n (from 1) to fault,
// and every other request to http.DefaultTransport.
func patchFault(n int, fault func(*http.Request) (*http.Response, error)) http.RoundTripper {
	var mu sync.Mutex
	patches := 0
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPatch {
			mu.Lock()
			patches++
			hit := patches == n
			mu.Unlock()
			if hit {
				return fault(r)
			}
		}
		return http.DefaultTransport.RoundTrip(r)
	})
}

// withBody sends r with its body replaced by wrap(body).
func withBody(r *http.Request, wrap func(io.Reader) io.Reader) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Body = struct {
		io.Reader
		io.Closer
	}{wrap(r.Body), r.Body}
	r2.GetBody = nil
	return http.DefaultTransport.RoundTrip(r2)
}

// cutAfter is a body that fails after n bytes, as a connection that breaks.
type cutAfter struct {
	r io.Reader
	n int
}

var errCut = errors.New("connection cut by the test")

func (c *cutAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errCut
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

// flipAt is a body with its byte at offset at flipped.
type flipAt struct {
	r      io.Reader
	at, of int
}

func (f *flipAt) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if i := f.at - f.of; i >= 0 && i < n {
		p[i] ^= 0xff
	}
	f.of += n
	return n, err
}

// answer returns a fault that answers with status and a JSON error without sending anything.
func answer(status int, code string) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		r.Body.Close()
		return &http.Response{
			StatusCode: status, Request: r, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"error":{"code":"` + code + `","message":"try again"}}`)),
		}, nil
	}
}

func newClient(s *tustest.Server, rt http.RoundTripper) *Client {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &Client{
		HTTP: &http.Client{Transport: rt}, Endpoint: s.Endpoint, Token: s.Token, ChunkSize: chunkSize,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	}
}

// progressLog records what Upload reports.
type progressLog struct {
	mu   sync.Mutex
	seen []int64
}

func (p *progressLog) add(n int64) { p.mu.Lock(); p.seen = append(p.seen, n); p.mu.Unlock() }

func (p *progressLog) last() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seen) == 0 {
		return -1
	}
	return p.seen[len(p.seen)-1]
}

// checkCompleted fails t unless the server handed over exactly one upload, holding data.
func checkCompleted(t *testing.T, s *tustest.Server, data []byte) ingest.Upload {
	t.Helper()
	done := s.WaitCompleted(t, 1)
	if len(done) != 1 {
		t.Fatalf("%d uploads handed over, want 1", len(done))
	}
	if want := tustest.SHA256(data); done[0].SHA256 != want || done[0].Upload.Size != int64(len(data)) {
		t.Fatalf("handed over %d bytes with SHA-256 %s, want %d bytes with %s", done[0].Upload.Size, done[0].SHA256, len(data), want)
	}
	return done[0].Upload
}

func TestUpload(t *testing.T) {
	for _, noChecksum := range []bool{false, true} {
		name := map[bool]string{false: "checksum", true: "no checksum"}[noChecksum]
		t.Run(name, func(t *testing.T) {
			s := tustest.New(t, ingest.Config{}, nil)
			c := newClient(s, nil)
			c.NoChecksum = noChecksum
			data := testData(8*chunkSize + 1000) // 9 chunks, the last one short
			meta := map[string]string{"filename": "Ünï cat.mp4", "caption": "my #cat 🐈, on the sofa", "visibility": "unlisted", "filetype": "video/mp4"}
			loc, err := c.Create(t.Context(), int64(len(data)), meta)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(loc, s.Endpoint) || !videoid.Valid(loc[len(s.Endpoint):]) {
				t.Fatalf("upload URL %q, want %s<id>", loc, s.Endpoint)
			}
			if off, length, err := c.Offset(t.Context(), loc); err != nil || off != 0 || length != int64(len(data)) {
				t.Fatalf("Offset = %d, %d, %v; want 0, %d", off, length, err, len(data))
			}
			var p progressLog
			if err := c.Upload(t.Context(), loc, bytes.NewReader(data), int64(len(data)), 0, p.add); err != nil {
				t.Fatal(err)
			}
			u := checkCompleted(t, s, data)
			if u.Filename != meta["filename"] || u.Caption != meta["caption"] || u.Visibility != "unlisted" || u.Filetype != "video/mp4" || u.Owner != s.UserID {
				t.Errorf("handed over %+v", u)
			}
			if p.last() != int64(len(data)) {
				t.Errorf("last progress %d, want %d", p.last(), len(data))
			}
			for i := 1; i < len(p.seen); i++ {
				if p.seen[i] < p.seen[i-1] {
					t.Fatalf("progress went back without a failure: %v", p.seen)
				}
			}
			var patches []tustest.Request
			for _, r := range s.Requests() {
				if r.Method == http.MethodPatch {
					patches = append(patches, r)
				}
			}
			if len(patches) != 9 {
				t.Fatalf("%d PATCH requests, want 9", len(patches))
			}
			for i, r := range patches {
				if r.Offset != int64(i*chunkSize) || r.Status != http.StatusNoContent || (r.Checksum != "") == noChecksum ||
					(r.Checksum != "" && !strings.HasPrefix(r.Checksum, "sha256 ")) {
					t.Errorf("PATCH %d: %+v", i, r)
				}
			}
			// The upload is complete: Offset says so, and Upload from there does nothing.
			if off, _, err := c.Offset(t.Context(), loc); err != nil || off != int64(len(data)) {
				t.Errorf("Offset after the upload = %d, %v", off, err)
			}
			if err := c.Upload(t.Context(), loc, bytes.NewReader(data), int64(len(data)), int64(len(data)), nil); err != nil {
				t.Errorf("Upload of a complete upload: %v", err)
			}
		})
	}
}

// TestResume breaks the third PATCH of an upload in various ways and checks that the client
// asks the server for its offset and continues from there, with no byte lost and none sent
// again but those the server discarded.
func TestResume(t *testing.T) {
	const cutAt = 50 << 10
	cut := func(r *http.Request) (*http.Response, error) {
		return withBody(r, func(b io.Reader) io.Reader { return &cutAfter{r: b, n: cutAt} })
	}
	at := func(want int64) func(int64) bool { return func(o int64) bool { return o == want } }
	none := func(extra int64) bool { return extra == 0 }
	for _, tc := range []struct {
		name       string
		noChecksum bool
		fault      func(*http.Request) (*http.Response, error)
		// resume checks the offset the client went on from: that of the first chunk the server
		// took after the fault.
		resume func(offset int64) bool
		// extra checks the bytes the server read beyond the file's size, which it discarded.
		extra func(extra int64) bool
	}{
		// What arrived of a cut chunk depends on when the server gets to the broken request:
		// with a checksum it is discarded, without one it is kept and the client goes on after it.
		{"cut mid-body with checksum", false, cut, at(2 * chunkSize), func(e int64) bool { return e <= cutAt }},
		{"cut mid-body without checksum", true, cut, func(o int64) bool { return o >= 2*chunkSize && o <= 2*chunkSize+cutAt }, none},
		{"connection error", false, func(r *http.Request) (*http.Response, error) {
			r.Body.Close()
			return nil, errors.New("dial tcp: connection refused")
		}, at(2 * chunkSize), none},
		{"corrupted on the way: 460", false, func(r *http.Request) (*http.Response, error) {
			return withBody(r, func(b io.Reader) io.Reader { return &flipAt{r: b, at: 1000} })
		}, at(2 * chunkSize), func(e int64) bool { return e == chunkSize }},
		{"503", false, answer(http.StatusServiceUnavailable, "unavailable"), at(2 * chunkSize), none},
		{"423", false, answer(http.StatusLocked, "locked"), at(2 * chunkSize), none},
		{"409", false, answer(http.StatusConflict, "offset_mismatch"), at(2 * chunkSize), none},
		{"body stalls", false, func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done() // never reads the body
			r.Body.Close()
			return nil, context.Cause(r.Context())
		}, at(2 * chunkSize), none},
		{"no answer", false, func(r *http.Request) (*http.Response, error) {
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			return nil, context.Cause(r.Context())
		}, at(2 * chunkSize), none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tustest.New(t, ingest.Config{}, nil)
			c := newClient(s, patchFault(3, tc.fault))
			c.NoChecksum = tc.noChecksum
			// Long enough for a loaded machine, where fsync may take a while, short for the test.
			c.StallTimeout, c.ResponseTimeout = time.Second, time.Second
			data := testData(5 * chunkSize)
			loc, err := c.Create(t.Context(), int64(len(data)), nil)
			if err != nil {
				t.Fatal(err)
			}
			var p progressLog
			if err := c.Upload(t.Context(), loc, bytes.NewReader(data), int64(len(data)), 0, p.add); err != nil {
				t.Fatal(err)
			}
			checkCompleted(t, s, data)
			if p.last() != int64(len(data)) {
				t.Errorf("last progress %d", p.last())
			}

			// The client asked for the offset and went on from there. The server may log the
			// requests out of order: a broken request can end after the next ones start.
			s.WaitIdle(t)
			reqs := s.Requests()
			var heads, early int
			var read int64
			resumed := int64(-1)
			for _, r := range reqs {
				switch {
				case r.Method == http.MethodHead:
					heads++
				case r.Method != http.MethodPatch:
				case r.Offset < 2*chunkSize: // the two chunks before the fault, sent once
					early++
					if r.Status != http.StatusNoContent {
						t.Errorf("a PATCH before the fault failed: %+v", r)
					}
				case r.Status == http.StatusNoContent && (resumed < 0 || r.Offset < resumed):
					resumed = r.Offset
				}
				read += r.Body
			}
			if heads == 0 || early != 2 || !tc.resume(resumed) {
				t.Fatalf("%d HEAD requests, %d PATCH requests before the fault, resumed at %d; requests %+v", heads, early, resumed, reqs)
			}
			if extra := read - int64(len(data)); !tc.extra(extra) {
				t.Errorf("the server read %d bytes more than the file's %d; requests %+v", extra, len(data), reqs)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestGivesUp(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	var patches int
	var mu sync.Mutex
	c := newClient(s, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPatch {
			mu.Lock()
			patches++
			mu.Unlock()
			return answer(http.StatusBadGateway, "bad_gateway")(r)
		}
		return http.DefaultTransport.RoundTrip(r)
	}))
	c.MaxRetries = 3
	data := testData(1000)
	loc, err := c.Create(t.Context(), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Upload(t.Context(), loc, bytes.NewReader(data), int64(len(data)), 0, nil)
	var se *ServerError
	if !errors.As(err, &se) || se.Status != http.StatusBadGateway || !strings.Contains(err.Error(), "giving up after 4 failed requests") {
		t.Fatalf("Upload = %v, want to give up on 502 after 4 tries", err)
	}
	heads := 0
	for _, r := range s.Requests() {
		if r.Method == http.MethodHead {
			heads++
		}
	}
	if patches != 4 || heads != 3 {
		t.Errorf("%d PATCH and %d HEAD requests, want 4 and 3", patches, heads)
	}
}

func TestServerErrors(t *testing.T) {
	reject := apierr.New(http.StatusUnprocessableEntity, "not_a_video", "the file holds no video stream")
	s := tustest.New(t, ingest.Config{MaxSize: 1 << 20}, func(ctx context.Context, u ingest.Upload) error {
		if u.Filename == "reject.txt" {
			return reject
		}
		return nil
	})
	c := newClient(s, nil)
	ctx := t.Context()
	statusOf := func(err error) (int, string) {
		var se *ServerError
		if !errors.As(err, &se) {
			t.Fatalf("error %v is not a *ServerError", err)
		}
		if se.Message == "" {
			t.Errorf("%v: no message", err)
		}
		return se.Status, se.Code
	}

	_, err := c.Create(ctx, 2<<20, nil)
	if st, code := statusOf(err); st != http.StatusRequestEntityTooLarge || code != "upload_too_large" || errors.Is(err, ErrGone) {
		t.Errorf("Create of a too large upload: %v", err)
	}
	if !strings.Contains(err.Error(), "larger than") {
		t.Errorf("the server's message is missing from %q", err)
	}

	bad := *c
	bad.Token = "not-a-token"
	if _, err := bad.Create(ctx, 10, nil); !matches(statusOf(err))(http.StatusUnauthorized, "invalid_token") {
		t.Errorf("Create with a bad token: %v", err)
	}
	if _, err := c.Create(ctx, 10, map[string]string{"visibility": "friends"}); !matches(statusOf(err))(http.StatusBadRequest, "invalid_metadata") {
		t.Errorf("Create with bad metadata: %v", err)
	}

	// A 4xx answer to a PATCH ends the upload at once.
	data := testData(3 * chunkSize)
	loc, err := c.Create(ctx, int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := len(s.Requests())
	if err := bad.Upload(ctx, loc, bytes.NewReader(data), int64(len(data)), 0, nil); !matches(statusOf(err))(http.StatusUnauthorized, "invalid_token") {
		t.Errorf("Upload with a bad token: %v", err)
	}
	if n := len(s.Requests()) - before; n != 1 {
		t.Errorf("Upload with a bad token sent %d requests, want 1", n)
	}

	// The server refuses the finished upload: the answer to the last chunk says why, and the
	// upload is gone afterwards.
	loc, err = c.Create(ctx, int64(len(data)), map[string]string{"filename": "reject.txt"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Upload(ctx, loc, bytes.NewReader(data), int64(len(data)), 0, nil)
	if !matches(statusOf(err))(http.StatusUnprocessableEntity, "not_a_video") || !strings.Contains(err.Error(), "no video stream") {
		t.Errorf("Upload of a refused file: %v", err)
	}
	if _, _, err := c.Offset(ctx, loc); !errors.Is(err, ErrGone) {
		t.Errorf("Offset of a refused upload: %v, want ErrGone", err)
	}
}

func matches(status int, code string) func(int, string) bool {
	return func(s int, c string) bool { return s == status && c == code }
}

func TestGone(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	c := newClient(s, nil)
	ctx := t.Context()
	data := testData(3 * chunkSize)

	_, _, err := c.Offset(ctx, s.Endpoint+"aaaaaaaaaaaaaaaaaaaaaaaaaa")
	var se *ServerError
	if !errors.Is(err, ErrGone) || !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Errorf("Offset of an unknown upload: %v", err)
	}

	loc, err := c.Create(ctx, int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, loc, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, _, err := c.Offset(ctx, loc); !errors.Is(err, ErrGone) {
		t.Errorf("Offset of a terminated upload: %v", err)
	}
	err = c.Upload(ctx, loc, bytes.NewReader(data), int64(len(data)), 0, nil)
	if !errors.Is(err, ErrGone) || !errors.As(err, &se) || se.Status != http.StatusGone || se.Code != "upload_terminated" {
		t.Errorf("Upload to a terminated upload: %v", err)
	}
}

// TestCancelThenResume stops an upload half-way, as Ctrl-C does, and finishes it with a second
// Upload from the server's offset.
func TestCancelThenResume(t *testing.T) {
	s := tustest.New(t, ingest.Config{}, nil)
	c := newClient(s, nil)
	data := testData(8 * chunkSize)
	loc, err := c.Create(t.Context(), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Cancelled once the server is reading the fourth chunk, so that the request is under way
	// on the server, which WaitIdle waits for.
	s.OnBody(func(received int64) {
		if received > 3*chunkSize+chunkSize/2 {
			cancel()
		}
	})
	err = c.Upload(ctx, loc, bytes.NewReader(data), int64(len(data)), 0, nil)
	s.OnBody(nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upload = %v, want context.Canceled", err)
	}
	s.WaitIdle(t)
	off, _, err := c.Offset(t.Context(), loc)
	if err != nil || off < 3*chunkSize || off >= int64(len(data)) {
		t.Fatalf("Offset after the cancel = %d, %v; want the first 3 chunks or more, not all", off, err)
	}
	if len(s.Completed()) != 0 {
		t.Fatal("handed over before the end")
	}
	received := s.Received()
	if err := c.Upload(t.Context(), loc, bytes.NewReader(data), int64(len(data)), off, nil); err != nil {
		t.Fatal(err)
	}
	checkCompleted(t, s, data)
	if got := s.Received() - received; got != int64(len(data))-off {
		t.Errorf("the second Upload sent %d bytes, want the %d missing", got, int64(len(data))-off)
	}
}

// failingFile fails reads at or past offset bad.
type failingFile struct {
	data []byte
	bad  int64
}

var errDisk = errors.New("input/output error")

func (f failingFile) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.bad {
		n := max(0, int(f.bad-off))
		copy(p, f.data[off:off+int64(n)])
		return n, errDisk
	}
	return copy(p, f.data[off:]), nil
}

func TestFileErrorsAreNotRetried(t *testing.T) {
	data := testData(3 * chunkSize)
	for _, tc := range []struct {
		name       string
		r          io.ReaderAt
		noChecksum bool
		want       error
	}{
		{"read error, checksum", failingFile{data, chunkSize + 100}, false, errDisk},
		{"read error, no checksum", failingFile{data, chunkSize + 100}, true, errDisk},
		{"file shorter than its size, checksum", bytes.NewReader(data[:2*chunkSize]), false, nil},
		{"file shorter than its size, no checksum", bytes.NewReader(data[:2*chunkSize]), true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tustest.New(t, ingest.Config{}, nil)
			c := newClient(s, nil)
			c.NoChecksum = tc.noChecksum
			loc, err := c.Create(t.Context(), int64(len(data)), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Upload(t.Context(), loc, tc.r, int64(len(data)), 0, nil)
			var fe *FileError
			if !errors.As(err, &fe) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Upload = %v, want a *FileError", err)
			}
			for _, r := range s.Requests() {
				if r.Method == http.MethodHead {
					t.Fatalf("the client retried after %v", err)
				}
			}
		})
	}
}

func TestEncodeMetadata(t *testing.T) {
	got, err := encodeMetadata(map[string]string{"filename": "cat.mp4", "caption": "hi", "flag": ""})
	if want := "caption aGk=,filename Y2F0Lm1wNA==,flag"; err != nil || got != want {
		t.Errorf("encodeMetadata = %q, %v; want %q", got, err, want)
	}
	if got, err := encodeMetadata(nil); got != "" || err != nil {
		t.Errorf("encodeMetadata(nil) = %q, %v", got, err)
	}
	for _, k := range []string{"", "a b", "a,b", "é", "a\n"} {
		if _, err := encodeMetadata(map[string]string{k: "x"}); err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		for range 20 {
			if got := c.backoff(n); got > want || got < want/2 {
				t.Fatalf("backoff(%d) = %v, want between %v and %v", n, got, want/2, want)
			}
		}
	}
}
