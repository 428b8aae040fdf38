package packager

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// CodecString returns the RFC 6381 codec of an H.264 stream from its sequence parameter set (the
// NAL unit without a start code): "avc1." and the hex of profile_idc, the constraint flags byte
// and level_idc, e.g. "avc1.64001f" for High profile level 3.1. This is what HLS CODECS wants.
func CodecString(sps []byte) (string, error) {
	if len(sps) < 4 {
		return "", fmt.Errorf("%w: %d bytes", ErrInvalidSPS, len(sps))
	}
	if sps[0]&0x80 != 0 || h264.NALUType(sps[0]&0x1F) != h264.NALUTypeSPS {
		return "", fmt.Errorf("%w: NAL header %#02x", ErrInvalidSPS, sps[0])
	}
	// The three bytes after the header hold no emulation prevention byte unless profile_idc and
	// the constraint byte are both zero, which no profile allows; strip it anyway to be exact.
	b := h264.EmulationPreventionRemove(sps[1:min(len(sps), 8)])
	if len(b) < 3 || b[0] == 0 || b[2] == 0 {
		return "", fmt.Errorf("%w: profile_idc or level_idc is zero", ErrInvalidSPS)
	}
	return fmt.Sprintf("avc1.%02x%02x%02x", b[0], b[1], b[2]), nil
}

// trimStartCode returns a parameter set without the Annex-B start code it may carry.
func trimStartCode(b []byte) []byte {
	for _, sc := range [][]byte{{0, 0, 0, 1}, {0, 0, 1}} {
		if bytes.HasPrefix(b, sc) {
			return b[len(sc):]
		}
	}
	return b
}
