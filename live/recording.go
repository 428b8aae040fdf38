package live

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
)

// Recordings takes the recording of each session that ends, as a video of its creator: the
// pipeline's Accept and HandOver in `reelay up` (cmd/reelay).
type Recordings interface {
	// Publish takes r.Path: whatever is left there once it returns is deleted.
	Publish(ctx context.Context, r Recording) error
}

// Recording is a session's recording: H.264 and Opus in MPEG-TS, as they arrived.
type Recording struct {
	ID        string // the stream's id, which becomes the video's (internal/videoid)
	Owner     int64  // the creator's user id
	Path      string // the MPEG-TS file
	Size      int64
	StartedAt time.Time
}

// publishTimeout bounds a recording's Publish (a probe, then a rename or an upload).
const publishTimeout = 5 * time.Minute

// recorder writes a session's media to an MPEG-TS file, from its first key frame on. The
// session's muxMu serialises its writes.
type recorder struct {
	path         string
	f            *os.File
	bw           *bufio.Writer
	w            *mpegts.Writer
	video, audio *mpegts.Track
	keyed        bool // the first key frame was written
	err          error
}

func newRecorder(dir, id string, opus bool) (*recorder, error) {
	r := &recorder{path: filepath.Join(dir, id+".ts")}
	var err error
	if r.f, err = os.Create(r.path); err != nil {
		return nil, fmt.Errorf("live: recording: %w", err)
	}
	r.bw = bufio.NewWriterSize(r.f, 256<<10)
	r.video = &mpegts.Track{Codec: &mpegts.CodecH264{}}
	tracks := []*mpegts.Track{r.video}
	if opus {
		r.audio = &mpegts.Track{Codec: &mpegts.CodecOpus{ChannelCount: 2}}
		tracks = append(tracks, r.audio)
	}
	r.w = &mpegts.Writer{W: r.bw, Tracks: tracks}
	if err := r.w.Initialize(); err != nil {
		r.f.Close()
		os.Remove(r.path)
		return nil, fmt.Errorf("live: recording: %w", err)
	}
	return r, nil
}

// writeH264 writes an access unit at pts (90 kHz). WebRTC sends no B-frames: DTS is PTS.
func (r *recorder) writeH264(pts int64, au [][]byte) {
	if r.err != nil {
		return
	}
	if !r.keyed {
		if !h264.IsRandomAccess(au) {
			return
		}
		r.keyed = true
	}
	r.err = r.w.WriteH264(r.video, pts, pts, au)
}

// writeOpus writes an Opus packet at pts (48 kHz).
func (r *recorder) writeOpus(pts int64, packet []byte) {
	if r.err != nil || r.audio == nil || !r.keyed {
		return
	}
	r.err = r.w.WriteOpus(r.audio, pts*90000/48000, [][]byte{packet})
}

// finish closes the file and returns its size; it deletes the file, and returns 0, when it
// holds no picture or could not be written whole.
func (r *recorder) finish() (int64, error) {
	err := r.err
	if ferr := r.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil || !r.keyed {
		os.Remove(r.path)
		return 0, err
	}
	fi, err := os.Stat(r.path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
