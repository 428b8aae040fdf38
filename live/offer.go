package live

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// Offer errors, each answered with its own code (see whipError).
var (
	// ErrMalformedOffer is an offer that is not an SDP session description.
	ErrMalformedOffer = errors.New("live: the offer is not a valid SDP session description")
	// ErrNoH264 is an offer with no video section that offers H.264 with packetization-mode=1.
	ErrNoH264 = errors.New("live: the offer has no H.264 video (packetization-mode=1)")
)

// maxOfferBytes bounds an offer's body: a browser's is a few kilobytes.
const maxOfferBytes = 64 << 10

// offerInfo is what checkOffer learns of an offer.
type offerInfo struct {
	opus bool // an audio section offers Opus
}

// checkOffer parses an SDP offer and checks that it is something a live session can take: at
// least one video section offering H.264 in packetization mode 1 (non-interleaved, what
// browsers and OBS send), which is the one video codec that LL-HLS players all decode.
func checkOffer(raw []byte) (offerInfo, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(raw)); err != nil {
		return offerInfo{}, fmt.Errorf("%w: %v", ErrMalformedOffer, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return offerInfo{}, fmt.Errorf("%w: it has no media section", ErrMalformedOffer)
	}
	var info offerInfo
	h264 := false
	for _, md := range sd.MediaDescriptions {
		switch md.MediaName.Media {
		case "video":
			h264 = h264 || offersCodec(md, "h264", func(fmtp string) bool {
				return strings.Contains(fmtp, "packetization-mode=1")
			})
		case "audio":
			info.opus = info.opus || offersCodec(md, "opus", nil)
		}
	}
	if !h264 {
		return offerInfo{}, ErrNoH264
	}
	return info, nil
}

// offersCodec reports whether md has an rtpmap of codec (case-insensitive) whose fmtp, when
// fmtpOK is not nil, passes it.
func offersCodec(md *sdp.MediaDescription, codec string, fmtpOK func(string) bool) bool {
	fmtps := map[string]string{}
	var types []string
	for _, a := range md.Attributes {
		pt, rest, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		switch a.Key {
		case "rtpmap":
			name, _, _ := strings.Cut(rest, "/")
			if strings.EqualFold(name, codec) {
				types = append(types, pt)
			}
		case "fmtp":
			fmtps[pt] = rest
		}
	}
	for _, pt := range types {
		if fmtpOK == nil || fmtpOK(fmtps[pt]) {
			return true
		}
	}
	return false
}
