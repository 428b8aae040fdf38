// Package origin serves the HLS presentations of the object store over HTTP: the tier that edge
// caches fill from, and that a single-machine deployment lets players reach directly.
//
// # Paths
//
// GET and HEAD of /v/{video}/{name} serve the object videos/{video}/{name}, where {video} is a
// video id (see internal/videoid) and {name} one of the names the packager writes (see
// internal/layout): master.m3u8, poster.jpg, {rendition}/index.m3u8, {rendition}/iframes.m3u8,
// {rendition}/init.mp4 and {rendition}/seg_NNNNN.m4s. Every other path, including any
// percent-encoded one, is 404 without a store access. OPTIONS answers CORS preflights.
//
// A video is visible only once its master.m3u8 exists, which the packager writes last: other
// objects of a video without one are 404 as well. The answer "published" is remembered for
// Config.PublishedTTL, so that a player's segment requests cost one store round trip each.
//
// A video with the object layout.PrivateMarker under its prefix is private. The origin serves
// its objects only to an edge's fill that proves itself (signedurl.PeerAuthHeader) and to a
// player on a URL signed with Config.SigningKey (internal/signedurl), exactly as the edges do,
// and answers 403 signature_required otherwise (always, without a signing key). Such responses
// carry "X-Reelay-Access: private" (httpsem.AccessHeader), which edges keep with the cached
// object to enforce the signature themselves, and a Cache-Control that says "private" where the
// stored one says "public" (httpsem.PrivateCacheControl), so that no other shared cache keeps
// them. A signed playlist is answered with the signature added to each of its URIs, so that
// players follow it down to the segments, with "private, no-store" and no validators. A
// signature on a public object is checked as well: a wrong or expired one is 403 bad_signature.
//
// GET and HEAD of /v/live/{stream}/... (layout.LivePathPrefix) go to Config.Live, the live
// streams that the process taking WHIP sessions packages (package live), with their own
// headers: live playlists "no-cache" and blocking reloads held until the part they name exists.
// Without Config.Live they are served from the store's live/{stream}/..., where the live
// tier copies each stream as it is made; a blocking reload then polls the stored playlist.
//
// # Caching
//
// Content-Type and Cache-Control are those stored with each object by the packager. When an
// object has none, Content-Type follows the name (application/vnd.apple.mpegurl, video/mp4,
// video/iso.segment, image/jpeg) and Cache-Control the kind of object:
//
//	init and media segments   public, max-age=31536000, immutable   (their bytes never change)
//	playlists                 public, max-age=60                    (Config.PlaylistMaxAge)
//	poster                    public, max-age=86400
//
// Playlists get a short lifetime although a VOD presentation is complete (EXT-X-ENDLIST) once
// master.m3u8 exists: packaging a video again under the same id replaces its playlists, and 60
// seconds bounds how long players and edges keep the old ones while still absorbing the
// repeated playlist fetches of many players. The growing EVENT playlists of a progressive
// publication (see package packager) are stored with max-age=1, and served so. Every response
// carries a strong ETag and Last-Modified, so an expired playlist is revalidated with a 304.
// Error responses are "no-store": a 404 for a video that is still being packaged must not
// outlive its publication.
//
// # Conditional and range requests
//
// If-Match, If-None-Match (weak comparison, lists and "*"), If-Unmodified-Since and
// If-Modified-Since are evaluated as RFC 9110 §13.2.2 orders them (see httpsem.Conditions). A GET with a
// single byte range is answered 206 from Store.GetRange, an unsatisfiable one 416 with
// "Content-Range: bytes */size"; several ranges, a malformed Range and a Range whose If-Range
// does not match are answered 200 with the whole object (see httpsem.ParseRange). HEAD answers the
// headers of the GET from a Stat, without reading the object.
package origin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/listener"
	"github.com/reelay/reelay/internal/server"
	"github.com/reelay/reelay/internal/signedurl"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/storage"
)

// Defaults of Config.
const (
	// DefaultAddr is where `reelay origin` listens unless told otherwise.
	DefaultAddr           = "127.0.0.1:8082"
	DefaultPlaylistMaxAge = 60 * time.Second
	DefaultPublishedTTL   = 10 * time.Second
	DefaultAllowOrigin    = "*"
)

// publishedCacheSize bounds the number of videos remembered as published.
const publishedCacheSize = 10000

// publishCheckTimeout bounds the Stat of a master.m3u8 shared by concurrent requests, which runs
// on after the request that started it is cancelled.
const publishCheckTimeout = 15 * time.Second

// maxAttempts bounds how often a request is restarted when the object changes between its Stat
// and its Get.
const maxAttempts = 3

// ErrInvalidConfig is returned by New for an unusable Config.
var ErrInvalidConfig = errors.New("origin: invalid config")

// Config configures an Origin.
type Config struct {
	// Store holds the presentations, as the packager writes them. Required.
	Store storage.Store
	// PlaylistMaxAge is the max-age of playlists stored without a Cache-Control (the packager
	// stores "public, max-age=60"). Zero means DefaultPlaylistMaxAge (60s); it may not be
	// negative. See the package comment for the choice.
	PlaylistMaxAge time.Duration
	// PublishedTTL is how long a video whose master.m3u8 was seen stays known to be published,
	// so that its other objects are served without asking the store about the master again; it
	// is also how long a deleted video's segments may still be served. Zero means
	// DefaultPublishedTTL (10s); negative means asking the store on every request.
	PublishedTTL time.Duration
	// AllowOrigin is sent as Access-Control-Allow-Origin. Default DefaultAllowOrigin ("*").
	AllowOrigin string
	// SigningKey is the HMAC-SHA256 key of signed URLs (internal/signedurl), the edges' own.
	// Default nil: private videos are served to nobody, not even the edges.
	SigningKey []byte
	// Live serves the live streams at layout.LivePathPrefix: live.Streams in the process that
	// takes the WHIP sessions, or a proxy to it. Default nil: they are served from the store,
	// where the live tier copies them (live.Config.Store), blocking reloads included.
	Live http.Handler
	// Addr is the address Run serves the origin on, with /metrics, /healthz and /readyz.
	// Default "": New binds no listener and Run only waits for its context to end (an
	// embedder serves Handler itself).
	Addr string
	// Metrics is the listener's request metrics and what its /metrics serves. Default: a
	// registry of its own.
	Metrics *server.Metrics
	// MetricsToken is the bearer token the listener's /metrics asks for (see
	// server.Config.MetricsToken). Default "": /metrics answers 403.
	MetricsToken string
	// Limits caps the listener's connections and bounds how long a client may keep it
	// waiting. Its clients are mostly edges, each filling over many connections from one
	// address: MaxConnsPerClient must leave room for them. Default: listener.Limits' defaults.
	Limits listener.Limits
	// Registerer receives the origin's metrics (reelay_origin_*). Nil registers them nowhere.
	Registerer prometheus.Registerer
	// Logger receives the origin's logs, with "tier"="origin". Nil discards them.
	Logger *slog.Logger
	// TracerProvider gives each request to the listener on Addr a server span, the child of
	// the edge fill's span that sent its W3C traceparent (see server.Config.TracerProvider).
	// Default nil: no spans.
	TracerProvider trace.TracerProvider
}

// Origin serves the store's presentations over HTTP. It is safe for concurrent use.
type Origin struct {
	srv           *server.Server // nil without Config.Addr
	cfg           Config
	log           *slog.Logger
	metrics       *metrics
	published     *publishedCache
	checks        singleflight.Group // concurrent master Stats of one video, by video id
	cachePlaylist string
}

// New validates cfg, fills in its defaults and returns an Origin.
func New(cfg Config) (*Origin, error) {
	bad := func(format string, args ...any) (*Origin, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if cfg.Store == nil {
		return bad("Store is required")
	}
	switch {
	case cfg.PlaylistMaxAge < 0:
		return bad("PlaylistMaxAge %v is negative", cfg.PlaylistMaxAge)
	case cfg.PlaylistMaxAge == 0:
		cfg.PlaylistMaxAge = DefaultPlaylistMaxAge
	}
	if cfg.PublishedTTL == 0 {
		cfg.PublishedTTL = DefaultPublishedTTL
	}
	cfg.AllowOrigin = cmp.Or(cfg.AllowOrigin, DefaultAllowOrigin)
	if strings.IndexFunc(cfg.AllowOrigin, unicode.IsControl) >= 0 {
		return bad("AllowOrigin %q contains a control character", cfg.AllowOrigin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	o := &Origin{
		cfg:           cfg,
		log:           cfg.Logger.With("tier", "origin"),
		metrics:       m,
		published:     newPublishedCache(cfg.PublishedTTL, publishedCacheSize, time.Now),
		cachePlaylist: "public, max-age=" + strconv.FormatInt(int64(cfg.PlaylistMaxAge/time.Second), 10),
	}
	if cfg.Addr != "" {
		o.srv, err = server.New(server.Config{Name: "origin", Addr: cfg.Addr, Handler: o.Handler(), Ready: o.Ready,
			MetricsToken: cfg.MetricsToken, Limits: cfg.Limits, Metrics: cfg.Metrics, Logger: cfg.Logger,
			TracerProvider: cfg.TracerProvider})
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

// URL is the base URL of the origin's listener, e.g. "http://127.0.0.1:8082"; "" without one.
func (o *Origin) URL() string {
	if o.srv == nil {
		return ""
	}
	return o.srv.URL()
}

// Run serves on Config.Addr until ctx is done, then stops gracefully (see server.Server.Serve).
// Without a listener it waits for ctx.
func (o *Origin) Run(ctx context.Context) error {
	if o.srv == nil {
		<-ctx.Done()
		return nil
	}
	return o.srv.Serve(ctx)
}

// Handler returns the handler of /v/{video}/{name}; every other path is answered 404.
func (o *Origin) Handler() http.Handler { return http.HandlerFunc(o.serveHTTP) }

// Ready reports whether the store answers, for the listener's /readyz (server.Config.Ready).
func (o *Origin) Ready(ctx context.Context) error { return o.cfg.Store.Ping(ctx) }

// errNotFound answers every path that names no published object.
var errNotFound = apierr.New(http.StatusNotFound, "not_found", "no such video or object")

// errChanged: the object changed between its Stat and its Get; the request starts again.
var errChanged = errors.New("origin: object changed while being served")

// request is a GET or HEAD of a valid object path.
type request struct {
	obj     layout.Object
	private bool   // the video is private
	query   string // a player's signature, "exp=...&sig=...", to carry on in a private playlist
	key     string
	head    bool
	rng     string // the Range header of a GET; always "" for HEAD
	conds   httpsem.Conditions
}

func (o *Origin) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	defer o.metrics.observe(rec)
	h := rec.Header()
	httpsem.CORS(h.Set, o.cfg.AllowOrigin, r.Method == http.MethodOptions)
	err := o.serve(rec, r)
	switch {
	case err == nil:
	case r.Context().Err() != nil:
		rec.status = 499 // the client is gone: nobody to answer (nginx's "client closed request")
	default:
		h.Set("Cache-Control", "no-store")
		apierr.Write(rec, r, o.log, err)
	}
}

// serve answers r, or returns the error to answer it with before anything is written.
func (o *Origin) serve(w http.ResponseWriter, r *http.Request) error {
	if strings.HasPrefix(r.URL.Path, layout.LivePathPrefix) {
		return o.serveLive(w, r)
	}
	obj, ok := parsePath(r.URL)
	if !ok {
		return errNotFound
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.Header().Set("Allow", httpsem.CORSAllowMethods)
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		w.Header().Set("Allow", httpsem.CORSAllowMethods)
		return apierr.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed; use GET or HEAD", r.Method)
	}
	ctx := r.Context()
	private, err := o.access(ctx, obj)
	if err != nil {
		return err
	}
	query, err := o.authorize(r, obj, private)
	if err != nil {
		return err
	}
	q := request{
		obj:     obj,
		private: private,
		query:   query,
		key:     obj.Key(),
		head:    r.Method == http.MethodHead,
		conds:   httpsem.ConditionsFrom(r.Header),
	}
	if !q.head { // RFC 9110 §14.2: range handling is defined for GET only
		q.rng = r.Header.Get("Range")
	}
	for range maxAttempts {
		if err = o.serveObject(ctx, w, q); !errors.Is(err, errChanged) {
			return err
		}
	}
	return &apierr.Error{Status: http.StatusServiceUnavailable, Code: "object_changing",
		Message: "the object is being replaced; try again", Err: err}
}

// access tells whether obj's video is private (its layout.PrivateMarker exists). For any
// object but the master it also returns the error to answer with when the video's master.m3u8
// does not exist; a master's own Get tells that. Concurrent checks of one video share their
// Stats, and the answer for a published video is remembered for Config.PublishedTTL.
func (o *Origin) access(ctx context.Context, obj layout.Object) (private bool, err error) {
	if private, ok := o.published.has(obj.Video); ok {
		return private, nil
	}
	master := obj.Kind == layout.KindMaster
	flight := obj.Video
	if master {
		flight = "master " + obj.Video
	}
	ch := o.checks.DoChan(flight, func() (any, error) {
		// Not the first caller's context: its cancellation must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishCheckTimeout)
		defer cancel()
		prefix := layout.VideoPrefix(obj.Video)
		if !master {
			if _, err := o.stat(ctx, prefix+layout.Master); err != nil {
				return false, err
			}
		}
		_, err := o.stat(ctx, prefix+layout.PrivateMarker)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return false, err
		}
		private := err == nil
		if !master {
			o.published.add(obj.Video, private)
		}
		return private, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return false, storeError(res.Err)
		}
		return res.Val.(bool), nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// authorize checks a request's signature as the edges do: a signature, when there is one
// and a key to check it, must be right (403 bad_signature); a private video's objects need a
// signature or an edge's proof (403 signature_required). For a player's signed request for a
// private video's object it returns the signature's query, "exp=...&sig=...".
func (o *Origin) authorize(r *http.Request, obj layout.Object, private bool) (query string, err error) {
	key := o.cfg.SigningKey
	args := r.URL.Query()
	signed := args.Has("exp") || args.Has("sig")
	if signed && key != nil && signedurl.Verify(key, obj.Video, args.Get("exp"), args.Get("sig"), time.Now()) != nil {
		return "", signedurl.ErrSignatureRefused
	}
	switch {
	case !private:
		return "", nil
	case key == nil:
		return "", signedurl.ErrSignatureRequired
	case signedurl.VerifyPeer(key, obj.Path, r.Header.Get(signedurl.PeerAuthHeader)):
		return "", nil
	case !signed:
		return "", signedurl.ErrSignatureRequired
	}
	return "exp=" + url.QueryEscape(args.Get("exp")) + "&sig=" + url.QueryEscape(args.Get("sig")), nil
}

// serveSignedPlaylist answers a player's signed GET or HEAD of a private video's playlist: its
// URIs carry the signature on, so the answer is this player's alone: no validators, no
// ranges, nothing kept by any cache.
func (o *Origin) serveSignedPlaylist(ctx context.Context, w http.ResponseWriter, q request) error {
	body, info, err := o.get(ctx, q.key)
	if err != nil {
		return storeError(err)
	}
	b, err := io.ReadAll(io.LimitReader(body, maxPlaylistBytes+1))
	body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("origin: reading %s: %w", q.key, err)
	case len(b) > maxPlaylistBytes:
		return fmt.Errorf("origin: %s is larger than a playlist may be (%d bytes)", q.key, maxPlaylistBytes)
	}
	o.seen(q)
	b = signedurl.SignPlaylist(b, q.query)
	h := w.Header()
	h.Set("Cache-Control", httpsem.CacheSignedPlaylist)
	h.Set(httpsem.AccessHeader, httpsem.AccessPrivate)
	h.Set("Content-Type", contentType(q.obj.Kind, info.ContentType))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if !q.head {
		w.Write(b)
	}
	return nil
}

// maxPlaylistBytes bounds the playlists that serveSignedPlaylist reads whole: a day of 2 s
// segments is well under 4 MiB.
const maxPlaylistBytes = 4 << 20

// serveObject answers a GET or HEAD of q.key. It returns errChanged (wrapped) when the object
// was replaced between its Stat and its Get, before anything was written.
func (o *Origin) serveObject(ctx context.Context, w http.ResponseWriter, q request) error {
	if q.query != "" && q.obj.Kind.Mutable() {
		return o.serveSignedPlaylist(ctx, w, q)
	}
	h := w.Header()
	if !q.head && q.rng == "" && q.conds == (httpsem.Conditions{}) {
		// A plain GET needs only the body and its Info: one round trip.
		body, info, err := o.get(ctx, q.key)
		if err != nil {
			return storeError(err)
		}
		defer body.Close()
		o.seen(q)
		o.setHeaders(h, q, info)
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		w.WriteHeader(http.StatusOK)
		o.copyBody(ctx, w, body, q.key)
		return nil
	}

	info, err := o.stat(ctx, q.key)
	if err != nil {
		return storeError(err)
	}
	o.seen(q)
	switch q.conds.Evaluate(info.ETag, info.ModTime) {
	case http.StatusNotModified:
		o.setValidators(h, q.obj, q.private, info)
		w.WriteHeader(http.StatusNotModified)
		return nil
	case http.StatusPreconditionFailed:
		return apierr.New(http.StatusPreconditionFailed, "precondition_failed", "a precondition (If-Match, If-Unmodified-Since) does not hold")
	}
	if q.head {
		o.setHeaders(h, q, info)
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}

	partial, start, length := false, int64(0), info.Size
	if q.rng != "" && q.conds.RangeApplies(info.ETag, info.ModTime) {
		s, n, ok, err := httpsem.ParseRange(q.rng, info.Size)
		if err != nil {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
			return apierr.Errorf(http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable",
				"the range is outside the object's %d bytes", info.Size)
		}
		if ok {
			partial, start, length = true, s, n
		}
	}
	var body io.ReadCloser
	var got storage.Info
	if partial {
		body, got, err = o.getRange(ctx, q.key, start, length)
	} else {
		body, got, err = o.get(ctx, q.key)
	}
	if errors.Is(err, storage.ErrInvalidRange) {
		return fmt.Errorf("%w: %w", errChanged, err) // it shrank since the Stat
	}
	if err != nil {
		return storeError(err)
	}
	defer body.Close()
	if got.Size != info.Size || got.ETag != info.ETag {
		return errChanged
	}
	o.setHeaders(h, q, got)
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, info.Size))
	}
	w.WriteHeader(status)
	o.copyBody(ctx, w, body, q.key)
	return nil
}

// seen notes that a video is published when its master was found.
func (o *Origin) seen(q request) {
	if q.obj.Kind == layout.KindMaster {
		o.published.add(q.obj.Video, q.private)
	}
}

// setValidators sets the headers that a 304 repeats: ETag, Last-Modified and Cache-Control.
func (o *Origin) setValidators(h http.Header, obj layout.Object, private bool, info storage.Info) {
	if info.ETag != "" {
		h.Set("ETag", info.ETag)
	}
	if !info.ModTime.IsZero() {
		h.Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	}
	cc := cmp.Or(info.CacheControl, httpsem.CacheControl(obj.Kind, o.cachePlaylist))
	if private {
		cc = httpsem.PrivateCacheControl(cc)
	}
	h.Set("Cache-Control", cc)
}

// setHeaders sets the headers of a 200 or 206 (but Content-Length and Content-Range).
func (o *Origin) setHeaders(h http.Header, q request, info storage.Info) {
	o.setValidators(h, q.obj, q.private, info)
	if q.private {
		h.Set(httpsem.AccessHeader, httpsem.AccessPrivate)
	}
	h.Set("Content-Type", contentType(q.obj.Kind, info.ContentType))
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Content-Type-Options", "nosniff")
}

// contentType is the stored content type, or the one of the object's kind when none was stored.
func contentType(k layout.Kind, stored string) string {
	if stored != "" && stored != storage.DefaultContentType {
		return stored
	}
	return httpsem.ContentType(k)
}

// copyBody streams body to w. A failure here cannot be answered any more: the response is cut
// short of its Content-Length, which the client sees.
func (o *Origin) copyBody(ctx context.Context, w io.Writer, body io.Reader, key string) {
	if _, err := io.Copy(w, body); err != nil {
		o.log.Debug("response body cut short", "key", key, "client_gone", ctx.Err() != nil, "err", err)
	}
}

// storeError maps a store error to the error answered: not found is 404, anything else 502
// (504 for a timeout). A cancelled request is passed through: there is nobody to answer.
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrInvalidKey):
		return errNotFound
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return &apierr.Error{Status: http.StatusGatewayTimeout, Code: "store_timeout", Message: "the object store did not answer in time", Err: err}
	default:
		return &apierr.Error{Status: http.StatusBadGateway, Code: "store_unavailable", Message: "the object store failed", Err: err}
	}
}

func (o *Origin) stat(ctx context.Context, key string) (storage.Info, error) {
	defer o.metrics.observeStore("stat", time.Now())
	return o.cfg.Store.Stat(ctx, key)
}

func (o *Origin) get(ctx context.Context, key string) (io.ReadCloser, storage.Info, error) {
	defer o.metrics.observeStore("get", time.Now())
	return o.cfg.Store.Get(ctx, key)
}

func (o *Origin) getRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Info, error) {
	defer o.metrics.observeStore("get_range", time.Now())
	return o.cfg.Store.GetRange(ctx, key, offset, length)
}
