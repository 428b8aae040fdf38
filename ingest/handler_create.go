package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/videoid"
)

// create makes a new upload (the creation extension) and stores the body of the request, if
// it carries one (creation-with-upload).
func (h *Handler) create(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if p.UserID == 0 { // the operator's admin token: nobody's upload
		return errAdmin
	}
	length, deferred, err := parseLength(r.Header)
	if err != nil {
		return err
	}
	if length > h.cfg.MaxSize {
		return errTooLarge
	}
	meta, err := parseMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return err
	}
	if _, err := parseDetails(meta); err != nil {
		return err
	}
	// A body of another type is not a chunk: clients may send a default Content-Type.
	withBody := isOffsetStream(r.Header.Get("Content-Type"))
	var sum *checksum
	if v := r.Header.Get("Upload-Checksum"); v != "" && withBody {
		c, err := parseChecksum(v)
		if err != nil {
			return err
		}
		sum = &c
	}
	if withBody && !deferred && r.ContentLength > length {
		return errTooLarge
	}

	ctx := context.WithoutCancel(r.Context()) // once created, record the upload in full
	u, err := h.newUpload(ctx, upload{
		UserID:         p.UserID,
		Length:         length,
		LengthDeferred: deferred,
		Metadata:       r.Header.Get("Upload-Metadata"),
		ExpiresAt:      h.now().Add(h.cfg.TTL),
		Node:           h.cfg.NodeURL,
	})
	var qe *quotaError
	if errors.As(err, &qe) && qe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(qe.retryAfter.Seconds())+1))
	}
	if err != nil {
		return err
	}
	h.m.created.Inc()
	h.log.Info("upload created", "upload", u.ID, "user", u.UserID, "length", length, "deferred", deferred)
	hdr := w.Header()
	hdr.Set("Location", h.uploadURL(r, u.ID))
	setState(hdr, u)

	switch {
	case u.State == stateFinished: // empty
		h.m.finished.Inc()
		if err := h.finish(ctx, u); err != nil {
			return err
		}
	case withBody:
		unlock, err := h.locks.lock(r.Context(), u.ID)
		if err != nil {
			return err
		}
		defer unlock()
		if u, err = h.writeChunk(w, r, u, sum); err != nil {
			return err
		}
		if u.State == stateFinished {
			if err := h.finish(ctx, u); err != nil {
				return err
			}
		}
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// newUpload stores an upload under a fresh id and creates its staged file.
func (h *Handler) newUpload(ctx context.Context, u upload) (upload, error) {
	var err error
	for range 3 { // a clash of 128-bit random ids is not expected, ever
		u.ID = videoid.New()
		var created upload
		if created, err = h.uploads.create(ctx, u, h.quota(ctx, u)); err == nil {
			u = created
			break
		}
		if !errors.Is(err, db.ErrDuplicate) {
			return upload{}, err
		}
	}
	var qe *quotaError
	if errors.As(err, &qe) {
		h.m.quotaRefused.Inc()
		h.log.Info("upload refused: quota", "user", u.UserID, "code", qe.err.Code)
		return upload{}, qe
	}
	if err != nil {
		return upload{}, err
	}
	if err := h.createStaged(u.ID); err != nil {
		if _, serr := h.uploads.setState(ctx, u.ID, u.State, stateTerminated, "", ""); serr != nil {
			h.log.Error("cannot retire an upload without a staged file", "upload", u.ID, "err", serr)
		}
		return upload{}, err
	}
	return u, nil
}

// quota returns the check of Config.Quota for the creation of u.
func (h *Handler) quota(ctx context.Context, u upload) func(*sql.Tx, time.Time) error {
	length := u.Length
	if u.LengthDeferred {
		length = h.cfg.MaxSize
	}
	return func(tx *sql.Tx, now time.Time) error {
		return checkQuota(ctx, tx, h.cfg.Quota, u.UserID, length, h.cfg.MaxSize, now)
	}
}

// createStaged creates upload id's empty staged file and makes its name durable.
func (h *Handler) createStaged(id string) error {
	f, err := os.OpenFile(h.stagedPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("ingest: create staged upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ingest: create staged upload: %w", err)
	}
	return h.syncDir()
}

// syncDir makes the entries of the staging directory durable.
func (h *Handler) syncDir() error {
	d, err := os.Open(h.cfg.Dir)
	if err != nil {
		return fmt.Errorf("ingest: sync staging directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ingest: sync staging directory: %w", err)
	}
	return nil
}

// parseLength reads the length of a new upload from Upload-Length, or learns from
// Upload-Defer-Length: 1 that it comes later.
func parseLength(hdr http.Header) (length int64, deferred bool, err error) {
	l, dl := hdr.Get("Upload-Length"), hdr.Get("Upload-Defer-Length")
	switch {
	case l != "" && dl != "":
		return 0, false, badHeader("Upload-Length", "give it or Upload-Defer-Length, not both")
	case dl != "":
		if dl != "1" {
			return 0, false, badHeader("Upload-Defer-Length", "must be 1")
		}
		return 0, true, nil
	case l != "":
		v, ok := parseSize(l)
		if !ok {
			return 0, false, badHeader("Upload-Length", "must be a non-negative decimal integer")
		}
		return v, false, nil
	}
	return 0, false, apierr.New(http.StatusBadRequest, "invalid_header", "Upload-Length or Upload-Defer-Length: 1 is required")
}
