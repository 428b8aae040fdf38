package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// JobKind is the kind of the queue's transcode jobs.
const JobKind = "transcode"

// jobPayload is the payload of a transcode job.
type jobPayload struct {
	Video string `json:"video"`
}

// Publisher takes finished uploads into the pipeline; its OnComplete is the tus Handler's
// Config.OnComplete. For each upload it probes the source and refuses what is not a video,
// keeps the source under sources/{id}, creates the video (processing) and queues its
// transcode job. Every step is idempotent, so a retried hand-over is harmless.
type Publisher struct {
	db          *db.DB
	store       storage.Store
	probe       func(ctx context.Context, in transcoder.Input) (transcoder.Info, error)
	log         *slog.Logger
	maxAttempts int
}

// NewPublisher returns a Publisher probing sources with tc's limits (duration, size).
// maxAttempts bounds how often a video's transcode is tried (default 3).
func NewPublisher(d *db.DB, store storage.Store, tc *transcoder.Transcoder, maxAttempts int, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if maxAttempts <= 0 {
		maxAttempts = 3
	}
	return &Publisher{db: d, store: store, probe: tc.Probe, log: log.With("tier", "ingest"), maxAttempts: maxAttempts}
}

// OnComplete hands upload u to the pipeline. A source that is not a playable video is refused
// with a 422 naming the reason (not_video, no_video_stream, undecodable, zero_duration,
// too_long, too_large).
func (p *Publisher) OnComplete(ctx context.Context, u Upload) error {
	info, err := p.probe(ctx, transcoder.Input{Path: u.Path})
	var rej *transcoder.RejectError
	if errors.As(err, &rej) {
		return &apierr.Error{Status: http.StatusUnprocessableEntity, Code: string(rej.Reason), Message: rej.Detail, Err: err}
	}
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	f, err := os.Open(u.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	ctype := u.Filetype
	if ctype == "" {
		ctype = "video/mp4"
	}
	if _, err := p.store.Put(ctx, layout.SourceKey(u.ID), f, u.Size, storage.PutOptions{ContentType: ctype}); err != nil {
		return fmt.Errorf("keeping the source: %w", err)
	}
	if _, err := p.db.CreateVideo(ctx, db.Video{
		ID: u.ID, UserID: u.Owner, Caption: u.Caption, Visibility: u.Visibility, Filename: u.Filename,
		SourceSize: u.Size, Hashtags: Hashtags(u.Caption),
	}); err != nil {
		return err
	}
	payload, _ := json.Marshal(jobPayload{Video: u.ID})
	job, err := p.db.Enqueue(ctx, JobKind, payload, db.EnqueueOptions{Key: u.ID, MaxAttempts: p.maxAttempts})
	if err != nil {
		return err
	}
	p.log.Info("video queued", "video", u.ID, "job", job.ID, "source", info.String())
	return nil
}
