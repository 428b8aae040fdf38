package live

import (
	"errors"
	"testing"
)

const h264Offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n" +
	"a=rtpmap:97 H264/90000\r\na=fmtp:97 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"

var offerCases = []struct {
	name string
	sdp  string
	opus bool
	err  error
}{
	{"H.264 and Opus", h264Offer, true, nil},
	{"H.264 only", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 97\r\na=rtpmap:97 h264/90000\r\na=fmtp:97 packetization-mode=1\r\n", false, nil},
	{"H.264 mode 0 only", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 97\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=0\r\n", false, ErrNoH264},
	{"VP8 only", vp8Offer, false, ErrNoH264},
	{"H.264 named in audio", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 97\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=1\r\n", false, ErrNoH264},
	{"no media", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", false, ErrMalformedOffer},
	{"not SDP", "hello", false, ErrMalformedOffer},
	{"empty", "", false, ErrMalformedOffer},
}

func TestCheckOffer(t *testing.T) {
	for _, tc := range offerCases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := checkOffer([]byte(tc.sdp))
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && info.opus != tc.opus {
				t.Errorf("opus %v, want %v", info.opus, tc.opus)
			}
		})
	}
}

// FuzzCheckOffer checks that any body is either refused with one of the offer errors or
// accepted as offering H.264.
func FuzzCheckOffer(f *testing.F) {
	for _, tc := range offerCases {
		f.Add([]byte(tc.sdp))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := checkOffer(raw)
		if err != nil && !errors.Is(err, ErrMalformedOffer) && !errors.Is(err, ErrNoH264) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
