// Package demo seeds a reelay with something to watch: demo users who follow each other (an
// admin among them), and clips generated from FFmpeg's lavfi sources, each with a caption and
// hashtags, uploaded over tus to the API like any creator's and transcoded by the normal
// pipeline, then liked and watched by the demo users so that For You has signal. `reelay up
// --demo` runs it in the background once the listeners are up.
//
// A seed is remembered in its directory (state.json: the demo password and each clip's video
// id), so that running it again on the same data adds nothing that is there, and finishes
// what an interrupted run left.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/reelay/reelay/internal/tusclient"
)

// Config configures a Seeder.
type Config struct {
	// API is the base URL of the API listener, e.g. http://127.0.0.1:8080. Required.
	API string
	// Dir keeps the seed's state and the clips while they are made and uploaded. Required.
	Dir string
	// Clips is how many clips the seed has. Default: DefaultClips (20).
	Clips int
	// Grant makes an account an admin, as `reelay admin grant` does. Required.
	Grant func(ctx context.Context, handle string) error
	// HTTP sends the requests. Default: a client whose requests time out after 30 s, but
	// for uploads, which the tus client bounds itself.
	HTTP *http.Client
	// PollInterval is how often the clips' statuses are asked while they are transcoded.
	// Default: 500ms.
	PollInterval time.Duration
	// Logger receives the seed's progress, with the attribute tier=demo. Default: discarded.
	Logger *slog.Logger
}

// DefaultClips is the default of Config.Clips.
const DefaultClips = 20

// Seeder seeds the demo. Its state is loaded, or made with a new password, by New.
type Seeder struct {
	cfg   Config
	log   *slog.Logger
	specs []Spec

	mu    sync.Mutex
	state state
}

// state is what the seed remembers in Dir/state.json.
type state struct {
	Password string                `json:"password"` // of every demo user
	Clips    map[string]*clipState `json:"clips"`    // by the clip's index in Clips
}

type clipState struct {
	Video   string `json:"video"`   // its video id, once its upload is created
	Engaged bool   `json:"engaged"` // its likes and views are in
}

// New validates cfg and loads the seed's state from cfg.Dir, making it (with a new random
// password) the first time.
func New(cfg Config) (*Seeder, error) {
	switch {
	case cfg.API == "":
		return nil, errors.New("demo: Config.API is required")
	case cfg.Dir == "":
		return nil, errors.New("demo: Config.Dir is required")
	case cfg.Grant == nil:
		return nil, errors.New("demo: Config.Grant is required")
	case cfg.Clips < 0:
		return nil, fmt.Errorf("demo: Config.Clips %d: want 0 or more", cfg.Clips)
	}
	if cfg.Clips == 0 {
		cfg.Clips = DefaultClips
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Seeder{cfg: cfg, log: log.With("tier", "demo"), specs: Clips(cfg.Clips)}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	b, err := os.ReadFile(s.statePath())
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s.state); err != nil || s.state.Password == "" {
			return nil, fmt.Errorf("demo: %s is damaged (remove it to seed again): %v", s.statePath(), err)
		}
	case errors.Is(err, os.ErrNotExist):
		raw := make([]byte, 6)
		rand.Read(raw)
		s.state.Password = "demo-" + hex.EncodeToString(raw)
	default:
		return nil, fmt.Errorf("demo: %w", err)
	}
	if s.state.Clips == nil {
		s.state.Clips = map[string]*clipState{}
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	return s, nil
}

// Password is the password of every demo user, the admin's too.
func (s *Seeder) Password() string { return s.state.Password }

func (s *Seeder) statePath() string { return filepath.Join(s.cfg.Dir, "state.json") }

// save writes the state, whole or not at all. The caller holds mu, or is New.
func (s *Seeder) save() error {
	b, err := json.MarshalIndent(s.state, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.Rename(tmp, s.statePath()); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// clip returns clip i's state, made empty if it has none.
func (s *Seeder) clip(i int) *clipState {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strconv.Itoa(i)
	if s.state.Clips[k] == nil {
		s.state.Clips[k] = &clipState{}
	}
	c := *s.state.Clips[k]
	return &c
}

// setClip records clip i's state.
func (s *Seeder) setClip(i int, c clipState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Clips[strconv.Itoa(i)] = &c
	return s.save()
}

// Run seeds the demo once the API answers: the users, their follows and the admin, then the
// clips one after the other, each uploaded as soon as it is made while the pipeline
// transcodes the ones before, each liked and watched once it is ready. It logs its progress
// and returns when every clip is ready or failed, or when ctx ends. It returns nil whatever
// happens: a demo that goes wrong is logged, and stops nothing else of the process.
func (s *Seeder) Run(ctx context.Context) error {
	start := time.Now()
	if s.waitReady(ctx) != nil {
		return nil
	}
	tokens, err := s.users(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("demo seed failed", "err", err)
		}
		return nil
	}
	s.log.Info("demo users ready", "users", len(tokens), "admin", AdminHandle, "clips", len(s.specs))

	w := &watch{s: s, tokens: tokens, start: start, pending: map[int]string{}}
	uploaded := make(chan uploadedClip)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx, uploaded)
	}()
	todo := 0 // clips uploaded, or not yet liked and watched
	for i, spec := range s.specs {
		if ctx.Err() != nil {
			break
		}
		id, err := s.ensureClip(ctx, i, spec, tokens[spec.Creator])
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("demo clip failed", "n", i+1, "look", spec.Look, "err", err)
			}
			continue
		}
		if id != "" {
			todo++
			select {
			case uploaded <- uploadedClip{i, id}:
			case <-ctx.Done():
			}
		}
	}
	close(uploaded)
	<-done
	switch {
	case ctx.Err() != nil:
	case todo == 0:
		s.log.Info("demo already seeded", "clips", len(s.specs), "state", s.statePath())
	default:
		s.log.Info("demo seeded", "clips", len(s.specs), "ready", w.ready, "failed", w.failed,
			"first_playable", w.firstPlayable.Round(100*time.Millisecond), "last_playable", w.lastPlayable.Round(100*time.Millisecond),
			"took", time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// waitReady waits until the API's /readyz answers 200, or ctx ends.
func (s *Seeder) waitReady(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.API+"/readyz", nil)
		resp, err := s.cfg.HTTP.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// users registers the demo users (or logs them in, when they are there from an earlier seed),
// makes the admin an admin and has everyone follow whom they follow. It returns each one's
// bearer token.
func (s *Seeder) users(ctx context.Context) (map[string]string, error) {
	tokens := map[string]string{}
	for _, u := range Users() {
		body := map[string]string{"handle": u.Handle, "password": s.state.Password}
		status, err := s.call(ctx, http.MethodPost, "/v1/users", "", body, nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusCreated && status != http.StatusConflict {
			return nil, fmt.Errorf("registering %s: %d", u.Handle, status)
		}
		var sess struct {
			Token string `json:"token"`
		}
		if status, err = s.call(ctx, http.MethodPost, "/v1/sessions", "", body, &sess); err != nil {
			return nil, err
		}
		if status != http.StatusCreated && status != http.StatusOK || sess.Token == "" {
			return nil, fmt.Errorf("logging in as %s: %d (was its password changed? remove %s to seed again on new data)", u.Handle, status, s.statePath())
		}
		tokens[u.Handle] = sess.Token
		if u.Admin {
			if err := s.cfg.Grant(ctx, u.Handle); err != nil {
				return nil, fmt.Errorf("making %s an admin: %w", u.Handle, err)
			}
		}
	}
	for _, u := range Users() {
		for _, f := range u.Follows {
			if err := s.expect(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(f)+"/follow", tokens[u.Handle], nil, http.StatusOK); err != nil {
				return nil, fmt.Errorf("%s following %s: %w", u.Handle, f, err)
			}
		}
	}
	return tokens, nil
}

// ensureClip makes and uploads clip i unless an earlier seed did, and returns its video id,
// or "" when it needs nothing more (it is ready, liked and watched).
func (s *Seeder) ensureClip(ctx context.Context, i int, spec Spec, token string) (string, error) {
	c := s.clip(i)
	if c.Video != "" {
		var v videoStatus
		status, err := s.call(ctx, http.MethodGet, "/v1/videos/"+url.PathEscape(c.Video), token, nil, &v)
		switch {
		case err != nil:
			return "", err
		case status == http.StatusOK && v.Status != "uploading":
			if c.Engaged {
				return "", nil
			}
			return c.Video, nil
		case status != http.StatusOK && status != http.StatusNotFound:
			return "", fmt.Errorf("status of %s: %d", c.Video, status)
		}
		// Gone, or its upload never finished: upload it again.
	}
	file := filepath.Join(s.cfg.Dir, fmt.Sprintf("clip-%02d.mp4", i+1))
	defer os.Remove(file)
	made := time.Now()
	if err := Generate(ctx, spec.Clip, file); err != nil {
		return "", err
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	tc := &tusclient.Client{Endpoint: s.cfg.API + "/v1/uploads/", Token: token}
	loc, err := tc.Create(ctx, fi.Size(), map[string]string{
		"filename": fmt.Sprintf("%s-%02d.mp4", spec.Look, i+1), "filetype": "video/mp4", "caption": spec.Caption, "visibility": "public",
	})
	if err != nil {
		return "", err
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	id := path.Base(u.Path)
	// The upload goes to the API this seed talks to, wherever --public-url says clients reach it.
	loc = s.cfg.API + "/v1/uploads/" + url.PathEscape(id)
	if err := s.setClip(i, clipState{Video: id}); err != nil {
		return "", err
	}
	if err := tc.Upload(ctx, loc, f, fi.Size(), 0, nil); err != nil {
		return "", err
	}
	s.log.Info("demo clip uploaded", "n", i+1, "of", len(s.specs), "video", id, "look", spec.Look, "creator", spec.Creator,
		"size", fmt.Sprintf("%dx%d", spec.Clip.Width, spec.Clip.Height), "seconds", spec.Clip.Seconds,
		"made_in", time.Since(made).Round(10*time.Millisecond))
	return id, nil
}

// videoStatus is what the seed reads of GET /v1/videos/{id}.
type videoStatus struct {
	Status   string `json:"status"`
	Playable bool   `json:"playable"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type uploadedClip struct {
	n  int
	id string
}

// watch follows the uploaded clips until each is ready or failed, logging when each becomes
// playable and ready, and has the demo users like and watch each ready one.
type watch struct {
	s       *Seeder
	tokens  map[string]string
	start   time.Time
	pending map[int]string // clip index -> video id
	playing map[int]bool   // logged as playable

	ready, failed int
	firstPlayable time.Duration // since the seed started: how long a newcomer waits for a video
	lastPlayable  time.Duration
}

func (w *watch) run(ctx context.Context, uploaded <-chan uploadedClip) {
	w.playing = map[int]bool{}
	tick := time.NewTicker(w.s.cfg.PollInterval)
	defer tick.Stop()
	for open := true; open || len(w.pending) > 0; {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-uploaded:
			if !ok {
				open, uploaded = false, nil
				continue
			}
			w.pending[c.n] = c.id
		case <-tick.C:
			w.poll(ctx)
		}
	}
}

// poll asks each pending clip's status once.
func (w *watch) poll(ctx context.Context) {
	s := w.s
	for n, id := range w.pending {
		spec := s.specs[n]
		var v videoStatus
		status, err := s.call(ctx, http.MethodGet, "/v1/videos/"+url.PathEscape(id), w.tokens[spec.Creator], nil, &v)
		if err != nil || status != http.StatusOK {
			if ctx.Err() == nil {
				s.log.Warn("demo clip status", "n", n+1, "video", id, "status", status, "err", err)
			}
			if status == http.StatusNotFound {
				delete(w.pending, n)
			}
			continue
		}
		after := time.Since(w.start)
		if v.Playable && !w.playing[n] {
			w.playing[n] = true
			if w.firstPlayable == 0 {
				w.firstPlayable = after
			}
			w.lastPlayable = after
			s.log.Info("demo clip playable", "n", n+1, "video", id, "after", after.Round(100*time.Millisecond))
		}
		switch v.Status {
		case "ready":
			delete(w.pending, n)
			w.ready++
			if err := s.engage(ctx, n, id, w.tokens); err != nil {
				if ctx.Err() == nil {
					s.log.Warn("demo likes and views failed", "n", n+1, "video", id, "err", err)
				}
				continue
			}
			s.log.Info("demo clip ready", "n", n+1, "of", len(s.specs), "video", id, "caption", spec.Caption, "after", after.Round(100*time.Millisecond))
		case "failed":
			delete(w.pending, n)
			w.failed++
			reason := ""
			if v.Error != nil {
				reason = v.Error.Message + " (" + v.Error.Code + ")"
			}
			s.log.Error("demo clip failed", "n", n+1, "video", id, "reason", reason)
		}
	}
}

// engage has the demo users who did not make clip n like some of it and watch it: a play
// and a complete, or a play and an early skip, so that views, likes and the recommender's
// watch rates differ between clips. It is recorded, so that a later seed does not count
// the views again.
func (s *Seeder) engage(ctx context.Context, n int, id string, tokens map[string]string) error {
	spec := s.specs[n]
	ms := int64(spec.Clip.Seconds * 1000)
	for j, u := range Users() {
		if u.Handle == spec.Creator || (n+j)%4 == 0 {
			continue // some never see it
		}
		tok := tokens[u.Handle]
		if (n*3+j)%3 == 0 {
			if err := s.expect(ctx, http.MethodPut, "/v1/videos/"+url.PathEscape(id)+"/like", tok, nil, http.StatusOK); err != nil {
				return err
			}
		}
		at := time.Now().UTC().Format(time.RFC3339Nano)
		ev := func(typ string, watch int64) map[string]any {
			return map[string]any{"video": id, "type": typ, "at": at, "watch_ms": watch, "position": n}
		}
		events := []map[string]any{ev("impression", 0), ev("play", 0)}
		if (n*j)%3 != 2 {
			events = append(events, ev("progress", ms/2), ev("complete", ms))
		} else {
			events = append(events, ev("skip", 800))
		}
		if err := s.expect(ctx, http.MethodPost, "/v1/events", tok, map[string]any{"events": events}, http.StatusAccepted); err != nil {
			return err
		}
	}
	return s.setClip(n, clipState{Video: id, Engaged: true})
}

// expect sends a request and wants the status want.
func (s *Seeder) expect(ctx context.Context, method, p, token string, body any, want int) error {
	status, err := s.call(ctx, method, p, token, body, nil)
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("%s %s: %d, want %d", method, p, status, want)
	}
	return nil
}

// call sends a JSON request to the API and decodes a 2xx answer's body into out (when not
// nil). It waits out a 429 (as Retry-After says, at most 5 s, a few times).
func (s *Seeder) call(ctx context.Context, method, p, token string, body, out any) (int, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return 0, err
		}
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, s.cfg.API+p, bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := s.cfg.HTTP.Do(req)
		if err != nil {
			return 0, err
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 5 {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Duration(min(max(wait, 1), 5)) * time.Second):
			}
			continue
		}
		if out != nil && resp.StatusCode/100 == 2 {
			if err := json.Unmarshal(data, out); err != nil {
				return resp.StatusCode, fmt.Errorf("%s %s: %w", method, p, err)
			}
		}
		return resp.StatusCode, nil
	}
}
