package transcoder

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"slices"
	"time"

	"github.com/asticode/go-astiav"
)

// posterShortSide is the preferred short side of the poster: the rung nearest to it is used.
const posterShortSide = 540

// posterPicker chooses the poster among a few candidate frames of one rung: the first frames at
// or after min(1s, d/3), d/3, d/2 and 2d/3 of the duration d. The candidate with the most luma
// variance wins, which passes over black, faded and flat frames. The very first frame is kept
// only as a fallback.
type posterPicker struct {
	times []time.Duration // candidate times, ascending
	next  int             // index of the next candidate time
	best  *astiav.Frame   // a reference to the chosen frame
	score float64
}

func newPosterPicker(d time.Duration) *posterPicker {
	times := []time.Duration{min(time.Second, d/3), d / 3, d / 2, 2 * d / 3}
	slices.Sort(times)
	return &posterPicker{times: slices.Compact(times)}
}

// consider looks at a frame presented at time at. It keeps a reference to the frame when it is
// the best candidate so far.
func (p *posterPicker) consider(f *astiav.Frame, at time.Duration) error {
	candidate := p.next < len(p.times) && at >= p.times[p.next]
	if !candidate && p.best != nil {
		return nil
	}
	for p.next < len(p.times) && at >= p.times[p.next] {
		p.next++
	}
	score := -1.0 // a fallback loses to any candidate
	if candidate {
		v, err := lumaVariance(f)
		if err != nil {
			return err
		}
		score = v
	}
	if p.best != nil && score <= p.score {
		return nil
	}
	c := f.Clone()
	if c == nil {
		return errors.New("transcoder: referencing poster frame failed")
	}
	p.free()
	p.best, p.score = c, score
	return nil
}

// jpeg encodes the chosen frame, or returns nil when there is none.
func (p *posterPicker) jpeg() ([]byte, error) {
	if p.best == nil {
		return nil, nil
	}
	img, err := frameImage(p.best)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, fmt.Errorf("transcoder: encoding poster: %w", err)
	}
	return b.Bytes(), nil
}

func (p *posterPicker) free() {
	if p.best != nil {
		p.best.Free()
		p.best = nil
	}
}

// yuv420 returns a copy of a yuv420p frame's planes.
func yuv420(f *astiav.Frame) (y, cb, cr []byte, w, h int, err error) {
	if f.PixelFormat() != astiav.PixelFormatYuv420P {
		return nil, nil, nil, 0, 0, fmt.Errorf("transcoder: poster frame is %s, want yuv420p", f.PixelFormat().Name())
	}
	w, h = f.Width(), f.Height()
	b, err := f.Data().Bytes(1)
	if err != nil {
		return nil, nil, nil, 0, 0, fmt.Errorf("transcoder: copying poster frame: %w", err)
	}
	cw, ch := (w+1)/2, (h+1)/2
	if len(b) < w*h+2*cw*ch {
		return nil, nil, nil, 0, 0, errors.New("transcoder: short poster frame")
	}
	return b[:w*h], b[w*h : w*h+cw*ch], b[w*h+cw*ch : w*h+2*cw*ch], w, h, nil
}

// lumaVariance returns the variance of a frame's luma, sampled on a grid.
func lumaVariance(f *astiav.Frame) (float64, error) {
	y, _, _, w, h, err := yuv420(f)
	if err != nil {
		return 0, err
	}
	var n, sum, sumSq float64
	for row := 0; row < h; row += 2 {
		for _, v := range y[row*w : (row+1)*w : (row+1)*w] {
			fv := float64(v)
			sum += fv
			sumSq += fv * fv
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	mean := sum / n
	return sumSq/n - mean*mean, nil
}

// frameImage converts a limited-range yuv420p frame to a full-range (JFIF) YCbCr image.
func frameImage(f *astiav.Frame) (*image.YCbCr, error) {
	y, cb, cr, w, h, err := yuv420(f)
	if err != nil {
		return nil, err
	}
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = expand(y[i], 16, 219)
	}
	for i := range img.Cb {
		img.Cb[i] = expandChroma(cb[i])
		img.Cr[i] = expandChroma(cr[i])
	}
	return img, nil
}

func expand(v byte, lo, span int) byte {
	return clamp((int(v) - lo) * 255 / span)
}

func expandChroma(v byte) byte {
	return clamp((int(v)-128)*255/224 + 128)
}

func clamp(v int) byte {
	return byte(min(max(v, 0), 255))
}
