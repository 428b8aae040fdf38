// Package ingest is reelay's upload tier: a tus 1.0.0 resumable upload server
// (https://tus.io/protocols/resumable-upload) at /v1/uploads/, with the creation,
// creation-with-upload, creation-defer-length, termination, checksum and expiration extensions.
//
// The state of every upload lives in the database (table uploads) and its bytes in one file
// per upload under Config.Dir, so that an upload survives a restart: a PATCH streams its body
// to the file, fsyncs it, and only then records the new offset. Bytes that reached the file
// but not the database (a crash in between) are cut off on the next write, so a resuming
// client continues at the recorded offset with no byte lost or repeated.
//
// An upload's id is also the id of the video it becomes. When the last byte has arrived the
// upload is finished: the Pipeline accepts it (quick checks: is it a video at all?) before the
// request that finished it is answered, and then takes its bytes in the background (HandOver),
// so that the client never waits for a copy. Run expires abandoned uploads and retries
// hand-overs that failed or that a crash interrupted.
//
// Several API nodes may share the database behind one balancer: each upload's bytes stay on
// the node that created it (Config.NodeURL), and a request for the upload that reaches
// another node is passed to that one (forward.go), so the balancer needs no affinity.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
)

// Path is where the handler expects to be mounted: uploads are created by a POST to Path
// (with or without its trailing slash) and live at Path + id.
const Path = "/v1/uploads/"

// Config configures a Handler. Only Dir is required.
type Config struct {
	// Dir is the staging directory, one file per upload, named by the upload's id. It is
	// created (mode 0700) if missing. Required.
	Dir string
	// MaxSize is the largest upload accepted, in bytes; advertised as Tus-Max-Size.
	// Default 4 GiB.
	MaxSize int64
	// TTL is how long an unfinished upload lives without progress: every stored chunk moves
	// its expiry to TTL from then. Expired uploads lose their bytes and answer 410.
	// Default 24h.
	TTL time.Duration
	// GCInterval is how often Run removes expired uploads and retries failed hand-overs.
	// Default 1m.
	GCInterval time.Duration
	// Retention is how long the record of a handed-over, rejected, expired or terminated
	// upload is kept, so that clients asking about it get a meaningful answer. Staged bytes
	// still present then (a hand-over that never succeeded) are deleted with it.
	// Default 7 days.
	Retention time.Duration
	// ChunkIdleTimeout bounds the wait for each read of a request body: a client that stalls
	// for longer loses its connection, the bytes stored so far are kept, and the upload is
	// free for the next request. Default 30s.
	ChunkIdleTimeout time.Duration
	// AcceptTimeout bounds one call of Pipeline.Accept, which the client waits for. Default 2m.
	AcceptTimeout time.Duration
	// HandOverTimeout bounds one call of Pipeline.HandOver, which copies the whole upload when
	// the pipeline's store is remote. Default 1h.
	HandOverTimeout time.Duration
	// Quota bounds what one creator may have in flight: unfinished uploads, their bytes, and
	// uploads per day. Default: see Quota.
	Quota Quota
	// PublicURL is the base URL clients reach the API at, such as "https://api.example.com"
	// (a path prefix is kept: "https://example.com/reelay"): an upload's Location is
	// PublicURL + Path + id. Default "": the host that a trusted proxy forwards (see
	// TrustedProxies), else a relative Location (Path + id), which clients resolve against the
	// URL they created the upload at. The request's Host header is never used.
	PublicURL string
	// TrustedProxies are the peers whose X-Forwarded-Proto, X-Forwarded-Host and Forwarded
	// (RFC 7239) headers are believed when building an upload's URL without a PublicURL. They
	// must overwrite those headers, not pass on the client's. Default: none, the headers are
	// ignored.
	TrustedProxies []netip.Prefix
	// NodeURL is the base URL at which the other API nodes reach this one, such as
	// "http://10.0.0.1:8080", for API nodes that share a database behind one balancer. Each
	// upload records the node that stages its bytes; a request for it that arrives at another
	// node is passed to that one (see forward), so that a balancer may send the chunks of one
	// upload to any node. Default "": a single node, which serves every upload itself.
	NodeURL string
	// Registerer receives the handler's metrics. Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger receives the handler's logs. Default nil: discarded.
	Logger *slog.Logger
}

// Pipeline takes the finished uploads; *pipeline.Pipeline is one.
type Pipeline interface {
	// Accept runs the quick checks of a finished upload before the request that finished it
	// is answered, so that the client learns at once whether it is a video at all. An error
	// wrapping an *apierr.Error with a 4xx status refuses the upload for good: the client gets
	// that error, the bytes are deleted, and later requests for the upload answer 410 with its
	// code and message. Any other error leaves the upload finished: the client gets it (500
	// unless it is an *apierr.Error), and Run calls Accept again every GCInterval until it
	// succeeds or refuses. Accept may see one upload more than once (also after a crash): it
	// must be idempotent, keyed on u.ID.
	Accept(ctx context.Context, u Upload) error
	// HandOver takes the bytes of an accepted upload, at u.Path, by moving or copying them;
	// whatever is left there once it returns nil is deleted, and the upload is complete. It
	// runs in the background, after the client has been answered, and again from Run (after
	// Accept) when it failed or a crash interrupted it, until it returns nil: it must be
	// idempotent too. Failures that trying again cannot mend are the pipeline's to record, on
	// the video, and then to return nil.
	HandOver(ctx context.Context, u Upload) error
}

// Upload is a finished upload as the Pipeline sees it.
type Upload struct {
	ID         string            // the upload's id, also the id of its video (internal/videoid)
	Owner      int64             // user id of the creator
	Size       int64             // bytes
	Metadata   map[string]string // every Upload-Metadata pair, decoded
	Path       string            // the staged file, until HandOver has taken it
	Filename   string            // "filename" metadata, "" if none
	Filetype   string            // "filetype" metadata (a MIME type as the client saw it), "" if none
	Caption    string            // "caption" metadata, "" if none; see Hashtags
	Visibility video.Visibility  // "visibility" metadata; video.Public when none
	CreatedAt  time.Time
}

// Handler serves the tus protocol and owns the staged uploads.
type Handler struct {
	cfg      Config
	uploads  *Uploads
	pipeline Pipeline // nil: a finished upload is complete at once
	log      *slog.Logger
	locks    locks
	peers    http.RoundTripper // to the other nodes, for forward
	m        metrics
	now      func() time.Time
	bufs     sync.Pool // *[]byte of copyBufferSize

	// The hand-overs running in the background, which Run stops and waits for when it ends.
	// bgMu orders the start of one (handovers.Add) before Run's wait, or after its stop.
	bgMu      sync.Mutex
	bg        context.Context
	stopBG    context.CancelFunc
	handovers sync.WaitGroup
}

var _ http.Handler = (*Handler)(nil)

// Defaults of Config.
const (
	DefaultMaxSize          = 4 << 30
	DefaultTTL              = 24 * time.Hour
	DefaultGCInterval       = time.Minute
	DefaultRetention        = 7 * 24 * time.Hour
	DefaultChunkIdleTimeout = 30 * time.Second
	DefaultAcceptTimeout    = 2 * time.Minute
	DefaultHandOverTimeout  = time.Hour
)

// copyBufferSize is the one buffer a PATCH streams its body through: 1 MiB per upload in
// progress. A quarter of that cost a third of the throughput over loopback (bench/upload), in
// the reads and wake-ups of smaller reads.
const copyBufferSize = 1 << 20

// New returns a Handler storing upload states in d and handing finished uploads to p, with
// cfg's defaults filled in. A nil p completes finished uploads at once. It creates cfg.Dir if
// needed and checks that it can write there.
func New(cfg Config, d *db.DB, p Pipeline) (*Handler, error) {
	if d == nil {
		return nil, errors.New("ingest: a database is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("ingest: Config.Dir is required")
	}
	if cfg.MaxSize < 0 {
		return nil, fmt.Errorf("ingest: Config.MaxSize %d is negative", cfg.MaxSize)
	}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, errors.New("ingest: Config.TrustedProxies holds an invalid prefix")
		}
	}
	publicURL, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	cfg.PublicURL = publicURL
	if cfg.NodeURL, err = parseNodeURL(cfg.NodeURL); err != nil {
		return nil, err
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	quota, err := cfg.Quota.withDefaults(cfg.MaxSize)
	if err != nil {
		return nil, err
	}
	cfg.Quota = quota
	setDefault(&cfg.TTL, DefaultTTL)
	setDefault(&cfg.GCInterval, DefaultGCInterval)
	setDefault(&cfg.Retention, DefaultRetention)
	setDefault(&cfg.ChunkIdleTimeout, DefaultChunkIdleTimeout)
	setDefault(&cfg.AcceptTimeout, DefaultAcceptTimeout)
	setDefault(&cfg.HandOverTimeout, DefaultHandOverTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("ingest: staging directory: %w", err)
	}
	cfg.Dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest: staging directory: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("ingest: staging directory is not writable: %w", err)
	}
	probe.Close()
	os.Remove(probe.Name())

	h := &Handler{
		cfg:      cfg,
		uploads:  NewUploads(d),
		pipeline: p,
		log:      cfg.Logger.With("tier", "ingest"),
		m:        newMetrics(),
		now:      time.Now,
		peers:    http.DefaultTransport.(*http.Transport).Clone(),
		bufs:     sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }},
	}
	h.bg, h.stopBG = context.WithCancel(context.Background())
	if cfg.Registerer != nil {
		for _, c := range h.m.collectors() {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: metrics: %w", err)
			}
		}
	}
	return h, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Handler returns the tus endpoint. It expects auth.Authenticator's middleware in front of
// it: every request but OPTIONS needs a principal.
func (h *Handler) Handler() http.Handler { return h }

// stagedPath is where upload id's bytes are staged.
func (h *Handler) stagedPath(id string) string { return filepath.Join(h.cfg.Dir, id) }

// removeStaged deletes upload id's staged file, if any.
func (h *Handler) removeStaged(id string) error {
	if err := os.Remove(h.stagedPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ingest: remove staged upload %s: %w", id, err)
	}
	return nil
}

type metrics struct {
	created, finished, terminated, expired, rejected prometheus.Counter
	handOverFailures, bytes, quotaRefused, forwarded prometheus.Counter
}

func newMetrics() metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "reelay_ingest_" + name, Help: help})
	}
	return metrics{
		created:          counter("uploads_created_total", "Uploads created."),
		finished:         counter("uploads_finished_total", "Uploads that received all their bytes."),
		terminated:       counter("uploads_terminated_total", "Uploads deleted by their owner before they finished."),
		expired:          counter("uploads_expired_total", "Unfinished uploads removed after their expiry."),
		rejected:         counter("uploads_rejected_total", "Finished uploads that the pipeline refused."),
		handOverFailures: counter("handover_failures_total", "Hand-overs of accepted uploads to the pipeline that failed, to be tried again."),
		bytes:            counter("received_bytes_total", "Upload bytes received and stored."),
		quotaRefused:     counter("quota_refused_total", "Uploads refused because their creator was over a quota."),
		forwarded:        counter("forwarded_requests_total", "Requests for an upload staged on another API node, passed to it."),
	}
}

func (m metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.created, m.finished, m.terminated, m.expired, m.rejected, m.handOverFailures, m.bytes, m.quotaRefused, m.forwarded}
}
