package ingest

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/videoid"
)

// What the server announces.
const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration"
	offsetStream  = "application/offset+octet-stream"
)

// CORS: browsers may upload from any origin, since requests authenticate with a bearer token,
// never with cookies.
const (
	corsAllowMethods  = "POST, HEAD, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Defer-Length, Upload-Offset, Upload-Metadata, Upload-Checksum, X-HTTP-Method-Override, X-Requested-With, X-Request-ID"
	corsExposeHeaders = "Location, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm"
)

// codeBodyTimeout marks the error of a request whose body stalled: the client's problem,
// answered 500 so that tus clients retry, but not logged as a server error.
const codeBodyTimeout = "body_timeout"

var (
	errNotFound        = apierr.New(http.StatusNotFound, "upload_not_found", "there is no such upload")
	errUnauthenticated = apierr.New(http.StatusUnauthorized, "unauthenticated", "uploading needs a bearer token")
	errAdmin           = apierr.New(http.StatusForbidden, "forbidden", "uploads belong to a user: the admin token cannot create them")
	errVersion         = apierr.New(http.StatusPreconditionFailed, "unsupported_version", "Tus-Resumable must be "+tusVersion)
	errOffset          = apierr.New(http.StatusConflict, "offset_mismatch", "Upload-Offset is not the upload's offset; ask for it with HEAD")
	errContentType     = apierr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be "+offsetStream)
	errChecksum        = apierr.New(460, "checksum_mismatch", "the chunk does not match Upload-Checksum and was discarded")
	errTooLarge        = apierr.New(http.StatusRequestEntityTooLarge, "upload_too_large", "the upload would be larger than its Upload-Length or the server's Tus-Max-Size")
	errExpired         = apierr.New(http.StatusGone, "upload_expired", "the upload expired before it finished; start a new one")
	errTerminated      = apierr.New(http.StatusGone, "upload_terminated", "the upload was deleted")
	errFinished        = apierr.New(http.StatusForbidden, "upload_finished", "the upload is finished: it is a video now, delete the video instead")
)

// ServeHTTP serves the tus protocol under Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.forward(w, r) {
		return
	}
	w.Header().Set("Tus-Resumable", tusVersion)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	cors(w, r)
	if err := h.serve(w, r); err != nil {
		log := h.log
		var e *apierr.Error
		if r.Context().Err() != nil || (errors.As(err, &e) && e.Code == codeBodyTimeout) {
			log = nil // the client went away or stalled: nothing for an operator to fix
			h.log.Info("upload request ended early", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		apierr.Write(w, r, log, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	method := r.Method
	if m := r.Header.Get("X-HTTP-Method-Override"); m != "" && method == http.MethodPost {
		if m != http.MethodPatch && m != http.MethodDelete && m != http.MethodHead {
			return badHeader("X-HTTP-Method-Override", "must be PATCH, DELETE or HEAD")
		}
		method = m
	}
	id, ok := splitPath(r.URL.Path)
	if !ok {
		return errNotFound
	}
	if method == http.MethodOptions {
		h.options(w)
		return nil
	}
	// A browser may look at an upload without the header; every other request must carry it.
	if v := r.Header.Get("Tus-Resumable"); v != tusVersion && (v != "" || method != http.MethodHead) {
		w.Header().Set("Tus-Version", tusVersion)
		return errVersion
	}
	p, ok := auth.FromContext(r.Context())
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		return errUnauthenticated
	}
	if id == "" {
		if method != http.MethodPost {
			w.Header().Set("Allow", "OPTIONS, POST")
			return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "create an upload with POST")
		}
		return h.create(w, r, p)
	}
	switch method {
	case http.MethodHead:
		return h.head(w, r, p, id)
	case http.MethodPatch:
		return h.patch(w, r, p, id)
	case http.MethodDelete:
		return h.terminate(w, r, p, id)
	}
	w.Header().Set("Allow", "OPTIONS, HEAD, PATCH, DELETE")
	return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "an upload answers HEAD, PATCH, DELETE and OPTIONS")
}

// splitPath returns the upload id in path, "" for the collection itself (Path with or
// without its slash), and false for a path outside Path.
func splitPath(path string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(path, strings.TrimSuffix(Path, "/"))
	if !ok {
		return "", false
	}
	if rest == "" || rest == "/" {
		return "", true
	}
	id, ok = strings.CutPrefix(rest, "/")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// options answers discovery and CORS preflight requests, which need no token.
func (h *Handler) options(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Tus-Version", tusVersion)
	hdr.Set("Tus-Extension", tusExtensions)
	hdr.Set("Tus-Max-Size", strconv.FormatInt(h.cfg.MaxSize, 10))
	hdr.Set("Tus-Checksum-Algorithm", checksumAlgorithms)
	w.WriteHeader(http.StatusNoContent)
}

// cors adds the CORS headers to a request from a browser.
func cors(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") == "" {
		return
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hdr.Set("Access-Control-Allow-Methods", corsAllowMethods)
		hdr.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hdr.Set("Access-Control-Max-Age", "86400")
		return
	}
	hdr.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// isOffsetStream reports whether a Content-Type is the tus chunk type.
func isOffsetStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == offsetStream
}

// lockAndLoad takes upload id's lock, waiting at most as long as the request lives, and loads
// the upload (see load). On success the caller must call unlock; on failure the lock is
// already released.
func (h *Handler) lockAndLoad(r *http.Request, p auth.Principal, id string) (u upload, unlock func(), err error) {
	if !videoid.Valid(id) {
		return upload{}, nil, errNotFound
	}
	if unlock, err = h.locks.lock(r.Context(), id); err != nil {
		return upload{}, nil, err
	}
	if u, err = h.load(r.Context(), p, id); err != nil {
		unlock()
		return upload{}, nil, err
	}
	return u, unlock, nil
}

// load returns upload id if p owns it and it is still there. Uploads of others do not exist
// (404, not 403); tombstones answer 410. An unfinished upload past its expiry is expired on
// the spot. The caller holds the upload's lock.
func (h *Handler) load(ctx context.Context, p auth.Principal, id string) (upload, error) {
	u, err := h.uploads.get(ctx, id)
	if errors.Is(err, db.ErrNotFound) || (err == nil && (p.UserID == 0 || u.UserID != p.UserID)) {
		return upload{}, errNotFound
	}
	if err != nil {
		return upload{}, err
	}
	switch u.State {
	case stateReceiving:
		if !h.now().Before(u.ExpiresAt) {
			h.expire(ctx, u)
			return upload{}, errExpired
		}
	case stateExpired:
		return upload{}, errExpired
	case stateTerminated:
		return upload{}, errTerminated
	case stateRejected:
		return upload{}, apierr.New(http.StatusGone, u.ReasonCode, u.Reason)
	}
	return u, nil
}

// setState adds the headers that describe u's progress.
func setState(hdr http.Header, u upload) {
	hdr.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	if u.State == stateReceiving {
		hdr.Set("Upload-Expires", u.ExpiresAt.UTC().Format(http.TimeFormat))
	} else {
		hdr.Del("Upload-Expires")
	}
}

func (h *Handler) head(w http.ResponseWriter, r *http.Request, p auth.Principal, id string) error {
	w.Header().Set("Cache-Control", "no-store")
	u, unlock, err := h.lockAndLoad(r, p, id)
	if err != nil {
		return err
	}
	defer unlock()
	hdr := w.Header()
	setState(hdr, u)
	if u.LengthDeferred {
		hdr.Set("Upload-Defer-Length", "1")
	} else {
		hdr.Set("Upload-Length", strconv.FormatInt(u.Length, 10))
	}
	if u.Metadata != "" {
		hdr.Set("Upload-Metadata", u.Metadata)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// terminate deletes an unfinished upload (the termination extension). A finished upload is a
// video, deleted through the video API instead.
func (h *Handler) terminate(w http.ResponseWriter, r *http.Request, p auth.Principal, id string) error {
	u, unlock, err := h.lockAndLoad(r, p, id)
	if err != nil {
		return err
	}
	defer unlock()
	if u.State != stateReceiving {
		return errFinished
	}
	if _, err := h.uploads.setState(context.WithoutCancel(r.Context()), id, stateReceiving, stateTerminated, "", ""); err != nil {
		return err
	}
	h.m.terminated.Inc()
	if err := h.removeStaged(id); err != nil {
		h.log.Error("removing a terminated upload", "upload", id, "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
