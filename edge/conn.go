package edge

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/listener"
)

// The edge's connections come from an internal/listener.Listener (caps, accept errors ridden
// out, a write deadline per write), each wrapped in a headConn.
//
// fasthttp finds the end of a request's header only by "\r\n\r\n". A header that ends with
// bare line feeds ("\n\n"), as some hand-written clients send, leaves it waiting for more
// until the read timeout, and the client without an answer. RFC 9112 lets a server take a
// bare LF as a line's end; the edge refuses it instead, at once: each connection watches the
// header of its requests, and a header that ends with a bare LF fails the read, which
// fasthttp answers 400 (see requestError).

// errBareLF fails the read of a request header that ends with a bare LF.
var errBareLF = errors.New("edge: the request header ends with a bare LF: header lines end with CRLF")

// crlfcrlf is "\r\n\r\n", the four bytes that end a request header, as one number.
const crlfcrlf = '\r'<<24 | '\n'<<16 | '\r'<<8 | '\n'

// connListener hands out the listener's connections wrapped in headConns.
type connListener struct {
	*listener.Listener
}

func (l connListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &headConn{Conn: c.(*listener.Conn)}
	hc.head.Store(true)
	return hc, nil
}

// headConn is a connection that watches the header of each request it reads for an end made
// of a bare LF. It watches from when it is accepted, and again each time the server waits for
// its next request (expectHead), until the header's blank line; what follows (a body) is not
// watched. A request pipelined behind another, read with it, is not watched either.
type headConn struct {
	*listener.Conn
	head atomic.Bool // reading a request header

	// Where the header being read is, for the goroutine that reads the connection.
	started bool   // a line of the header has begun (blank lines before it are skipped, as fasthttp does)
	line    int    // bytes of the current line, CRs aside
	last    uint32 // the last four bytes read

	// What is held back from the wire (holder), for the goroutine that writes the connection.
	holding bool
	held    []byte
}

// Write writes p, or keeps it while the connection holds its writes (hold).
func (c *headConn) Write(p []byte) (int, error) {
	if c.holding {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *headConn) hold() {
	c.holding, c.held = true, c.held[:0]
}

func (c *headConn) release() []byte {
	c.holding = false
	return c.held
}

// Read reads from the connection; when what it read ends a request header with a bare LF,
// it returns errBareLF with it.
func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.head.Load() && c.bareLF(p[:n]) {
		return n, errBareLF
	}
	return n, err
}

// bareLF scans b, read in a request header, and reports whether it ends the header with a
// blank line other than "\r\n\r\n".
func (c *headConn) bareLF(b []byte) bool {
	for _, ch := range b {
		c.last = c.last<<8 | uint32(ch)
		switch ch {
		case '\n':
			if c.line == 0 && c.started { // a blank line: the header's end
				c.head.Store(false)
				return c.last != crlfcrlf
			}
			c.started = c.started || c.line > 0
			c.line = 0
		case '\r':
		default:
			c.line++
		}
	}
	return false
}

// expectHead notes that the next bytes read begin a request's header.
func (c *headConn) expectHead() {
	c.started, c.line, c.last = false, 0, 0
	c.head.Store(true)
}

// Errors of requests that fasthttp could not read, as requestError answers them.
var (
	errHeaderTooLarge = apierr.New(http.StatusRequestHeaderFieldsTooLarge, "header_too_large", "the request header is larger than this edge reads")
	errBadRequest     = apierr.New(http.StatusBadRequest, "bad_request", "the request is malformed")
	errBadLineEnd     = apierr.New(http.StatusBadRequest, "bad_request", "the request header ends with a bare LF: header lines end with CRLF")
	errRequestTimeout = apierr.New(http.StatusRequestTimeout, "request_timeout", "the request did not arrive in time")
)

// requestError answers a request that fasthttp could not read (fasthttp.Server.ErrorHandler),
// in the JSON shape of the edge's other errors. fasthttp closes the connection after it.
func (e *Edge) requestError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	answer := errBadRequest
	switch {
	case errors.As(err, &small):
		answer = errHeaderTooLarge
	case errors.Is(err, errBareLF):
		answer = errBadLineEnd
	case isTimeout(err):
		answer = errRequestTimeout
	}
	e.writeError(ctx, answer)
}
