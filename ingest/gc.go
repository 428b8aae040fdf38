package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/videoid"
)

// gcBatch bounds the uploads one round of Run looks at per kind of work.
const gcBatch = 500

// Run does the background work until ctx is done, then returns nil: at start it deletes
// staged files that belong to no live upload, and every Config.GCInterval (and at start) it
// expires unfinished uploads past their expiry (their bytes and state go; requests for them
// answer 410), hands finished uploads to OnComplete again if an earlier call failed or never
// ended (a crash), and forgets uploads older than Config.Retention.
func (h *Handler) Run(ctx context.Context) error {
	h.sweep(ctx)
	t := time.NewTicker(h.cfg.GCInterval)
	defer t.Stop()
	for {
		h.collect(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// collect runs one round of Run's periodic work.
func (h *Handler) collect(ctx context.Context) {
	expired, err := h.db.ExpiredUploads(ctx, h.now(), gcBatch)
	if err != nil && ctx.Err() == nil {
		h.log.Warn("listing expired uploads", "err", err)
	}
	for _, u := range expired {
		h.withTryLock(ctx, u.ID, db.UploadReceiving, func(u db.Upload) {
			if !h.now().Before(u.ExpiresAt) {
				h.expire(ctx, u)
			}
		})
	}

	finished, err := h.db.UploadsInState(ctx, db.UploadFinished, gcBatch)
	if err != nil && ctx.Err() == nil {
		h.log.Warn("listing finished uploads", "err", err)
	}
	for _, u := range finished {
		h.withTryLock(ctx, u.ID, db.UploadFinished, func(u db.Upload) {
			if err := h.complete(ctx, u); err != nil {
				h.log.Warn("handing over a finished upload failed again", "upload", u.ID, "err", err)
			}
		})
	}

	purged, err := h.db.PurgeUploads(ctx, h.now().Add(-h.cfg.Retention))
	if err != nil && ctx.Err() == nil {
		h.log.Warn("purging old uploads", "err", err)
	}
	for _, id := range purged {
		if err := h.removeStaged(id); err != nil {
			h.log.Warn("purging old uploads", "err", err)
		}
	}
	if len(purged) > 0 {
		h.log.Info("forgot old uploads", "count", len(purged))
	}
}

// withTryLock runs fn on upload id, read again under its lock, if the lock is free (else a
// request is working on the upload) and the upload is still in state.
func (h *Handler) withTryLock(ctx context.Context, id, state string, fn func(db.Upload)) {
	unlock, ok := h.locks.tryLock(id)
	if !ok {
		return
	}
	defer unlock()
	u, err := h.db.UploadByID(ctx, id)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, db.ErrNotFound) {
			h.log.Warn("reading an upload", "upload", id, "err", err)
		}
		return
	}
	if u.State == state {
		fn(u)
	}
}

// expire turns receiving upload u into an expired tombstone and deletes its bytes. The caller
// holds u's lock.
func (h *Handler) expire(ctx context.Context, u db.Upload) {
	if _, err := h.db.SetUploadState(ctx, u.ID, db.UploadReceiving, db.UploadExpired, "", ""); err != nil {
		if !errors.Is(err, db.ErrConflict) {
			h.log.Warn("expiring an upload", "upload", u.ID, "err", err)
		}
		return
	}
	h.m.expired.Inc()
	h.log.Info("upload expired", "upload", u.ID, "offset", u.Offset)
	if err := h.removeStaged(u.ID); err != nil {
		h.log.Warn("expiring an upload", "upload", u.ID, "err", err)
	}
}

// complete hands finished upload u to Config.OnComplete and records the outcome: complete,
// rejected (an *apierr.Error with a 4xx status; the bytes go), or still finished (any other
// error, returned for the client; Run retries). The caller holds u's lock.
func (h *Handler) complete(ctx context.Context, u db.Upload) error {
	ctx = context.WithoutCancel(ctx)
	if h.cfg.OnComplete != nil {
		up, err := h.toUpload(u)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, h.cfg.CompleteTimeout)
		err = h.cfg.OnComplete(cctx, up)
		cancel()
		var e *apierr.Error
		if errors.As(err, &e) && e.Status < http.StatusInternalServerError {
			if _, serr := h.db.SetUploadState(ctx, u.ID, db.UploadFinished, db.UploadRejected, e.Code, e.Message); serr != nil {
				return fmt.Errorf("ingest: reject upload %s: %w", u.ID, serr)
			}
			h.m.rejected.Inc()
			h.log.Info("upload rejected", "upload", u.ID, "code", e.Code, "reason", e.Message)
			if rerr := h.removeStaged(u.ID); rerr != nil {
				h.log.Warn("removing a rejected upload", "upload", u.ID, "err", rerr)
			}
			return err
		}
		if err != nil {
			if e == nil {
				err = fmt.Errorf("ingest: hand over upload %s: %w", u.ID, err)
			}
			return err
		}
	}
	if _, err := h.db.SetUploadState(ctx, u.ID, db.UploadFinished, db.UploadComplete, "", ""); err != nil {
		return fmt.Errorf("ingest: complete upload %s: %w", u.ID, err)
	}
	h.log.Info("upload complete", "upload", u.ID, "size", u.Length)
	if err := h.removeStaged(u.ID); err != nil {
		h.log.Warn("removing a handed-over upload", "upload", u.ID, "err", err)
	}
	return nil
}

// toUpload describes finished upload u for OnComplete.
func (h *Handler) toUpload(u db.Upload) (Upload, error) {
	meta, err := parseMetadata(u.Metadata)
	if err != nil {
		return Upload{}, fmt.Errorf("ingest: upload %s: stored metadata: %w", u.ID, err)
	}
	d, err := parseDetails(meta)
	if err != nil {
		return Upload{}, fmt.Errorf("ingest: upload %s: stored metadata: %w", u.ID, err)
	}
	return Upload{
		ID:         u.ID,
		Owner:      u.UserID,
		Size:       u.Length,
		Metadata:   meta,
		Path:       h.stagedPath(u.ID),
		Filename:   d.filename,
		Filetype:   d.filetype,
		Caption:    d.caption,
		Visibility: d.visibility,
		CreatedAt:  u.CreatedAt,
	}, nil
}

// sweep deletes the staged files of uploads that are gone or tombstones: leftovers of a crash
// between a state change and the deletion of the bytes. It needs no locks: a live upload's
// record is written before its file, and nothing writes to a tombstone's file.
func (h *Handler) sweep(ctx context.Context) {
	entries, err := os.ReadDir(h.cfg.Dir)
	if err != nil {
		h.log.Warn("sweeping the staging directory", "err", err)
		return
	}
	for _, e := range entries {
		id := e.Name()
		if !e.Type().IsRegular() || !videoid.Valid(id) {
			continue
		}
		u, err := h.db.UploadByID(ctx, id)
		switch {
		case errors.Is(err, db.ErrNotFound):
		case err != nil:
			if ctx.Err() == nil {
				h.log.Warn("sweeping the staging directory", "upload", id, "err", err)
			}
			continue
		case u.State == db.UploadRejected || u.State == db.UploadExpired || u.State == db.UploadTerminated:
		default:
			continue
		}
		if err := h.removeStaged(id); err != nil {
			h.log.Warn("sweeping the staging directory", "err", err)
		} else {
			h.log.Info("removed a leftover staged file", "upload", id)
		}
	}
}
