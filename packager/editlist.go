package packager

import (
	"encoding/binary"
	"errors"
)

// withEditList returns init, an init segment of one track, with an edit list that starts the
// track's presentation mediaTime ticks into its media: the encoder's priming samples (AAC's
// 1024), which the segments keep at media time 0, are decoded but not presented, so that the
// audio's first real sample plays at 0 with the video's first picture. The edit lasts to the
// end of the media (duration 0, as fragmented files have no total duration up front).
//
// The box goes where ISO/IEC 14496-12 puts it, in the trak right after the tkhd; the sizes of
// the trak and the moov grow by its length.
func withEditList(init []byte, mediaTime uint32) ([]byte, error) {
	moov, ok := childBox(init, 0, len(init), "moov")
	if !ok {
		return nil, errors.New("packager: edit list: no moov in the init segment")
	}
	trak, ok := childBox(init, moov+8, moov+boxSize(init, moov), "trak")
	if !ok {
		return nil, errors.New("packager: edit list: no trak in the moov")
	}
	tkhd, ok := childBox(init, trak+8, trak+boxSize(init, trak), "tkhd")
	if !ok {
		return nil, errors.New("packager: edit list: no tkhd in the trak")
	}
	at := tkhd + boxSize(init, tkhd)

	const elstLen = 8 + 4 + 4 + 12 // header, version and flags, entry count, one version 0 entry
	const edtsLen = 8 + elstLen
	edts := make([]byte, 0, edtsLen)
	edts = binary.BigEndian.AppendUint32(edts, edtsLen)
	edts = append(edts, "edts"...)
	edts = binary.BigEndian.AppendUint32(edts, elstLen)
	edts = append(edts, "elst"...)
	edts = binary.BigEndian.AppendUint32(edts, 0)          // version 0, no flags
	edts = binary.BigEndian.AppendUint32(edts, 1)          // one entry
	edts = binary.BigEndian.AppendUint32(edts, 0)          // segment_duration: to the end
	edts = binary.BigEndian.AppendUint32(edts, mediaTime)  // media_time
	edts = binary.BigEndian.AppendUint32(edts, 0x00010000) // media_rate 1.0

	out := make([]byte, 0, len(init)+edtsLen)
	out = append(out, init[:at]...)
	out = append(out, edts...)
	out = append(out, init[at:]...)
	for _, box := range []int{moov, trak} {
		binary.BigEndian.PutUint32(out[box:], uint32(boxSize(init, box)+edtsLen))
	}
	return out, nil
}

// boxSize is the size of the box at off, header included. The boxes of an init segment that
// reelay writes are small: no 64-bit sizes.
func boxSize(b []byte, off int) int { return int(binary.BigEndian.Uint32(b[off:])) }

// childBox finds the first box of type typ among the boxes from start to end.
func childBox(b []byte, start, end int, typ string) (int, bool) {
	for off := start; off+8 <= end; {
		size := boxSize(b, off)
		if size < 8 || off+size > end {
			return 0, false
		}
		if string(b[off+4:off+8]) == typ {
			return off, true
		}
		off += size
	}
	return 0, false
}
