package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/videoid"
)

// gcBatch bounds the uploads one round of Run looks at per kind of work.
const gcBatch = 500

// Run does the background work until ctx is done, then stops the hand-overs under way (a
// stopped one is taken up again by the next Run) and returns nil once they have. At start it
// deletes staged files that belong to no live upload, and every Config.GCInterval (and at
// start) it expires unfinished uploads past their expiry, whichever node stages them (their
// state goes, requests for them answer 410, and the staging node deletes their bytes), hands
// finished uploads staged here to the Pipeline again if an earlier hand-over failed or never
// ended (a crash), and forgets uploads older than Config.Retention. With a Config.NodeURL it
// also deletes, every round, the staged files of uploads that another node expired or forgot.
func (h *Handler) Run(ctx context.Context) error {
	defer func() {
		h.bgMu.Lock()
		h.stopBG()
		h.bgMu.Unlock()
		h.handovers.Wait()
	}()
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
	expired, err := h.uploads.expired(ctx, h.now(), gcBatch)
	if err != nil && ctx.Err() == nil {
		h.log.Warn("listing expired uploads", "err", err)
	}
	for _, u := range expired {
		h.withTryLock(ctx, u.ID, stateReceiving, func(u upload) {
			if !h.now().Before(u.ExpiresAt) {
				h.expire(ctx, u)
			}
		})
	}

	// Only the node staging a finished upload has its bytes to hand over.
	finished, err := h.uploads.inState(ctx, stateFinished, h.cfg.NodeURL, gcBatch)
	if err != nil && ctx.Err() == nil {
		h.log.Warn("listing finished uploads", "err", err)
	}
	for _, u := range finished {
		h.withTryLock(ctx, u.ID, stateFinished, func(u upload) {
			if err := h.accept(ctx, u); err != nil {
				h.log.Warn("accepting a finished upload failed again", "upload", u.ID, "err", err)
				return
			}
			h.handOver(ctx, u)
		})
	}

	purged, err := h.uploads.purge(ctx, h.now().Add(-h.cfg.Retention))
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
	if h.cfg.NodeURL != "" {
		// Another node may have expired or forgotten an upload staged here.
		h.sweep(ctx)
	}
}

// withTryLock runs fn on upload id, read again under its lock, if the lock is free (else a
// request is working on the upload) and the upload is still in state.
func (h *Handler) withTryLock(ctx context.Context, id, state string, fn func(upload)) {
	unlock, ok := h.locks.tryLock(id)
	if !ok {
		return
	}
	defer unlock()
	u, err := h.uploads.get(ctx, id)
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
func (h *Handler) expire(ctx context.Context, u upload) {
	if _, err := h.uploads.setState(ctx, u.ID, stateReceiving, stateExpired, "", ""); err != nil {
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

// finish takes finished upload u from the request that finished it: the pipeline accepts it
// (or refuses it, and the error is the client's answer), then takes its bytes in the
// background. The caller holds u's lock.
func (h *Handler) finish(ctx context.Context, u upload) error {
	if err := h.accept(context.WithoutCancel(ctx), u); err != nil {
		return err
	}
	if h.pipeline == nil {
		return h.completed(context.WithoutCancel(ctx), u)
	}
	h.bgMu.Lock()
	defer h.bgMu.Unlock()
	if h.bg.Err() != nil {
		return nil // stopping: the next Run hands it over
	}
	// The hand-over, and the job it queues, continue the trace of the request that finished
	// the upload.
	traced := h.bg
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		traced = trace.ContextWithSpanContext(traced, sc)
	}
	h.handovers.Add(1)
	go func() {
		defer h.handovers.Done()
		unlock, err := h.locks.lock(h.bg, u.ID) // once the request that finished it lets go
		if err != nil {
			return // stopping: the next Run hands it over
		}
		defer unlock()
		if u, err := h.uploads.get(h.bg, u.ID); err == nil && u.State == stateFinished {
			h.handOver(traced, u)
		}
	}()
	return nil
}

// accept asks the pipeline to accept finished upload u and records a refusal: the upload is
// rejected (an *apierr.Error with a 4xx status, returned for the client; the bytes go). Any
// other error is returned for the client, and Run tries again. The caller holds u's lock.
func (h *Handler) accept(ctx context.Context, u upload) error {
	if h.pipeline == nil {
		return nil
	}
	up, err := h.toUpload(u)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, h.cfg.AcceptTimeout)
	err = h.pipeline.Accept(actx, up)
	cancel()
	var e *apierr.Error
	if errors.As(err, &e) && e.Status < http.StatusInternalServerError {
		if _, serr := h.uploads.setState(ctx, u.ID, stateFinished, stateRejected, e.Code, e.Message); serr != nil {
			return fmt.Errorf("ingest: reject upload %s: %w", u.ID, serr)
		}
		h.m.rejected.Inc()
		h.log.Info("upload rejected", "upload", u.ID, "code", e.Code, "reason", e.Message)
		if rerr := h.removeStaged(u.ID); rerr != nil {
			h.log.Warn("removing a rejected upload", "upload", u.ID, "err", rerr)
		}
		return err
	}
	if err != nil && e == nil {
		err = fmt.Errorf("ingest: accept upload %s: %w", u.ID, err)
	}
	return err
}

// handOver gives the bytes of accepted upload u to the pipeline, and completes the upload once
// it has taken them. A failure is logged and left to Run. The caller holds u's lock.
func (h *Handler) handOver(ctx context.Context, u upload) {
	up, err := h.toUpload(u)
	if err == nil {
		hctx, cancel := context.WithTimeout(ctx, h.cfg.HandOverTimeout)
		err = h.pipeline.HandOver(hctx, up)
		cancel()
	}
	if err != nil {
		if ctx.Err() == nil {
			h.m.handOverFailures.Inc()
			h.log.Warn("handing over an upload failed; Run tries again", "upload", u.ID, "err", err)
		}
		return
	}
	if err := h.completed(ctx, u); err != nil {
		h.log.Warn("completing a handed-over upload", "upload", u.ID, "err", err)
	}
}

// completed records that finished upload u is complete and deletes what is left of its bytes.
func (h *Handler) completed(ctx context.Context, u upload) error {
	if _, err := h.uploads.setState(ctx, u.ID, stateFinished, stateComplete, "", ""); err != nil {
		return fmt.Errorf("ingest: complete upload %s: %w", u.ID, err)
	}
	h.log.Info("upload complete", "upload", u.ID, "size", u.Length)
	if err := h.removeStaged(u.ID); err != nil {
		h.log.Warn("removing a handed-over upload", "upload", u.ID, "err", err)
	}
	return nil
}

// toUpload describes finished upload u for the Pipeline.
func (h *Handler) toUpload(u upload) (Upload, error) {
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
		u, err := h.uploads.get(ctx, id)
		switch {
		case errors.Is(err, db.ErrNotFound):
		case err != nil:
			if ctx.Err() == nil {
				h.log.Warn("sweeping the staging directory", "upload", id, "err", err)
			}
			continue
		case u.State == stateRejected || u.State == stateExpired || u.State == stateTerminated:
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
