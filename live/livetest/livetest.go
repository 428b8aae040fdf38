// Package livetest is for tests of live streams: a short generated clip (H.264 and Opus, made
// with the ffmpeg CLI) and a WHIP publisher (a pion peer connection on loopback) that plays it.
package livetest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/reelay/reelay/internal/testenv"
)

// Clip is a short generated stream: H.264 access units (Annex-B, 30 fps, a key frame each
// second) and Opus packets of 20 ms.
type Clip struct {
	Video [][]byte
	Audio [][]byte
}

var (
	clipOnce sync.Once
	theClip  Clip
	clipErr  error
)

// TestClip makes the clip with the ffmpeg CLI, once per test binary; without ffmpeg it skips
// t (see testenv.RequireCommand).
func TestClip(t testing.TB) Clip {
	t.Helper()
	testenv.RequireCommand(t, "ffmpeg")
	clipOnce.Do(func() {
		dir, err := os.MkdirTemp("", "reelay-live-clip")
		if err != nil {
			clipErr = err
			return
		}
		defer os.RemoveAll(dir)
		theClip, clipErr = makeClip(dir)
	})
	if clipErr != nil {
		t.Fatal(clipErr)
	}
	return theClip
}

func makeClip(dir string) (Clip, error) {
	vpath, apath := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.ogg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
		"-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "30", "-sc_threshold", "0", "-bf", "0",
		"-x264-params", "repeat-headers=1", "-bsf:v", "h264_mp4toannexb", "-f", "h264", vpath).CombinedOutput()
	if err != nil {
		return Clip{}, errors.New("ffmpeg video: " + err.Error() + ": " + string(out))
	}
	out, err = exec.Command("ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
		"-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-page_duration", "20000", apath).CombinedOutput()
	if err != nil {
		return Clip{}, errors.New("ffmpeg audio: " + err.Error() + ": " + string(out))
	}
	var c Clip
	raw, err := os.ReadFile(vpath)
	if err != nil {
		return Clip{}, err
	}
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(raw); err != nil {
		return Clip{}, err
	}
	// An access unit ends with its (single) slice.
	var au [][]byte
	for _, n := range nalus {
		au = append(au, n)
		if typ := h264.NALUType(n[0] & 0x1f); typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR {
			b, err := h264.AnnexB(au).Marshal()
			if err != nil {
				return Clip{}, err
			}
			c.Video = append(c.Video, b)
			au = nil
		}
	}
	f, err := os.Open(apath)
	if err != nil {
		return Clip{}, err
	}
	defer f.Close()
	ogg, _, err := oggreader.NewWith(f)
	if err != nil {
		return Clip{}, err
	}
	for {
		page, hdr, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Clip{}, err
		}
		if hdr.GranulePosition == 0 || bytes.HasPrefix(page, []byte("OpusHead")) || bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		c.Audio = append(c.Audio, page)
	}
	if len(c.Video) < 30 || len(c.Audio) < 50 {
		return Clip{}, errors.New("the clip is too short")
	}
	return c, nil
}

// loopbackAPI is a pion API that gathers on 127.0.0.1 only.
func loopbackAPI(t testing.TB, me *webrtc.MediaEngine) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

// Publisher is a WHIP client: a pion peer connection sending H.264 and, optionally, Opus,
// gathering on 127.0.0.1 only.
type Publisher struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticSample
	connected    chan struct{} // closed once the peer connection is connected
	// Offer is the SDP offer, candidates included, to POST.
	Offer string
}

// NewPublisher returns a Publisher with its offer made; t's cleanup closes it.
func NewPublisher(t testing.TB, opus bool) *Publisher {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := loopbackAPI(t, me).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &Publisher{pc: pc, connected: make(chan struct{})}
	t.Cleanup(func() { p.Close() })
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	p.video, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, "video", "reelay")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(p.video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	if opus {
		p.audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "reelay")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(p.audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	p.Offer = pc.LocalDescription().SDP
	return p
}

// Connected is closed once the peer connection is connected: what Send sends from then on
// reaches the server.
func (p *Publisher) Connected() <-chan struct{} { return p.connected }

// Close closes the peer connection.
func (p *Publisher) Close() { _ = p.pc.Close() }

// Answer applies the server's SDP answer.
func (p *Publisher) Answer(t testing.TB, sdp string) {
	t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
}

// Send plays c in real time, looping, until stop is closed.
func (p *Publisher) Send(c Clip, stop <-chan struct{}) {
	var wg sync.WaitGroup
	play := func(track *webrtc.TrackLocalStaticSample, samples [][]byte, d time.Duration) {
		defer wg.Done()
		tick := time.NewTicker(d)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := track.WriteSample(media.Sample{Data: samples[i%len(samples)], Duration: d}); err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go play(p.video, c.Video, time.Second/30)
	if p.audio != nil {
		wg.Add(1)
		go play(p.audio, c.Audio, 20*time.Millisecond)
	}
	wg.Wait()
}

// WHIP POSTs offer to url with token ("" for none) and returns the response and its body.
func WHIP(t testing.TB, url, token, contentType, offer string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}
