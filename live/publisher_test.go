package live

import (
	"bytes"
	"context"
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

	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
)

// users are the test's creators: token → principal.
var users = map[string]auth.Principal{
	"token-alice": {UserID: 1, Handle: "alice"},
	"token-bob":   {UserID: 2, Handle: "bob"},
	"token-carol": {UserID: 3, Handle: "carol"},
}

type tokenUsers struct{}

func (tokenUsers) UserByToken(_ context.Context, hash []byte) (auth.Principal, error) {
	for tok, p := range users {
		if bytes.Equal(auth.HashToken(tok), hash) {
			return p, nil
		}
	}
	return auth.Principal{}, auth.ErrUnknownToken
}

// clip is a short generated stream: H.264 access units (Annex-B, 30 fps, a key frame each
// second) and Opus packets of 20 ms.
type clip struct {
	video [][]byte
	audio [][]byte
}

var (
	clipOnce sync.Once
	theClip  clip
	clipErr  error
)

// testClip makes the clip with the ffmpeg CLI, once per test binary.
func testClip(t *testing.T) clip {
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

func makeClip(dir string) (clip, error) {
	vpath, apath := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.ogg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
		"-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "30", "-sc_threshold", "0", "-bf", "0",
		"-x264-params", "repeat-headers=1", "-bsf:v", "h264_mp4toannexb", "-f", "h264", vpath).CombinedOutput()
	if err != nil {
		return clip{}, errors.New("ffmpeg video: " + err.Error() + ": " + string(out))
	}
	out, err = exec.Command("ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
		"-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-page_duration", "20000", apath).CombinedOutput()
	if err != nil {
		return clip{}, errors.New("ffmpeg audio: " + err.Error() + ": " + string(out))
	}
	var c clip
	raw, err := os.ReadFile(vpath)
	if err != nil {
		return clip{}, err
	}
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(raw); err != nil {
		return clip{}, err
	}
	// An access unit ends with its (single) slice.
	var au [][]byte
	for _, n := range nalus {
		au = append(au, n)
		if typ := h264.NALUType(n[0] & 0x1f); typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR {
			b, err := h264.AnnexB(au).Marshal()
			if err != nil {
				return clip{}, err
			}
			c.video = append(c.video, b)
			au = nil
		}
	}
	f, err := os.Open(apath)
	if err != nil {
		return clip{}, err
	}
	defer f.Close()
	ogg, _, err := oggreader.NewWith(f)
	if err != nil {
		return clip{}, err
	}
	for {
		page, hdr, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return clip{}, err
		}
		if hdr.GranulePosition == 0 || bytes.HasPrefix(page, []byte("OpusHead")) || bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		c.audio = append(c.audio, page)
	}
	if len(c.video) < 30 || len(c.audio) < 50 {
		return clip{}, errors.New("the clip is too short")
	}
	return c, nil
}

// loopbackAPI is a pion API that gathers on 127.0.0.1 only.
func loopbackAPI(t *testing.T, me *webrtc.MediaEngine) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

// publisher is a WHIP client: a pion peer connection sending H.264 and, optionally, Opus.
type publisher struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticSample
	offer        string
}

func newPublisher(t *testing.T, opus bool) *publisher {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := loopbackAPI(t, me).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{pc: pc}
	t.Cleanup(func() { p.close() })
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
	p.offer = pc.LocalDescription().SDP
	return p
}

func (p *publisher) close() { _ = p.pc.Close() }

// answer applies the server's SDP answer.
func (p *publisher) answer(t *testing.T, sdp string) {
	t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
}

// send plays c in real time, looping, until stop is closed.
func (p *publisher) send(c clip, stop <-chan struct{}) {
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
	go play(p.video, c.video, time.Second/30)
	if p.audio != nil {
		wg.Add(1)
		go play(p.audio, c.audio, 20*time.Millisecond)
	}
	wg.Wait()
}

// whip POSTs offer to url with token ("" for none).
func whip(t *testing.T, url, token, contentType, offer string) (*http.Response, string) {
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
