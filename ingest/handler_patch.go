package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
)

// commitTimeout bounds the database update that records a stored chunk; it runs even when the
// client has gone away, so that the bytes it sent count.
const commitTimeout = 30 * time.Second

// patch appends a chunk to an upload (the core protocol), declaring its length first when the
// request carries the Upload-Length that creation-defer-length put off.
func (h *Handler) patch(w http.ResponseWriter, r *http.Request, p auth.Principal, id string) error {
	if !isOffsetStream(r.Header.Get("Content-Type")) {
		return errContentType
	}
	offset, ok := parseSize(r.Header.Get("Upload-Offset"))
	if !ok {
		return badHeader("Upload-Offset", "must be a non-negative decimal integer")
	}
	declared := int64(-1) // no Upload-Length
	if v := r.Header.Get("Upload-Length"); v != "" {
		if declared, ok = parseSize(v); !ok {
			return badHeader("Upload-Length", "must be a non-negative decimal integer")
		}
		if declared > h.cfg.MaxSize {
			return errTooLarge
		}
	}
	var sum *checksum
	if v := r.Header.Get("Upload-Checksum"); v != "" {
		c, err := parseChecksum(v)
		if err != nil {
			return err
		}
		sum = &c
	}

	u, unlock, err := h.lockAndLoad(r, p, id)
	if err != nil {
		return err
	}
	defer unlock()
	if offset != u.Offset {
		return errOffset
	}
	if declared >= 0 {
		switch {
		case !u.LengthDeferred && declared != u.Length:
			return badHeader("Upload-Length", "the upload's length is %d and cannot change", u.Length)
		case u.LengthDeferred && declared < u.Offset:
			return badHeader("Upload-Length", "below the %d bytes already stored", u.Offset)
		case u.LengthDeferred:
			if u, err = h.uploads.declareLength(r.Context(), id, declared); err != nil {
				return err
			}
			if u.State == stateFinished { // the length is what was already stored
				h.m.finished.Inc()
				setState(w.Header(), u)
				if err := h.finish(context.WithoutCancel(r.Context()), u); err != nil {
					return err
				}
			}
		}
	}

	// A finished upload whose offset matched needs nothing more.
	if u.State == stateReceiving {
		ctx := context.WithoutCancel(r.Context())
		if u, err = h.writeChunk(w, r, u, sum); err != nil {
			return err
		}
		if u.State == stateFinished {
			if err := h.finish(ctx, u); err != nil {
				return err
			}
		}
	}
	setState(w.Header(), u)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeChunk streams r's body into receiving upload u's staged file at its offset, fsyncs it,
// and records the new offset, which it returns with the upload and sets as Upload-Offset.
// A chunk that fails its checksum, or would take the upload past its length or the maximum
// size, is discarded whole. A body that breaks off (the client went away or stalled for
// Config.ChunkIdleTimeout) keeps the bytes that arrived, unless a checksum was to cover them.
// The caller holds u's lock.
func (h *Handler) writeChunk(w http.ResponseWriter, r *http.Request, u upload, sum *checksum) (upload, error) {
	defer func() { setState(w.Header(), u) }()
	limit := h.cfg.MaxSize - u.Offset
	if !u.LengthDeferred {
		limit = u.Length - u.Offset
	}
	if r.ContentLength > limit {
		return u, errTooLarge
	}
	f, err := h.openStaged(r.Context(), u)
	if err != nil {
		return u, err
	}
	defer f.Close()
	discard := func() {
		if err := f.Truncate(u.Offset); err != nil { // else the next write cuts them off
			h.log.Warn("cannot discard a chunk", "upload", u.ID, "err", err)
		}
	}

	var hh hash.Hash
	if sum != nil {
		hh = sum.newHash()
	}
	n, bodyErr, err := h.copyBody(w, r.Body, f, limit, hh)
	switch {
	case err != nil:
		discard()
		return u, err
	case sum != nil && bodyErr != nil:
		discard()
		return u, bodyError(bodyErr)
	case sum != nil && !hashEqual(hh, sum.sum):
		discard()
		return u, errChecksum
	case n == 0 && bodyErr != nil:
		return u, bodyError(bodyErr)
	case n == 0:
		return u, nil
	}
	if err := f.Sync(); err != nil {
		discard()
		return u, fmt.Errorf("ingest: sync upload %s: %w", u.ID, err)
	}
	// On failure the bytes stay in the file, past the recorded offset: whatever the database
	// did, the next write of this upload cuts the file back to what it recorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), commitTimeout)
	defer cancel()
	next, err := h.uploads.advance(ctx, u.ID, u.Offset, u.Offset+n, h.now().Add(h.cfg.TTL))
	if err != nil {
		return u, err
	}
	u = next
	h.m.bytes.Add(float64(n))
	if u.State == stateFinished {
		h.m.finished.Inc()
		h.log.Info("upload finished", "upload", u.ID, "size", u.Length)
		return u, nil // every byte arrived, whatever happened to the connection after them
	}
	if bodyErr != nil {
		return u, bodyError(bodyErr)
	}
	return u, nil
}

// writebackStep is how many bytes of a chunk are written between two requests to start their
// writeback (see startWriteback).
const writebackStep = 8 << 20

// copyBody copies body to f through one pooled buffer, adding it to hh if not nil. It reads
// at most limit bytes: a body with more is an error (errTooLarge), as is a failed write.
// Every read must make progress within Config.ChunkIdleTimeout. A body that fails otherwise
// (bodyErr) leaves in f the n bytes read before.
func (h *Handler) copyBody(w http.ResponseWriter, body io.Reader, f *os.File, limit int64, hh hash.Hash) (n int64, bodyErr, err error) {
	bp := h.bufs.Get().(*[]byte)
	defer h.bufs.Put(bp)
	buf := *bp
	rc := http.NewResponseController(w)
	start, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, nil, fmt.Errorf("ingest: write upload: %w", err)
	}
	var flushed int64 // bytes of this body whose writeback has been started
	deadlines := true
	var deadlineSet time.Time // when the read deadline was last moved
	for {
		// Move the deadline when a tenth of the idle timeout has passed since it was last
		// moved, not before every read: a stall is still caught within 1.1 timeouts, and a
		// fast upload does not pay a timer update per read.
		if now := time.Now(); deadlines && now.Sub(deadlineSet) >= h.cfg.ChunkIdleTimeout/10 {
			deadlineSet = now
			if err := rc.SetReadDeadline(now.Add(h.cfg.ChunkIdleTimeout)); err != nil {
				deadlines = false
				h.log.Warn("cannot set read deadlines: a stalled client holds its upload until the server drops it", "err", err)
			}
		}
		want := int64(len(buf))
		if rest := limit - n; rest < want { // one more byte shows a body that is too long
			want = rest + 1
		}
		m, rerr := body.Read(buf[:want])
		if int64(m) > limit-n {
			return n, nil, errTooLarge
		}
		if m > 0 {
			if _, err := f.Write(buf[:m]); err != nil {
				return n, nil, fmt.Errorf("ingest: write upload: %w", err)
			}
			if hh != nil {
				hh.Write(buf[:m])
			}
			n += int64(m)
			if n-flushed >= writebackStep {
				startWriteback(f, start+flushed, n-flushed)
				flushed = n
			}
		}
		if rerr == io.EOF {
			if deadlines {
				rc.SetReadDeadline(time.Time{}) // the connection may carry another request
			}
			return n, nil, nil
		}
		// Otherwise the deadline stays: after the handler, the server reads what is left of
		// the body before it answers, and a stalled client must not hold that up either.
		if rerr != nil {
			return n, rerr, nil
		}
	}
}

func hashEqual(h hash.Hash, want []byte) bool { return bytes.Equal(h.Sum(nil), want) }

// bodyError turns the failure to read a request body into the error the client gets, if it
// is still there: 500 for a stall (tus clients retry 5xx, not 4xx), 400 for a short body.
func bodyError(err error) error {
	var ne net.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return &apierr.Error{Status: http.StatusInternalServerError, Code: codeBodyTimeout,
			Message: "the request body stalled; the bytes received before were stored", Err: err}
	}
	return &apierr.Error{Status: http.StatusBadRequest, Code: "body_incomplete",
		Message: "the request body broke off; the bytes received before were stored", Err: err}
}

// openStaged opens receiving upload u's staged file for writing at its offset. Bytes past the
// offset (stored, but not recorded before a crash, or a discarded chunk) are cut off; a file
// shorter than the offset means the bytes are lost, and so is the upload.
func (h *Handler) openStaged(ctx context.Context, u upload) (*os.File, error) {
	f, err := os.OpenFile(h.stagedPath(u.ID), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest: open upload %s: %w", u.ID, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest: open upload %s: %w", u.ID, err)
	}
	switch size := fi.Size(); {
	case size > u.Offset:
		h.log.Warn("discarding unrecorded bytes of an upload", "upload", u.ID, "offset", u.Offset, "size", size)
		if err := f.Truncate(u.Offset); err != nil {
			f.Close()
			return nil, fmt.Errorf("ingest: open upload %s: %w", u.ID, err)
		}
	case size < u.Offset:
		f.Close()
		h.log.Error("the staged bytes of an upload are missing; expiring it", "upload", u.ID, "offset", u.Offset, "size", size)
		h.expire(context.WithoutCancel(ctx), u)
		return nil, apierr.New(http.StatusGone, "upload_lost", "the server lost the bytes of this upload; start a new one")
	}
	if _, err := f.Seek(u.Offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest: open upload %s: %w", u.ID, err)
	}
	return f, nil
}
