package live

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtcp"
	rtpcodecs "github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// session is one publisher's WHIP session and the LL-HLS stream it feeds.
type session struct {
	srv    *Server
	id     string // the WHIP resource's
	stream string // the playback path's
	user   int64
	done   chan struct{} // closed when the session ends

	pc    *webrtc.PeerConnection
	muxer *gohlslib.Muxer
	video *gohlslib.Track
	audio *gohlslib.Track // nil without Opus

	rec       *recorder // nil without Config.Recordings
	startedAt time.Time
	answered  bool // its offer was answered (Server.mu)

	muxMu sync.Mutex // the muxer and the recorder take one write at a time
	// base is the wall-clock time of the session's first packet, of any track: each track's
	// timestamps count from it, so that audio and video share one timeline.
	base      time.Time
	baseOnce  sync.Once
	videoSSRC atomic.Uint32
	bytes     atomic.Int64 // media payload received, for the bitrate cap

	// dirMu orders the writes of the stream's row in the Directory: its end (close) waits
	// for its start (create) being written, and create writes no start once close began.
	dirMu sync.Mutex

	mu        sync.Mutex // guards ended, and wg.Add against close's wg.Wait
	ended     bool
	wg        sync.WaitGroup // the track readers and the key frame ticker
	mirrorWG  sync.WaitGroup // the mirror to the store, which ends when the muxer closes
	closeOnce sync.Once
}

// start negotiates the offer, starts the muxer and returns the SDP answer, with every
// candidate in it.
func (sess *session) start(ctx context.Context, offer string, info offerInfo) (string, error) {
	s := sess.srv
	var iceServers []webrtc.ICEServer
	for _, u := range s.cfg.ICEServers {
		iceServers = append(iceServers, webrtc.ICEServer{URLs: []string{u}})
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{ICEServers: iceServers})
	if err != nil {
		return "", err
	}
	sess.pc = pc
	recv := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, recv); err != nil {
		return "", err
	}
	sess.video = &gohlslib.Track{Codec: &codecs.H264{}, ClockRate: 90000}
	tracks := []*gohlslib.Track{sess.video}
	if info.opus {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, recv); err != nil {
			return "", err
		}
		sess.audio = &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: 2}, ClockRate: 48000, Name: "audio", IsDefault: true}
		tracks = append(tracks, sess.audio)
	}
	sess.muxer = &gohlslib.Muxer{
		Tracks:             tracks,
		Variant:            gohlslib.MuxerVariantLowLatency,
		SegmentCount:       7,
		SegmentMinDuration: s.cfg.SegmentDuration,
		PartMinDuration:    s.cfg.PartDuration,
		OnEncodeError: func(err error) {
			s.log.Debug("live muxing", "session", sess.id, "err", err)
		},
	}
	if err := sess.muxer.Start(); err != nil {
		sess.muxer = nil
		return "", fmt.Errorf("muxer: %w", err)
	}
	sess.startedAt = time.Now()
	if s.cfg.Recordings != nil {
		if sess.rec, err = newRecorder(s.cfg.RecordDir, sess.stream, info.opus); err != nil {
			return "", err
		}
	}

	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !sess.track() {
			return
		}
		defer sess.wg.Done()
		switch {
		case t.Kind() == webrtc.RTPCodecTypeVideo && t.Codec().MimeType == webrtc.MimeTypeH264:
			sess.videoSSRC.Store(uint32(t.SSRC()))
			sess.readVideo(t)
		case t.Kind() == webrtc.RTPCodecTypeAudio && t.Codec().MimeType == webrtc.MimeTypeOpus && sess.audio != nil:
			sess.readAudio(t)
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("live connection state", "session", sess.id, "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateFailed:
			go s.end(sess, endICEFailed)
		case webrtc.PeerConnectionStateClosed:
			go s.end(sess, endClosed)
		}
	})

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	timer := time.NewTimer(answerGatheringTimeout)
	defer timer.Stop()
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-timer.C:
		return "", errors.New("gathering ICE candidates timed out")
	}
	if !sess.track() {
		return "", errors.New("the session ended")
	}
	go func() {
		defer sess.wg.Done()
		sess.tick()
	}()
	s.streams.add(sess.stream, http.HandlerFunc(sess.muxer.Handle))
	if s.cfg.Store != nil {
		sess.mirrorWG.Add(1)
		go func() {
			defer sess.mirrorWG.Done()
			sess.mirror()
		}()
	}
	return pc.LocalDescription().SDP, nil
}

// track counts one more goroutine of the session, unless it has ended.
func (sess *session) track() bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.ended {
		return false
	}
	sess.wg.Add(1)
	return true
}

// tick asks for a key frame every KeyframeInterval and ends the session when its bitrate
// stays above the cap.
func (sess *session) tick() {
	s := sess.srv
	t := time.NewTicker(s.cfg.KeyframeInterval)
	defer t.Stop()
	windowStart, windowBytes := time.Now(), int64(0)
	for {
		select {
		case <-sess.done:
			return
		case now := <-t.C:
			if ssrc := sess.videoSSRC.Load(); ssrc != 0 {
				_ = sess.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
			}
			if elapsed := now.Sub(windowStart); elapsed >= bitrateWindow {
				total := sess.bytes.Load()
				bps := float64(total-windowBytes) * 8 / elapsed.Seconds()
				windowStart, windowBytes = now, total
				if s.cfg.MaxBitrate > 0 && bps > float64(s.cfg.MaxBitrate) {
					s.log.Warn("live session above the bitrate cap", "session", sess.id, "bps", int64(bps), "cap", s.cfg.MaxBitrate)
					go s.end(sess, endBitrate)
					return
				}
			}
		}
	}
}

// timeline turns a track's 32-bit RTP timestamps into 64-bit ones from the session's base.
type timeline struct {
	clock   int64
	started bool
	last    uint32
	pts     int64
}

func (sess *session) newTimeline(clock int64) *timeline { return &timeline{clock: clock} }

// at returns the timestamp of an RTP timestamp ts, and the wall-clock time it stands for.
func (sess *session) at(tl *timeline, ts uint32) (int64, time.Time) {
	if !tl.started {
		now := time.Now()
		sess.baseOnce.Do(func() { sess.base = now })
		tl.started, tl.last = true, ts
		tl.pts = int64(now.Sub(sess.base)) * tl.clock / int64(time.Second)
	} else {
		tl.pts += int64(int32(ts - tl.last)) // wraps around
		tl.last = ts
	}
	return tl.pts, sess.base.Add(time.Duration(tl.pts * int64(time.Second) / tl.clock))
}

// readVideo depacketises H.264 into access units for the muxer until the track ends.
func (sess *session) readVideo(t *webrtc.TrackRemote) {
	sb := samplebuilder.New(sampleBuilderMaxLateRTPs, &rtpcodecs.H264Packet{}, 90000)
	tl := sess.newTimeline(90000)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		sess.bytes.Add(int64(len(pkt.Payload)))
		sb.Push(pkt)
		for smp := sb.Pop(); smp != nil; smp = sb.Pop() {
			var au h264.AnnexB
			if err := au.Unmarshal(smp.Data); err != nil || len(au) == 0 {
				continue
			}
			pts, ntp := sess.at(tl, smp.PacketTimestamp)
			sess.muxMu.Lock()
			err := sess.muxer.WriteH264(sess.video, ntp, pts, au)
			if sess.rec != nil {
				sess.rec.writeH264(pts, au)
			}
			sess.muxMu.Unlock()
			if err != nil {
				sess.srv.log.Debug("live video", "session", sess.id, "err", err)
			}
		}
	}
}

// readAudio hands each Opus packet to the muxer until the track ends.
func (sess *session) readAudio(t *webrtc.TrackRemote) {
	tl := sess.newTimeline(48000)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if len(pkt.Payload) == 0 {
			continue
		}
		sess.bytes.Add(int64(len(pkt.Payload)))
		pts, ntp := sess.at(tl, pkt.Timestamp)
		sess.muxMu.Lock()
		err = sess.muxer.WriteOpus(sess.audio, ntp, pts, [][]byte{pkt.Payload})
		if sess.rec != nil {
			sess.rec.writeOpus(pts, pkt.Payload)
		}
		sess.muxMu.Unlock()
		if err != nil {
			sess.srv.log.Debug("live audio", "session", sess.id, "err", err)
		}
	}
}

// close ends the session once: the stream leaves Streams, the peer connection closes (which
// ends the track readers), then the muxer, which answers its blocked playlist requests.
func (sess *session) close(reason string) {
	sess.closeOnce.Do(func() {
		sess.srv.streams.remove(sess.stream)
		sess.mu.Lock()
		sess.ended = true
		sess.mu.Unlock()
		if dir := sess.srv.cfg.Directory; dir != nil {
			sess.dirMu.Lock()
			ctx, cancel := context.WithTimeout(context.Background(), directoryTimeout)
			if err := dir.ended(ctx, sess.stream); err != nil {
				sess.srv.log.Warn("live stream's end not recorded; it goes stale", "stream", sess.stream, "err", err)
			}
			cancel()
			sess.dirMu.Unlock()
		}
		close(sess.done)
		if sess.pc != nil {
			_ = sess.pc.Close()
		}
		sess.wg.Wait()
		if sess.muxer != nil {
			sess.muxer.Close()
		}
		sess.mirrorWG.Wait()
		if sess.srv.cfg.Store != nil {
			sess.unmirror()
		}
		sess.srv.log.Info("live session ended", "session", sess.id, "stream", sess.stream, "reason", reason)
		sess.srv.ended.WithLabelValues(reason).Inc()
		if sess.rec == nil {
			sess.srv.wg.Done()
			return
		}
		go func() {
			defer sess.srv.wg.Done()
			sess.publish()
		}()
	})
}

// publish hands the session's recording to Config.Recordings.
func (sess *session) publish() {
	s := sess.srv
	size, err := sess.rec.finish()
	if err != nil || size == 0 {
		s.log.Warn("live recording dropped", "stream", sess.stream, "err", err, "bytes", size)
		s.recordings.WithLabelValues("dropped").Inc()
		s.handed(context.Background(), sess.stream)
		return
	}
	s.hand(context.Background(), Recording{ID: sess.stream, Owner: sess.user, Path: sess.rec.path, Size: size, StartedAt: sess.startedAt}, false)
}
