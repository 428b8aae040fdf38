package transcoder

import "bytes"

// H.264 NAL unit types used here.
const (
	nalSPS = 7
	nalPPS = 8
)

// splitAnnexB returns the NAL units of an Annex-B byte stream, without start codes.
func splitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nalus = appendNALU(nalus, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		nalus = appendNALU(nalus, b[start:])
	}
	return nalus
}

// appendNALU appends n without the trailing zero bytes that belong to the next start code.
func appendNALU(nalus [][]byte, n []byte) [][]byte {
	n = bytes.TrimRight(n, "\x00")
	if len(n) > 0 {
		nalus = append(nalus, n)
	}
	return nalus
}

// parameterSets returns the first SPS and PPS of an Annex-B byte stream.
func parameterSets(b []byte) (sps, pps []byte) {
	for _, n := range splitAnnexB(b) {
		switch n[0] & 0x1f {
		case nalSPS:
			if sps == nil {
				sps = bytes.Clone(n)
			}
		case nalPPS:
			if pps == nil {
				pps = bytes.Clone(n)
			}
		}
	}
	return sps, pps
}
