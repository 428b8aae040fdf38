package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/videoid"
)

// Recordings takes the recording of each session that ends, as a video of its creator: the
// pipeline's Accept and HandOver in `reelay up` (cmd/reelay).
type Recordings interface {
	// Publish takes r.Path. Whatever is left there once it returns nil, or an *apierr.Error
	// of a 4xx status (the recording refused for what it is), is deleted; after any other
	// error the file is kept, and handed over again later (Config.RetryEvery).
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

// flushEvery is how long at most a recorder keeps what it has before it hands it to the file
// (it does at each key frame too): about what a crash of the process loses.
const flushEvery = 250 * time.Millisecond

// tsPacket is the size of an MPEG-TS packet: a recording cut by a crash is trimmed to a
// whole number of them.
const tsPacket = 188

// recorder writes a session's media to an MPEG-TS file, from its first key frame on. It
// keeps what it has in memory and hands it to the file before each key frame and at least
// every flushEvery, so that a crash of the process loses about a quarter of a second of the
// recording, and the file ends between two of the writer's writes, on whole access units
// (what a machine crash loses is the operating system's to say: the file is not synced).
// The session's muxMu serialises its writes.
type recorder struct {
	path         string
	f            *os.File
	buf          bytes.Buffer // written, not yet in the file
	flushed      time.Time    // when buf last went to the file
	w            *mpegts.Writer
	video, audio *mpegts.Track
	keyed        bool // the first key frame was written
	err          error
}

func newRecorder(dir, id string, opus bool) (*recorder, error) {
	r := &recorder{path: filepath.Join(dir, id+".ts"), flushed: time.Now()}
	var err error
	if r.f, err = os.Create(r.path); err != nil {
		return nil, fmt.Errorf("live: recording: %w", err)
	}
	r.video = &mpegts.Track{Codec: &mpegts.CodecH264{}}
	tracks := []*mpegts.Track{r.video}
	if opus {
		r.audio = &mpegts.Track{Codec: &mpegts.CodecOpus{ChannelCount: 2}}
		tracks = append(tracks, r.audio)
	}
	r.w = &mpegts.Writer{W: &r.buf, Tracks: tracks}
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
	key := h264.IsRandomAccess(au)
	if !r.keyed && !key {
		return
	}
	r.keyed = true
	if key || time.Since(r.flushed) >= flushEvery {
		r.flush()
	}
	if r.err == nil {
		r.err = r.w.WriteH264(r.video, pts, pts, au)
	}
}

// flush hands what the recorder has to the file.
func (r *recorder) flush() {
	r.flushed = time.Now()
	if r.err == nil && r.buf.Len() > 0 {
		_, r.err = r.buf.WriteTo(r.f)
	}
}

// writeOpus writes an Opus packet at pts (48 kHz).
func (r *recorder) writeOpus(pts int64, packet []byte) {
	if r.err != nil || r.audio == nil || !r.keyed {
		return
	}
	if time.Since(r.flushed) >= flushEvery { // audio alone (no picture comes) reaches the file too
		r.flush()
	}
	if r.err == nil {
		r.err = r.w.WriteOpus(r.audio, pts*90000/48000, [][]byte{packet})
	}
}

// finish closes the file and returns its size; it deletes the file, and returns 0, when it
// holds no picture or could not be written whole.
func (r *recorder) finish() (int64, error) {
	r.flush()
	err := r.err
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

// directoryTimeout bounds one write to the Directory outside a request.
const directoryTimeout = 5 * time.Second

// leftRecordings returns the recordings in dir: {stream}.ts files.
func leftRecordings(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("live: recordings: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".ts"); ok && e.Type().IsRegular() && videoid.Valid(id) {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	return paths, nil
}

// recoverRecordings hands over what an earlier run left: the recordings, in RecordDir,
// of the streams that the Directory holds not handed over yet, as their sessions would have
// when they ended (the Directory says whose they are and when they started). A recording
// whose file is gone was being handed over when the process died (the pipeline may have
// taken the file and not queued its job): it is handed over again, without its file, once
// its stream is over (ended, or its heartbeat stale; a stream of another node with a
// RecordDir of the same name is live, and left alone). A file
// of no stream waiting for its hand-over is deleted. A hand-over cut short (ctx ends) is
// left for the next run; handing a recording over twice makes one video (the pipeline
// accepts and queues by the video's id).
func (s *Server) recoverRecordings(ctx context.Context) {
	dir := s.cfg.Directory
	all, err := dir.unhanded(ctx, s.created)
	if err != nil {
		s.log.Warn("live recordings left for the next run", "err", err)
		return
	}
	left := map[string]string{} // the files in RecordDir, by stream
	for _, path := range s.leftovers {
		left[strings.TrimSuffix(filepath.Base(path), ".ts")] = path
	}
	// This node's: a file in its directory (wherever the row says the directory was), or a
	// row of its directory whose file is gone and whose stream is over (another node whose
	// RecordDir has the same name may have it live, its file there).
	var waiting []unhandedRecording
	for _, u := range all {
		if path, ok := left[u.ID]; ok {
			u.path = path
			delete(left, u.ID)
			waiting = append(waiting, u)
		} else if filepath.Dir(u.path) == s.cfg.RecordDir && u.over {
			waiting = append(waiting, u)
		}
	}
	for _, path := range left {
		s.log.Warn("live recording of no stream waiting for it dropped", "path", path)
		s.recordings.WithLabelValues("dropped").Inc()
		os.Remove(path)
	}
	for _, u := range waiting {
		if ctx.Err() != nil {
			return
		}
		if err := dir.ended(ctx, u.ID); err != nil {
			s.log.Warn("live recording left for the next run", "stream", u.ID, "err", err)
			continue
		}
		size, err := trimRecording(u.path)
		switch {
		case errors.Is(err, fs.ErrNotExist): // handed over again, without its file
		case err != nil || size == 0:
			s.log.Warn("live recording dropped", "stream", u.ID, "err", err, "bytes", size)
			s.recordings.WithLabelValues("dropped").Inc()
			os.Remove(u.path)
			s.handed(ctx, u.ID)
			continue
		}
		s.hand(ctx, Recording{ID: u.ID, Owner: u.UserID, Path: u.path, Size: size, StartedAt: u.StartedAt}, true)
	}
}

// hand hands r to Config.Recordings and says whether that is over: the recording published,
// or refused for what it is (an *apierr.Error of status 4xx, such as a file that is not a
// playable video); its file is then removed and its hand-over recorded. After any other
// failure (the store or the database out of reach) the file stays and the stream is not
// marked handed over: r waits for retryRecordings, unless ctx has ended (the process
// stopping), when the next run's recovery takes it.
func (s *Server) hand(ctx context.Context, r Recording, recovered bool) bool {
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	err := s.cfg.Recordings.Publish(pctx, r)
	cancel()
	var refused *apierr.Error
	switch {
	case err == nil:
		s.log.Info("live recording published", "stream", r.ID, "bytes", r.Size, "recovered", recovered)
		s.recordings.WithLabelValues("published").Inc()
	case errors.As(err, &refused) && refused.Status >= 400 && refused.Status < 500:
		s.log.Error("live recording refused", "stream", r.ID, "err", err, "recovered", recovered)
		s.recordings.WithLabelValues("failed").Inc()
	default:
		if ctx.Err() != nil {
			return false // stopping: the next run hands it over
		}
		s.log.Warn("live recording kept to be handed over again", "stream", r.ID, "err", err, "in", s.cfg.RetryEvery, "recovered", recovered)
		s.recordings.WithLabelValues("retry").Inc()
		s.mu.Lock()
		s.retries = append(s.retries, r)
		s.mu.Unlock()
		return false
	}
	os.Remove(r.Path)
	s.handed(ctx, r.ID)
	return true
}

// retryRecordings hands over again, every Config.RetryEvery until ctx ends, the recordings
// whose hand-over failed for a passing reason (see hand).
func (s *Server) retryRecordings(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		waiting := s.retries
		s.retries = nil
		s.mu.Unlock()
		for _, r := range waiting {
			s.hand(ctx, r, false)
		}
	}
}

// handed records in the Directory that the recording of stream id was handed over (or
// dropped), if there is a Directory.
func (s *Server) handed(ctx context.Context, id string) {
	if s.cfg.Directory == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), directoryTimeout) // what was done is done
	defer cancel()
	if err := s.cfg.Directory.handed(ctx, id); err != nil {
		s.log.Warn("live recording's hand-over not recorded; the next run hands it over again", "stream", id, "err", err)
	}
}

// trimRecording cuts the file at path to a whole number of MPEG-TS packets (a crash may have
// cut its last one) and returns its size.
func trimRecording(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	size := fi.Size() - fi.Size()%tsPacket
	if size != fi.Size() {
		if err := os.Truncate(path, size); err != nil {
			return 0, err
		}
	}
	return size, nil
}
