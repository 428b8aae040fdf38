package server

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// A request body's read deadline. net/http bounds the reading of a request's header
// (ReadHeaderTimeout), and can bound the whole request with its response (ReadTimeout,
// WriteTimeout), which would cut long uploads; nothing in between. So the server moves the
// connection's read deadline itself: BodyTimeout from when the handler is called, and again
// before each read of the body, so that a body that keeps coming is read however long it is,
// and one that stalls fails after BodyTimeout. Once the body has been read to its end the
// deadline is cleared: net/http then reads the connection in the background while the handler
// works, and a deadline passing there would cancel the request's context.
//
// A handler that sets a read deadline itself, through http.ResponseController (ingest's tus
// PATCH does, per read), takes over: from then on the server leaves the deadline to it.

// bodyDeadline moves the read deadline of one request's connection.
type bodyDeadline struct {
	rc      *http.ResponseController // the connection's own writer's, not the handler's
	timeout time.Duration
	owned   atomic.Bool // the handler has set a read deadline itself
	moved   time.Time   // when the deadline was last moved
	ended   bool        // the body was read to its end
}

// startBody sets the read deadline of r's connection, if r has a body, and returns r with a
// body that moves it, and the deadline for the handler's writer to hand over.
func startBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) (*http.Request, *bodyDeadline) {
	if r.Body == nil || r.Body == http.NoBody {
		return r, nil
	}
	d := &bodyDeadline{rc: http.NewResponseController(w), timeout: timeout}
	d.move(true)
	r2 := *r // a shallow copy: the server keeps the original body to drain after the handler
	r2.Body = &deadlineBody{ReadCloser: r.Body, d: d}
	return &r2, d
}

// move sets the deadline to timeout from now, if the handler has not taken over and, unless
// always, when a tenth of the timeout has passed since it was last moved.
func (d *bodyDeadline) move(always bool) {
	if d.owned.Load() || d.ended {
		return
	}
	now := time.Now()
	if !always && now.Sub(d.moved) < d.timeout/10 {
		return
	}
	d.moved = now
	d.rc.SetReadDeadline(now.Add(d.timeout))
}

// deadlineBody is a request body that moves the read deadline before each read.
type deadlineBody struct {
	io.ReadCloser
	d *bodyDeadline
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	b.d.move(false)
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.d.owned.Load() && !b.d.ended {
		b.d.ended = true
		b.d.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
