// Package live is reelay's live tier: creators publish over WebRTC with WHIP (RFC 9725), and
// each stream is packaged as it arrives into low-latency HLS that players fetch through the
// origin and the edges.
//
// # WHIP
//
// POST /v1/live/whip (Path) with an SDP offer (Content-Type application/sdp) and the creator's
// bearer token starts a session. The offer must offer H.264 video in packetization mode 1; Opus
// audio is taken when offered. The answer is 201 with the SDP answer, ICE candidates included
// (the server gathers them all before it answers: no trickle from its side), a Location of the
// session (/v1/live/whip/{session}) and a Link to the playback URL:
//
//	Link: <https://edge.example/v/live/{stream}/index.m3u8>; rel="alternate"; type="application/vnd.apple.mpegurl"
//
// DELETE of the Location ends the session; PATCH (trickle ICE, ICE restarts) is answered 405:
// the server's candidates are in its answer, and a client's late candidates are not needed on
// the networks it serves (a publisher behind NAT reaches the server's host or announced
// address). OPTIONS answers CORS preflights and exposes Location and Link, so that a page on
// another origin can publish. Errors are JSON (internal/apierr): 400 malformed_sdp, 401,
// 409 already_live (one session per creator, on any node with Config.Directory), 415 (not
// application/sdp), 422 no_h264, 503 too_many_sessions (Config.MaxSessions).
//
// With Config.Recordings, each session is also recorded as it arrives (H.264 and Opus in
// MPEG-TS, in Config.RecordDir), and the recording is handed to Recordings when the session
// ends, however it ends: in `reelay up`, the pipeline takes it as an upload of the creator,
// whose video id is the stream's, and transcodes and publishes it like any other. The
// recording reaches its file at least every quarter of a second; if the process dies
// mid-stream, the next Server on the same RecordDir hands it over at start (Run), its
// creator known from the Directory.
//
// With Config.Directory (the live_streams table), every stream is listed for the feeds of
// every node while it is live: written when its session is answered, beaten for every
// Config.Heartbeat, marked ended with it (see Directory).
//
// A session ends on DELETE, when its ICE connection fails (the publisher vanished: after
// Config.ICEFailedTimeout without a packet), when its incoming bitrate stays above
// Config.MaxBitrate, and when the Server closes.
//
// # Packaging
//
// Each session's RTP is depacketised (pion) and muxed by gohlslib's Muxer, low-latency
// variant, fMP4: segments of about 1 s (the server asks the publisher for a key frame every
// Config.KeyframeInterval with an RTCP PLI, since WebRTC encoders send them only on demand),
// parts of about 200 ms, EXT-X-PART, EXT-X-PRELOAD-HINT and blocking playlist reloads
// (_HLS_msn, _HLS_part). Opus audio is kept as Opus in fMP4 (hls.js plays it in Chromium and
// Firefox; Safari plays Opus in fMP4 since 17), rather than transcoded to AAC. The muxer holds
// the stream in memory in the process that took the WHIP session, and Streams serves it at
// /v/live/{stream}/...; the origin mounts Streams (origin.Config.Live), and edges fetch from
// the origin. The stream is not written to the object store.
package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/storage"
)

// Path is where WHIP sessions are created; a session's resource is Path + "/" + its id.
const Path = "/v1/live/whip"

// Defaults of Config.
const (
	DefaultMaxSessions       = 16
	DefaultMaxBitrate        = 8_000_000
	DefaultKeyframeInterval  = time.Second
	DefaultICEFailedTimeout  = 10 * time.Second
	DefaultRetryEvery        = 30 * time.Second
	DefaultSegmentDuration   = time.Second
	DefaultPartDuration      = 200 * time.Millisecond
	bitrateWindow            = 4 * time.Second
	iceDisconnectedFraction  = 2 // ICE is "disconnected" after ICEFailedTimeout/this
	keepAliveInterval        = 2 * time.Second
	answerGatheringTimeout   = 10 * time.Second
	sampleBuilderMaxLateRTPs = 256
)

// Config configures a Server.
type Config struct {
	// PlaybackURL is the base URL players fetch HLS from (an edge, or the origin), for the
	// Link header: {PlaybackURL}/v/live/{stream}/index.m3u8. Required.
	PlaybackURL string
	// MaxSessions caps the sessions live at once; one more is answered 503. Default
	// DefaultMaxSessions (16).
	MaxSessions int
	// MaxBitrate caps a session's incoming media, in bits per second averaged over 4 s; a
	// session above it is ended. Default DefaultMaxBitrate (8 Mb/s); negative: no cap.
	MaxBitrate int64
	// KeyframeInterval is how often the server asks the publisher for a key frame (RTCP PLI),
	// which bounds the segments' duration. Default DefaultKeyframeInterval (1 s).
	KeyframeInterval time.Duration
	// SegmentDuration and PartDuration are the LL-HLS segments' and parts' minimum durations.
	// Defaults DefaultSegmentDuration (1 s) and DefaultPartDuration (200 ms).
	SegmentDuration, PartDuration time.Duration

	// ICE: how publishers reach the server.

	// UDPPortMin and UDPPortMax bound the UDP ports of the sessions' ICE candidates (open them
	// in the firewall). Default 0 and 0: any ephemeral port.
	UDPPortMin, UDPPortMax uint16
	// PublicIPs are the addresses announced in the candidates instead of the host's own, for a
	// server behind a 1:1 NAT (a cloud VM's public IP). Default none: the host's addresses.
	PublicIPs []string
	// ICEServers are STUN (and TURN) servers the server gathers reflexive (relayed)
	// candidates through, such as "stun:stun.example.net:3478". Default none.
	ICEServers []string
	// IPs restricts the local addresses candidates are gathered on. Default none: every
	// address of every interface except loopback; naming a loopback address (127.0.0.1)
	// gathers on it, for a publisher on the same machine.
	IPs []string
	// ICEFailedTimeout is how long a session lives without hearing from its publisher before
	// it ends (a publisher that vanished without DELETE). Default DefaultICEFailedTimeout (10 s).
	ICEFailedTimeout time.Duration

	// Recordings takes each session's recording when it ends (see Recording), and RecordDir
	// is where the recordings are written meanwhile: on the store's file system, Publish can
	// rename them into it. Both or neither. Default nil and "": nothing is recorded.
	Recordings Recordings
	RecordDir  string

	// Directory, when set, is where the sessions' streams are listed for every feed node: a
	// stream's row when its session is answered, a heartbeat every Heartbeat while it is on,
	// its end, and when its recording was handed over. With Recordings too, Run hands the
	// recordings that an earlier run of this process left in RecordDir (it died mid-stream,
	// or mid-hand-over) to Recordings, as their sessions would have when they ended: the
	// Directory knows whose they are. Default nil: the streams are known to this process
	// only, and a recording left behind stays where it is.
	Directory *Directory
	// Heartbeat is how often the streams' rows are marked alive in the Directory, well
	// within its DirectoryConfig.Fresh. Default DefaultHeartbeat (5 s).
	Heartbeat time.Duration
	// RetryEvery is how often a recording is handed to Recordings again after a failure that
	// is not the recording's own (the store or the database out of reach): its file is kept
	// meanwhile, and one still waiting when the process stops goes with the next run's
	// recovery (with a Directory). Default DefaultRetryEvery (30 s).
	RetryEvery time.Duration

	// Store, when set, receives each stream as the muxer makes it, under layout.LiveKey
	// (live/{stream}/...): its playlists, init files, parts and segments, those that leave
	// the playlists deleted, and the whole stream once the session ends; an origin without
	// Streams serves it from there (origin.Config.Live nil). Default nil: the stream is only
	// in the memory of this process.
	Store storage.Store

	// Logger receives the sessions' logs. Default: discarded.
	Logger *slog.Logger
	// Registerer receives the live tier's metrics: reelay_live_sessions (live now),
	// reelay_live_sessions_ended_total{reason} and reelay_live_recordings_total{result}
	// (published, dropped: nothing recorded, failed). Default nil: not registered.
	Registerer prometheus.Registerer
}

// Server takes WHIP sessions and packages them into the Streams it was given.
type Server struct {
	cfg     Config
	log     *slog.Logger
	api     *webrtc.API
	streams *Streams

	ended      *prometheus.CounterVec // by reason
	recordings *prometheus.CounterVec // by result

	// leftovers are the recordings found in RecordDir by New, before any session of this
	// process: an earlier run's, which Run hands over; created is when New ran.
	leftovers []string
	created   time.Time

	mu        sync.Mutex
	sessions  map[string]*session // by session id
	byCreator map[int64]*session
	closed    bool
	retries   []Recording    // hand-overs that failed for a passing reason, to try again
	wg        sync.WaitGroup // the sessions' goroutines, and the hand-over of the leftovers
}

// New validates cfg and returns a Server that packages into streams.
func New(cfg Config, streams *Streams) (*Server, error) {
	if cfg.PlaybackURL == "" {
		return nil, errors.New("live: Config.PlaybackURL is required")
	}
	if streams == nil {
		return nil, errors.New("live: streams is required")
	}
	if (cfg.Recordings == nil) != (cfg.RecordDir == "") {
		return nil, errors.New("live: Config.Recordings and Config.RecordDir go together")
	}
	var leftovers []string
	if cfg.RecordDir != "" {
		if err := os.MkdirAll(cfg.RecordDir, 0o755); err != nil {
			return nil, fmt.Errorf("live: %w", err)
		}
		var err error
		if cfg.RecordDir, err = filepath.Abs(cfg.RecordDir); err != nil { // the Directory names its files
			return nil, fmt.Errorf("live: %w", err)
		}
		if leftovers, err = leftRecordings(cfg.RecordDir); err != nil {
			return nil, err
		}
	}
	cfg.PlaybackURL = strings.TrimSuffix(cfg.PlaybackURL, "/")
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxBitrate == 0 {
		cfg.MaxBitrate = DefaultMaxBitrate
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = DefaultKeyframeInterval
	}
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = DefaultSegmentDuration
	}
	if cfg.PartDuration <= 0 {
		cfg.PartDuration = DefaultPartDuration
	}
	if cfg.ICEFailedTimeout <= 0 {
		cfg.ICEFailedTimeout = DefaultICEFailedTimeout
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = DefaultRetryEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	api, err := newAPI(cfg)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		cfg: cfg, log: cfg.Logger.With("tier", "live"), api: api, streams: streams, leftovers: leftovers, created: time.Now(),
		sessions: map[string]*session{}, byCreator: map[int64]*session{},
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_live_sessions_ended_total", Help: "Live sessions ended, by why.",
		}, []string{"reason"}),
		recordings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_live_recordings_total", Help: "Recordings of ended live sessions, by what became of them.",
		}, []string{"result"}),
	}
	if cfg.Registerer != nil {
		live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reelay_live_sessions", Help: "Live sessions now."},
			func() float64 { return float64(srv.Sessions()) })
		for _, c := range []prometheus.Collector{live, srv.ended, srv.recordings} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("live: metrics: %w", err)
			}
		}
	}
	return srv, nil
}

// newAPI builds the pion API of the sessions: H.264 and Opus only, the ICE settings of cfg.
func newAPI(cfg Config) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	for i, profile := range []string{"42e01f", "42001f", "4d001f", "640032", "64001f"} {
		err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
				RTCPFeedback: fb,
			},
			PayloadType: webrtc.PayloadType(102 + 2*i),
		}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			return nil, fmt.Errorf("live: %w", err)
		}
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetICETimeouts(cfg.ICEFailedTimeout/iceDisconnectedFraction, cfg.ICEFailedTimeout, keepAliveInterval)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("live: UDP port range: %w", err)
		}
	}
	if len(cfg.PublicIPs) > 0 {
		for _, ip := range cfg.PublicIPs {
			if net.ParseIP(ip) == nil {
				return nil, fmt.Errorf("live: public IP %q is not an IP address", ip)
			}
		}
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	if len(cfg.IPs) > 0 {
		allowed := map[string]bool{}
		loopback := false
		for _, s := range cfg.IPs {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("live: IP %q is not an IP address", s)
			}
			allowed[ip.String()] = true
			loopback = loopback || ip.IsLoopback()
		}
		se.SetIPFilter(func(ip net.IP) bool { return allowed[ip.String()] })
		se.SetIncludeLoopbackCandidate(loopback)
	}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Handler serves Path and the sessions under it. It expects the API's bearer-token middleware
// in front of it (auth.FromContext).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		CORS(w.Header(), r.Method == http.MethodOptions)
		apierr.Handler(s.log, s.serve).ServeHTTP(w, r)
	})
}

// CORS sets the CORS headers of the WHIP resources, those of a preflight's answer too when
// preflight: a publishing page on any origin, with its bearer token. The API sets them before
// its bearer-token middleware, so that a page can read a 401 as well.
func CORS(h http.Header, preflight bool) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch")
	if preflight {
		h.Set("Access-Control-Allow-Methods", "POST, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		h.Set("Access-Control-Max-Age", "86400")
	}
}

var (
	errUnauthenticated = apierr.New(http.StatusUnauthorized, "unauthenticated", "going live needs the creator's bearer token")
	errNotCreator      = apierr.New(http.StatusForbidden, "not_a_creator", "the admin token has no account to go live as")
	errNoSession       = apierr.New(http.StatusNotFound, "not_found", "no such live session")
	errTooMany         = apierr.New(http.StatusServiceUnavailable, "too_many_sessions", "the server takes no more live sessions now; try again later")
	errAlreadyLive     = apierr.New(http.StatusConflict, "already_live", "this creator already has a live session; DELETE it first")
	errClosed          = apierr.New(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.Path, Path)
	if !ok {
		return errNoSession
	}
	if rest == "" || rest == "/" {
		switch r.Method {
		case http.MethodOptions:
			w.Header().Set("Allow", "POST, OPTIONS")
			w.Header().Set("Accept-Post", "application/sdp")
			w.WriteHeader(http.StatusNoContent)
			return nil
		case http.MethodPost:
			return s.create(w, r)
		}
		w.Header().Set("Allow", "POST, OPTIONS")
		return apierr.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed; POST an SDP offer", r.Method)
	}
	id := strings.TrimPrefix(rest, "/")
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Allow", "DELETE, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		return s.delete(w, r, id)
	}
	w.Header().Set("Allow", "DELETE, OPTIONS")
	return apierr.Errorf(http.StatusMethodNotAllowed, "method_not_allowed",
		"%s is not allowed; trickle ICE (PATCH) is not supported: the answer carries every candidate", r.Method)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) error {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		return errUnauthenticated
	}
	if p.UserID == 0 {
		return errNotCreator
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/sdp" {
		return apierr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be an SDP offer, Content-Type application/sdp")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOfferBytes+1))
	if err != nil {
		return apierr.New(http.StatusBadRequest, "bad_body", "the offer could not be read")
	}
	if len(body) > maxOfferBytes {
		return apierr.Errorf(http.StatusRequestEntityTooLarge, "offer_too_large", "the offer is larger than %d bytes", maxOfferBytes)
	}
	info, err := checkOffer(body)
	switch {
	case errors.Is(err, ErrNoH264):
		return &apierr.Error{Status: http.StatusUnprocessableEntity, Code: "no_h264", Message: "the offer has no H.264 video (packetization-mode=1); live streams need H.264", Err: err}
	case err != nil:
		return &apierr.Error{Status: http.StatusBadRequest, Code: "malformed_sdp", Message: err.Error(), Err: err}
	}

	sess, err := s.reserve(p)
	if err != nil {
		return err
	}
	answer, err := sess.start(r.Context(), string(body), info)
	if err != nil {
		s.end(sess, endSetupFailed)
		return &apierr.Error{Status: http.StatusBadRequest, Code: "negotiation_failed", Message: "the offer could not be answered: " + err.Error(), Err: err}
	}
	playback := s.cfg.PlaybackURL + layout.LivePath(sess.stream, layout.LiveMaster)
	if dir := s.cfg.Directory; dir != nil {
		// Before it is answered: a crash from now on leaves a recording the next run knows.
		recording := ""
		if sess.rec != nil {
			recording = sess.rec.path
		}
		// The session may end meanwhile (the server stopping): its end is written after its
		// start (dirMu), and a session already ending writes none.
		sess.dirMu.Lock()
		sess.mu.Lock()
		err := error(nil)
		if sess.ended {
			err = errClosed
		}
		sess.mu.Unlock()
		if err == nil {
			err = dir.started(r.Context(), Stream{ID: sess.stream, UserID: sess.user, PlaybackURL: playback, StartedAt: sess.startedAt}, recording)
		}
		sess.dirMu.Unlock()
		if err != nil {
			s.end(sess, endSetupFailed)
			return err
		}
	}
	s.mu.Lock()
	sess.answered = true
	closed := s.closed // Close ends this session too: the server stopped while it was set up
	s.mu.Unlock()
	if closed {
		return errClosed
	}
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", Path+"/"+sess.id)
	h.Set("Link", fmt.Sprintf(`<%s>; rel="alternate"; type="application/vnd.apple.mpegurl"`, playback))
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	s.log.Info("live session started", "session", sess.id, "stream", sess.stream, "user", p.UserID, "opus", info.opus)
	return nil
}

// reserve registers a new session of p, within the limits.
func (s *Server) reserve(p auth.Principal) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, errClosed
	case s.byCreator[p.UserID] != nil:
		return nil, errAlreadyLive
	case len(s.sessions) >= s.cfg.MaxSessions:
		return nil, errTooMany
	}
	sess := &session{srv: s, id: videoid.New(), stream: videoid.New(), user: p.UserID, done: make(chan struct{})}
	s.sessions[sess.id] = sess
	s.byCreator[p.UserID] = sess
	s.wg.Add(1) // Done when the session closes
	return sess, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, id string) error {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		return errUnauthenticated
	}
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	// Another creator's session is not found either: its id is not for them to learn of.
	if sess == nil || (sess.user != p.UserID && !p.Admin) {
		return errNoSession
	}
	s.end(sess, endDeleted)
	w.WriteHeader(http.StatusOK)
	return nil
}

// Why sessions end: the reason label of reelay_live_sessions_ended_total.
const (
	endDeleted      = "deleted"       // DELETE of its Location
	endICEFailed    = "ice_failed"    // the publisher went silent for ICEFailedTimeout
	endClosed       = "closed"        // the publisher closed its connection
	endBitrate      = "bitrate"       // above MaxBitrate
	endServerClosed = "server_closed" // the Server closed
	endSetupFailed  = "setup_failed"  // its offer could not be answered
)

// end ends sess once, for reason (one of the end* codes), and forgets it.
func (s *Server) end(sess *session, reason string) {
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
		delete(s.byCreator, sess.user)
	}
	s.mu.Unlock()
	sess.close(reason)
}

// Stream is a live stream, as the Directory lists it.
type Stream struct {
	ID          string // the stream's id (internal/videoid), also its recording's video id
	UserID      int64  // its creator
	PlaybackURL string // its multivariant playlist, on Config.PlaybackURL
	StartedAt   time.Time
}

// Sessions returns the number of sessions live now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Run hands the recordings an earlier run left behind to Config.Recordings (see
// Config.Directory), and again those whose hand-over failed (Config.RetryEvery), keeps the
// Directory's heartbeats of the streams while ctx lasts (each given one Heartbeat to finish),
// then ends every session: see Close.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.Directory != nil && s.cfg.Recordings != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.recoverRecordings(ctx)
		}()
	}
	if s.cfg.Recordings != nil {
		retried := make(chan struct{})
		go func() {
			defer close(retried)
			s.retryRecordings(ctx)
		}()
		defer func() { <-retried }()
	}
	if s.cfg.Directory != nil {
		t := time.NewTicker(s.cfg.Heartbeat)
		defer t.Stop()
		for done := false; !done; {
			select {
			case <-ctx.Done():
				done = true
			case <-t.C:
				bctx, cancel := context.WithTimeout(ctx, s.cfg.Heartbeat) // a hung database does not hold the next beats
				if err := s.cfg.Directory.beat(bctx, s.liveIDs()); err != nil && ctx.Err() == nil {
					s.log.Warn("live heartbeat", "err", err)
				}
				cancel()
			}
		}
	}
	<-ctx.Done()
	s.Close()
	return nil
}

// liveIDs returns the ids of the streams live now.
func (s *Server) liveIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, sess := range s.sessions {
		if sess.answered {
			ids = append(ids, sess.stream)
		}
	}
	return ids
}

// Close ends every session, refuses new ones and waits for the sessions' goroutines. The
// sessions end together: each waits on its own for the Directory and the Store.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var all []*session
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	var ending sync.WaitGroup
	for _, sess := range all {
		ending.Go(func() { s.end(sess, endServerClosed) })
	}
	ending.Wait()
	s.wg.Wait()
	return nil
}
