package transcoder

import (
	"errors"

	"github.com/asticode/go-astiav"
)

// encoderDepth is how many filtered frames each rung's encoder may have waiting. The encoder
// copies a frame into its own buffers as it takes it, so a frame waits only while the encoder
// finishes the one before.
const encoderDepth = 2

// rungEncoder runs one rung's encoder in a goroutine of its own, fed the frames that the
// pipeline's goroutine takes from the filter graph. With the rungs encoded side by side, a rung
// whose encoder blocks (libx264 waiting for one of its frame threads) holds up neither the
// others nor the decoder, and the cores stay busy: FFmpeg's command line encodes the rungs of
// a filter_complex one after the other.
//
// The encoder and its packet belong to the goroutine from start to stop; the pipeline touches
// neither meanwhile, nor the videoOut fields that encodeVideo updates.
type rungEncoder struct {
	queue  chan *astiav.Frame // frames to encode, in order; nil flushes the encoder
	free   chan *astiav.Frame // frames the goroutine is done with, to fill again
	frames []*astiav.Frame    // all of them, to free at the end
	failed chan struct{}      // closed when err is set
	done   chan struct{}      // closed when the goroutine has returned
	err    error
}

// startEncoders starts a goroutine per rung; stopEncoders must follow.
func (j *job) startEncoders() error {
	for _, o := range j.outs {
		e := &rungEncoder{
			queue:  make(chan *astiav.Frame, encoderDepth+1),
			free:   make(chan *astiav.Frame, encoderDepth),
			failed: make(chan struct{}),
			done:   make(chan struct{}),
		}
		for range encoderDepth {
			f := astiav.AllocFrame()
			if f == nil {
				e.freeFrames()
				return errors.New("transcoder: allocating frame failed")
			}
			e.frames = append(e.frames, f)
			e.free <- f
		}
		o.encoder = e
		go j.runEncoder(o)
	}
	return nil
}

// runEncoder encodes what o's queue brings until it is closed. After an error it only hands
// the frames back, so that the pipeline never waits for it.
func (j *job) runEncoder(o *videoOut) {
	e := o.encoder
	defer close(e.done)
	for f := range e.queue {
		if e.err == nil {
			err := j.ctx.Err() // a cancelled Run encodes nothing more
			if err == nil {
				err = j.encodeVideo(o, f)
			}
			if err != nil {
				e.err = err
				close(e.failed) // once: e.err is set from now on
			}
		}
		if f != nil {
			f.Unref()
			e.free <- f
		}
	}
}

// encode hands a copy of f (a reference to its buffers) to o's encoder, waiting for a free
// frame; it returns the encoder's error instead once it has failed.
func (o *videoOut) encode(f *astiav.Frame) error {
	e := o.encoder
	select {
	case fr := <-e.free:
		if err := fr.Ref(f); err != nil {
			e.free <- fr
			return err
		}
		e.queue <- fr
		return nil
	case <-e.failed:
		return e.err
	}
}

// stopEncoders flushes every rung's encoder when flush is set, stops the goroutines, waits for
// them and frees their frames. It returns the first encoder's error.
func (j *job) stopEncoders(flush bool) error {
	var err error
	for _, o := range j.outs {
		if e := o.encoder; e != nil {
			if flush {
				e.queue <- nil
			}
			close(e.queue)
		}
	}
	for _, o := range j.outs {
		if e := o.encoder; e != nil {
			<-e.done
			e.freeFrames()
			err = errors.Join(err, e.err)
			o.encoder = nil
		}
	}
	return err
}

func (e *rungEncoder) freeFrames() {
	for _, f := range e.frames {
		f.Free()
	}
	e.frames = nil
}
