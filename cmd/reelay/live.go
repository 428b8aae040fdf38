package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/live"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/storage"
)

// liveFlags are the flags of the live tier (WHIP sessions), on `reelay up` and `reelay ingest`.
type liveFlags struct {
	maxSessions int
	maxBitrate  int64
	udpPorts    string // "MIN-MAX"
	publicIPs   string // comma-separated
	ips         string // comma-separated
	iceServers  string // comma-separated
}

// register adds the flags; ips is the default of --live-ips.
func (l *liveFlags) register(fs *flag.FlagSet, ips string) {
	fs.IntVar(&l.maxSessions, "live-max-sessions", live.DefaultMaxSessions, "live (WHIP) sessions at once; one more is answered 503")
	fs.Int64Var(&l.maxBitrate, "live-max-bitrate", live.DefaultMaxBitrate, "incoming bits per second a live session may average over 4 s before it is ended; -1 for no cap")
	fs.StringVar(&l.udpPorts, "live-udp-ports", "", "UDP port range MIN-MAX of live sessions' ICE candidates (open it in the firewall); empty for any ephemeral port")
	fs.StringVar(&l.publicIPs, "live-public-ip", "", "comma-separated public IPs to announce in live sessions' ICE candidates, for a server behind a 1:1 NAT")
	fs.StringVar(&l.ips, "live-ips", ips, "comma-separated local IPs that live sessions gather ICE candidates on; empty for every interface's but loopback")
	fs.StringVar(&l.iceServers, "live-ice-servers", "", "comma-separated STUN/TURN URLs (stun:host:port) for live sessions' reflexive candidates")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (l *liveFlags) validate() error {
	if l.maxSessions < 1 {
		return usagef("invalid --live-max-sessions %d: want at least 1", l.maxSessions)
	}
	if _, _, err := l.ports(); err != nil {
		return err
	}
	for _, name := range []string{"live-public-ip", "live-ips"} {
		v := l.publicIPs
		if name == "live-ips" {
			v = l.ips
		}
		for _, ip := range splitList(v) {
			if net.ParseIP(ip) == nil {
				return usagef("invalid --%s: %q is not an IP address", name, ip)
			}
		}
	}
	return nil
}

func (l *liveFlags) ports() (uint16, uint16, error) {
	if l.udpPorts == "" {
		return 0, 0, nil
	}
	lo, hi, ok := strings.Cut(l.udpPorts, "-")
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if !ok || err1 != nil || err2 != nil || a == 0 || a > b {
		return 0, 0, usagef("invalid --live-udp-ports %q: want MIN-MAX, such as 50000-50100", l.udpPorts)
	}
	return uint16(a), uint16(b), nil
}

func (l *liveFlags) config(playbackURL string, log *slog.Logger) live.Config {
	lo, hi, _ := l.ports() // validated
	return live.Config{
		PlaybackURL: playbackURL, MaxSessions: l.maxSessions, MaxBitrate: l.maxBitrate,
		UDPPortMin: lo, UDPPortMax: hi, PublicIPs: splitList(l.publicIPs), IPs: splitList(l.ips),
		ICEServers: splitList(l.iceServers), Logger: log,
	}
}

// liveIngest is the live (WHIP) half of the upload routes, which reelay ingest and reelay api
// share: on with --live-playback-url.
type liveIngest struct {
	flags    liveFlags
	playback string
}

func (l *liveIngest) register(fs *flag.FlagSet) {
	fs.StringVar(&l.playback, "live-playback-url", "", "base URL of the edges players fetch live streams from; set, it takes WHIP sessions at /v1/live/whip, copies their streams into the store as they are made, and serves them at /v/live/ too (reelay origin --live-url); empty: no live")
	l.flags.register(fs, "")
}

func (l *liveIngest) validate() error {
	if err := checkURL("live-playback-url", l.playback); err != nil {
		return err
	}
	return l.flags.validate()
}

// liveTier is the live server of a process and the streams it packages; zero without live.
type liveTier struct {
	srv     *live.Server
	streams *live.Streams
}

// start makes the live tier of the process: its recordings handed to pipe, its streams copied
// into store so that any origin serves them, and listed in dir. Zero without
// --live-playback-url.
func (l *liveIngest) start(pipe *pipeline.Pipeline, store storage.Store, dir *live.Directory, recordDir string, reg prometheus.Registerer, log *slog.Logger) (liveTier, error) {
	if l.playback == "" {
		return liveTier{}, nil
	}
	streams := live.NewStreams()
	lc := l.flags.config(l.playback, log)
	lc.Recordings, lc.RecordDir, lc.Store, lc.Directory, lc.Registerer = liveRecordings{pipe}, recordDir, store, dir, reg
	srv, err := live.New(lc, streams)
	if err != nil {
		return liveTier{}, err
	}
	return liveTier{srv, streams}, nil
}

// mount serves the WHIP endpoint and the streams on the API listener of cfg.
func (t liveTier) mount(cfg *api.Config) {
	if t.srv != nil {
		cfg.Live, cfg.LiveStreams = t.srv.Handler(), t.streams
	}
}

// runs is what runs beside the API: the live server, if any.
func (t liveTier) runs() []func(context.Context) error {
	if t.srv == nil {
		return nil
	}
	return []func(context.Context) error{t.srv.Run}
}

// liveRecordings hands each live session's recording to the pipeline as an upload of its
// creator (live.Recordings): accepted (probed, the video row created), then handed over
// (moved into the store, the transcode job queued), like the last PATCH of a tus upload.
type liveRecordings struct{ pipe *pipeline.Pipeline }

func (l liveRecordings) Publish(ctx context.Context, r live.Recording) error {
	u := ingest.Upload{
		ID: r.ID, Owner: r.Owner, Size: r.Size, Path: r.Path, Filename: "live.ts", Filetype: "video/mp2t",
		Caption: "Live " + r.StartedAt.UTC().Format("2006-01-02 15:04"), Visibility: video.Public, CreatedAt: r.StartedAt,
	}
	if err := l.pipe.Accept(ctx, u); err != nil {
		return err
	}
	return l.pipe.HandOver(ctx, u)
}

// liveDirectory is the live streams of every node, in the database d: what the live tier of
// a process writes, and what its feed reads (feed.Config.LiveNow, through liveNow). One
// Directory serves both in a process, so that a stream it takes is listed at once.
func liveDirectory(d *db.DB) *live.Directory {
	dir, _ := live.NewDirectory(d, live.DirectoryConfig{}) // fails only without d
	return dir
}

// liveNow adapts the live streams of dir for the feed (feed.Config.LiveNow): those of every
// live node on the database, whichever process runs the feed.
func liveNow(dir *live.Directory) func(context.Context) ([]feed.LiveStream, error) {
	return func(ctx context.Context) ([]feed.LiveStream, error) {
		streams, err := dir.Live(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]feed.LiveStream, 0, len(streams))
		for _, st := range streams {
			out = append(out, feed.LiveStream{ID: st.ID, UserID: st.UserID, PlaybackURL: st.PlaybackURL, StartedAt: st.StartedAt})
		}
		return out, nil
	}
}
