package transcoder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/asticode/go-astiav"
)

// Input is the source of a probe or a transcode: exactly one of Path and Reader is set. Both are
// read through the same seekable custom I/O, so MP4s with the moov box at the end work either way,
// and FFmpeg never sees a URL (no protocol handlers, no network).
type Input struct {
	Path   string        // a local file
	Reader io.ReadSeeker // any seekable source, e.g. an object in the store
	Size   int64         // size of Reader in bytes; 0 means unknown (found by seeking to the end)
}

// formatWhitelist lists the demuxers an input may be opened with: the containers phones, cameras
// and browsers produce, and common audio files (so that they are refused as no_video_stream
// rather than not_video). Playlists (hls, concat), images and raw streams are not on it.
const formatWhitelist = "mov,mp4,matroska,webm,avi,flv,mpegts,mpeg,asf,ogg,mp3,aac,wav,flac"

// ioBufferSize is the size of the custom I/O buffer.
const ioBufferSize = 64 << 10

// FFmpeg's seek whence flags (libavformat/avio.h).
const (
	avseekSize  = 0x10000
	avseekForce = 0x20000
)

// demuxer is an opened input. close frees everything it holds.
type demuxer struct {
	fc     *astiav.FormatContext
	ioc    *astiav.IOContext
	file   *os.File
	src    *source
	opened bool

	intr     astiav.IOInterrupter // referenced here for as long as FFmpeg may call it
	stopIntr func() bool
}

// source adapts an io.ReadSeeker to FFmpeg's read and seek callbacks. It stops reading when ctx
// is done and remembers the first read error, so that an I/O failure is not mistaken for a broken
// input.
type source struct {
	ctx  context.Context
	r    io.ReadSeeker
	size int64
	err  error // first read error other than io.EOF
}

func (s *source) read(b []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, astiav.ErrExit
	}
	for range 8 { // an io.Reader may return 0, nil; do not take that for the end at once
		n, err := s.r.Read(b)
		if n > 0 {
			return n, nil // an error along with data comes back on the next call
		}
		switch {
		case errors.Is(err, io.EOF):
			return 0, astiav.ErrEof
		case err != nil:
			if s.err == nil {
				s.err = err
			}
			return 0, astiav.ErrEio
		}
	}
	return 0, astiav.ErrEof
}

func (s *source) seek(offset int64, whence int) (int64, error) {
	if whence&avseekSize != 0 {
		if s.size > 0 {
			return s.size, nil
		}
		cur, err := s.r.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, astiav.ErrEio
		}
		end, err := s.r.Seek(0, io.SeekEnd)
		if err != nil {
			return 0, astiav.ErrEio
		}
		if _, err := s.r.Seek(cur, io.SeekStart); err != nil {
			return 0, astiav.ErrEio
		}
		s.size = end
		return end, nil
	}
	n, err := s.r.Seek(offset, whence&^avseekForce)
	if err != nil {
		return 0, astiav.ErrEio
	}
	return n, nil
}

// openInput opens in, reads its header and finds its streams. Errors are a *RejectError when
// the bytes are at fault, the context's error when ctx ended, or an I/O error.
func openInput(ctx context.Context, in Input) (d *demuxer, err error) {
	if (in.Path == "") == (in.Reader == nil) {
		return nil, errors.New("transcoder: input needs exactly one of Path and Reader")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d = &demuxer{src: &source{ctx: ctx, r: in.Reader, size: in.Size}}
	defer func() {
		if err != nil {
			d.close()
			d = nil
		}
	}()
	if in.Path != "" {
		f, err := os.Open(in.Path)
		if err != nil {
			return d, fmt.Errorf("transcoder: opening input: %w", err)
		}
		d.file = f
		fi, err := f.Stat()
		if err != nil {
			return d, fmt.Errorf("transcoder: opening input: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return d, fmt.Errorf("transcoder: opening input: %s is not a regular file", in.Path)
		}
		d.src.r, d.src.size = f, fi.Size()
	}
	if _, err := d.src.r.Seek(0, io.SeekStart); err != nil {
		return d, fmt.Errorf("transcoder: rewinding input: %w", err)
	}

	if d.ioc, err = astiav.AllocIOContext(ioBufferSize, false, d.src.read, d.src.seek, nil); err != nil {
		return d, fmt.Errorf("transcoder: allocating I/O context: %w", err)
	}
	if d.fc = astiav.AllocFormatContext(); d.fc == nil {
		return d, errors.New("transcoder: allocating format context failed")
	}
	d.fc.SetPb(d.ioc)
	// FFmpeg polls the interrupt callback in its own loops (stream probing, retries), not only
	// when it reads: it makes a cancelled context stop those too.
	d.intr = d.fc.SetInterruptCallback()
	d.stopIntr = context.AfterFunc(ctx, d.intr.Interrupt)
	opts := astiav.NewDictionary()
	defer opts.Free()
	if err := opts.Set("format_whitelist", formatWhitelist, 0); err != nil {
		return d, fmt.Errorf("transcoder: setting format whitelist: %w", err)
	}
	if err := d.fc.OpenInput("", nil, opts); err != nil {
		// avformat_open_input has freed the format context, but not our custom I/O context.
		if err := d.failure(); err != nil {
			return d, err
		}
		if d.looksLikeMedia() {
			return d, reject(ReasonUndecodable, "cannot read the container: %v", err)
		}
		return d, reject(ReasonNotVideo, "not a recognised media container: %v", err)
	}
	d.opened = true
	if err := d.fc.FindStreamInfo(nil); err != nil {
		if err := d.failure(); err != nil {
			return d, err
		}
		return d, reject(ReasonUndecodable, "cannot find stream parameters: %v", err)
	}
	return d, nil
}

// failure returns the error that explains a failed FFmpeg call better than FFmpeg's own: the
// context's error, or the reader's. It returns nil when the input itself is at fault.
func (d *demuxer) failure() error {
	if err := d.src.ctx.Err(); err != nil {
		return err
	}
	if d.src.err != nil {
		return fmt.Errorf("transcoder: reading input: %w", d.src.err)
	}
	return nil
}

// looksLikeMedia reports whether the input starts like a media container that FFmpeg could not
// open: then it is broken (undecodable), not something else entirely (not_video).
func (d *demuxer) looksLikeMedia() bool {
	head := make([]byte, 512)
	if _, err := d.src.r.Seek(0, io.SeekStart); err != nil {
		return false
	}
	n, _ := io.ReadFull(d.src.r, head)
	return sniffMedia(head[:n])
}

// sniffMedia recognises the signatures of the containers on the whitelist.
func sniffMedia(b []byte) bool {
	has := func(off int, sig string) bool { return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig }
	if len(b) >= 8 {
		switch string(b[4:8]) {
		case "ftyp", "moov", "mdat", "free", "skip", "wide", "pnot":
			return true // ISO BMFF / QuickTime
		}
	}
	switch {
	case has(0, "\x1a\x45\xdf\xa3"), has(0, "FLV"), has(0, "OggS"), has(0, "fLaC"), has(0, "ID3"):
		return true // Matroska/WebM, FLV, Ogg, FLAC, MP3 with a tag
	case has(0, "RIFF") && (has(8, "AVI ") || has(8, "WAVE")):
		return true
	case has(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return true // ASF
	case has(0, "\x00\x00\x01\xba"), has(0, "\x00\x00\x01\xb3"):
		return true // MPEG program stream
	case len(b) > 188 && b[0] == 0x47 && b[188] == 0x47:
		return true // MPEG transport stream
	}
	return false
}

func (d *demuxer) close() {
	if d.stopIntr != nil {
		d.stopIntr()
	}
	if d.fc != nil {
		if d.opened {
			d.fc.CloseInput() // leaves a custom I/O context alone
		}
		d.fc.Free()
		d.fc = nil
	}
	if d.ioc != nil {
		d.ioc.Free()
		d.ioc = nil
	}
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
}
