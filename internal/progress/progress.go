// Package progress draws a one-line progress bar for long command-line work (transcoding,
// uploading). On a terminal it redraws in place at most ten times a second; elsewhere (a
// log file, CI) it prints a plain line at every tenth of the way, so logs stay readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar is a progress bar over a total; the zero value is not usable, call New.
type Bar struct {
	w     io.Writer
	label string
	total float64
	unit  Unit
	tty   bool
	start time.Time
	now   func() time.Time

	mu       sync.Mutex
	drawn    time.Time
	lastTen  int // last tenth printed when not a terminal
	finished bool
}

// Unit says how amounts are shown.
type Unit int

// Units of a Bar.
const (
	Percent Unit = iota // the total is 100: amounts are percentages
	Bytes               // amounts are bytes: shows sizes and a rate
)

// New returns a bar labelled label over total, drawn on w.
func New(w io.Writer, label string, total float64, unit Unit) *Bar {
	return &Bar{w: w, label: label, total: total, unit: unit, tty: isTerminal(w), start: time.Now(), now: time.Now, lastTen: -1}
}

// Set moves the bar to done (of the total) and redraws it if it is time to.
func (b *Bar) Set(done float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	now := b.now()
	frac := 0.0
	if b.total > 0 {
		frac = min(max(done/b.total, 0), 1)
	}
	if b.tty {
		if now.Sub(b.drawn) < 100*time.Millisecond && frac < 1 {
			return
		}
		b.drawn = now
		fmt.Fprintf(b.w, "\r%s", b.line(done, frac, now))
		return
	}
	if ten := int(frac * 10); ten > b.lastTen {
		b.lastTen = ten
		fmt.Fprintln(b.w, strings.TrimSpace(b.line(done, frac, now)))
	}
}

// Done draws the bar at done one last time and ends its line.
func (b *Bar) Done(done float64) {
	b.mu.Lock()
	b.drawn = time.Time{}
	b.mu.Unlock()
	b.Set(done)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && !b.finished {
		fmt.Fprintln(b.w)
	}
	b.finished = true
}

const width = 30

func (b *Bar) line(done, frac float64, now time.Time) string {
	n := int(frac * width)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	s := fmt.Sprintf("%s [%s] %3.0f%%", b.label, bar, frac*100)
	elapsed := now.Sub(b.start)
	if b.unit == Bytes {
		s += fmt.Sprintf(" %s/%s", Size(done), Size(b.total))
		if secs := elapsed.Seconds(); secs > 0 {
			s += fmt.Sprintf(" %s/s", Size(done/secs))
		}
	}
	if frac > 0 && frac < 1 {
		eta := time.Duration(float64(elapsed) * (1 - frac) / frac).Round(time.Second)
		s += fmt.Sprintf(" ETA %s", eta)
	} else {
		s += fmt.Sprintf(" in %s", elapsed.Round(100*time.Millisecond))
	}
	return s + "   "
}

// Size formats a byte count in binary units: 512 B, 1.5 MiB.
func Size(n float64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%.0f B", n)
	}
	div, exp := float64(unit), 0
	for v := n / unit; v >= unit && exp < 4; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", n/div, "KMGTP"[exp])
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
