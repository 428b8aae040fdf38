package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/progress"
	"github.com/reelay/reelay/internal/tusclient"
	"github.com/reelay/reelay/internal/video"
)

// uploadConfig is `reelay upload`: one local video file to a reelay API over tus, resumed
// where it stopped when run again after an interruption, then followed until it is playable.
type uploadConfig struct {
	common
	file         string
	api          string
	token        string
	caption      string
	visibility   string
	noWait       bool
	timeout      time.Duration
	state        string
	chunkSize    int64
	pollInterval time.Duration
}

func setupUpload(fs *flag.FlagSet) runner {
	c := &uploadConfig{}
	c.common.register(fs)
	fs.StringVar(&c.file, "file", "", "the video file to upload (required)")
	fs.StringVar(&c.api, "api", "", "base URL of the reelay API, e.g. http://127.0.0.1:8080 (required with --token; else the one of reelay login)")
	fs.StringVar(&c.token, "token", "", "bearer token of the uploading user; better given as REELAY_TOKEN; without either, the token that reelay login stored")
	fs.StringVar(&c.caption, "caption", "", "caption of the video; its #hashtags become the video's")
	fs.StringVar(&c.visibility, "visibility", string(video.Public), "who may watch the video: public, unlisted or private")
	fs.BoolVar(&c.noWait, "no-wait", false, "print the video id once uploaded instead of waiting until it is playable")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "how long to wait for processing once uploaded; 0 waits as long as it takes")
	fs.StringVar(&c.state, "state", "", "file remembering unfinished uploads, to resume them; empty is $XDG_STATE_HOME/reelay/uploads.json or ~/.local/state/reelay/uploads.json")
	sizeVar(fs, &c.chunkSize, "chunk-size", tusclient.DefaultChunkSize, "most bytes per request: what a broken connection costs to send again")
	fs.DurationVar(&c.pollInterval, "poll-interval", time.Second, "how often to ask whether the video is playable")
	return c
}

func (c *uploadConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	switch {
	case c.file == "":
		return usagef("which file? reelay upload FILE (or --file FILE)")
	case c.api == "" && c.token != "":
		return usagef("--api is required: the base URL of the reelay API, e.g. http://127.0.0.1:8080")
	}
	if c.api != "" {
		if err := checkURL("api", c.api); err != nil {
			return err
		}
	}
	if _, ok := video.ParseVisibility(c.visibility); !ok || c.visibility == "" {
		return usagef("invalid --visibility %q: want public, unlisted or private", c.visibility)
	}
	if c.timeout < 0 {
		return usagef("invalid --timeout %v: want 0 or more", c.timeout)
	}
	if c.chunkSize < 64<<10 || c.chunkSize > 1<<30 {
		return usagef("invalid --chunk-size: want 64KiB to 1GiB")
	}
	if c.pollInterval <= 0 {
		return usagef("invalid --poll-interval %v: want more than 0", c.pollInterval)
	}
	return nil
}

func (c *uploadConfig) run(ctx context.Context, e *env) error {
	if c.token == "" {
		if err := c.useLogin(e); err != nil {
			return err
		}
	}
	f, key, err := openUpload(c.file)
	if err != nil {
		return err
	}
	defer f.Close()
	key.API, key.Caption, key.Visibility = c.apiBase(), c.caption, c.visibility

	statePath := c.state
	if statePath == "" {
		statePath = defaultStatePath(e.getenv)
		if statePath == "" {
			fmt.Fprintln(e.stderr, "reelay upload: neither XDG_STATE_HOME nor HOME is set: this upload cannot be resumed if it is interrupted (see --state)")
		}
	}
	client := &tusclient.Client{
		HTTP:      &http.Client{},
		Endpoint:  c.apiBase() + "/v1/uploads/",
		Token:     c.token,
		ChunkSize: c.chunkSize,
		Logger:    c.logger(e.stderr),
	}
	loc, err := c.upload(ctx, e, client, f, key, statePath)
	if err != nil {
		return err
	}
	u, err := url.Parse(loc)
	if err != nil {
		return err
	}
	id := path.Base(u.Path)
	if c.noWait {
		fmt.Fprintln(e.stdout, id)
		fmt.Fprintf(e.stderr, "reelay upload: uploaded as video %s; GET %s tells when it is playable\n", id, c.statusURL(id))
		return nil
	}
	return c.wait(ctx, e, client.HTTP, id)
}

// useLogin takes the token, and the API unless --api names one, that reelay login stored.
func (c *uploadConfig) useLogin(e *env) error {
	path := credentialsPath(e.getenv)
	cred, err := readCredentials(path)
	if errors.Is(err, fs.ErrNotExist) {
		return usagef("a token is required: --token or REELAY_TOKEN, or log in first with reelay login")
	}
	if err != nil {
		return usagef("%v", err)
	}
	if c.api != "" && c.apiBase() != cred.API {
		return usagef("reelay login stored a token of %s, not of --api %s: log in there, or give --token", cred.API, c.apiBase())
	}
	c.api, c.token = cred.API, cred.Token
	fmt.Fprintf(e.stderr, "reelay upload: as %s, logged in to %s with reelay login\n", cred.Handle, cred.API)
	return nil
}

// apiBase is --api without a trailing slash.
func (c *uploadConfig) apiBase() string { return strings.TrimSuffix(c.api, "/") }

func (c *uploadConfig) statusURL(id string) string {
	return c.apiBase() + "/v1/videos/" + url.PathEscape(id)
}

// openUpload opens the file to upload and describes it for the state file. A file that is
// missing, not a regular file or empty is a usage error.
func openUpload(name string) (*os.File, savedUpload, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, savedUpload{}, usagef("%s: %v", name, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, savedUpload{}, usagef("%s: no such file", name)
		}
		return nil, savedUpload{}, usagef("%v", err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, savedUpload{}, err
	case fi.IsDir():
		f.Close()
		return nil, savedUpload{}, usagef("%s is a directory, not a video file", name)
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, savedUpload{}, usagef("%s is not a regular file", name)
	case fi.Size() == 0:
		f.Close()
		return nil, savedUpload{}, usagef("%s is empty", name)
	}
	return f, savedUpload{File: abs, Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

// upload sends f, resuming the upload the state file remembers for it if the server still
// has it, and returns the upload's URL. The state file remembers the upload until it is
// complete, so that an interrupted run can be resumed by the next.
func (c *uploadConfig) upload(ctx context.Context, e *env, client *tusclient.Client, f *os.File, key savedUpload, statePath string) (string, error) {
	size := key.Size
	remember := func(loc string) {
		if statePath == "" {
			return
		}
		err := updateState(statePath, func(s *uploadState) {
			s.drop(key)
			if loc != "" {
				k := key
				k.URL, k.CreatedAt = loc, time.Now().UTC()
				s.Uploads = append(s.Uploads, k)
			}
		})
		if err != nil {
			fmt.Fprintf(e.stderr, "reelay upload: state file: %v\n", err)
		}
	}

	var loc string
	var offset int64
	if statePath != "" {
		s, err := readState(statePath)
		if err != nil {
			fmt.Fprintf(e.stderr, "reelay upload: ignoring the state file: %v\n", err)
		}
		loc = s.find(key)
	}
	if loc != "" {
		off, length, err := client.Offset(ctx, loc)
		switch {
		case errors.Is(err, tusclient.ErrGone):
			fmt.Fprintln(e.stderr, "reelay upload: the server no longer has the earlier upload of this file; starting over")
			remember("")
			loc = ""
		case err != nil:
			return "", fmt.Errorf("resuming the earlier upload %s: %w", loc, refused(err))
		case length != size:
			fmt.Fprintf(e.stderr, "reelay upload: the earlier upload of this file is %d bytes long, not %d; starting over\n", length, size)
			remember("")
			loc = ""
		default:
			offset = off
			fmt.Fprintf(e.stderr, "reelay upload: resuming at %s of %s, %s to go\n",
				progress.Size(float64(off)), progress.Size(float64(size)), progress.Size(float64(size-off)))
		}
	}

	for restarted := false; ; restarted = true {
		if loc == "" {
			var err error
			if loc, err = client.Create(ctx, size, c.metadata(key.File)); err != nil {
				return "", refused(err)
			}
			offset = 0
			remember(loc)
		}
		// The bar shows what this run sends, so that its rate and ETA are right when it resumes.
		base := offset
		bar := progress.New(e.stderr, "upload", float64(size-base), progress.Bytes)
		var sent atomic.Int64
		sent.Store(base)
		err := client.Upload(ctx, loc, f, size, offset, func(n int64) {
			sent.Store(n)
			bar.Set(float64(n - base))
		})
		switch {
		case err == nil:
			bar.Done(float64(size - base))
			remember("")
			return loc, nil
		case ctx.Err() != nil:
			bar.Done(float64(sent.Load() - base))
			if statePath == "" {
				return "", fmt.Errorf("interrupted after %s of %s", progress.Size(float64(sent.Load())), progress.Size(float64(size)))
			}
			return "", fmt.Errorf("interrupted after %s of %s; the same command resumes the upload", progress.Size(float64(sent.Load())), progress.Size(float64(size)))
		case errors.Is(err, tusclient.ErrGone) && !restarted:
			bar.Done(float64(sent.Load() - base))
			fmt.Fprintln(e.stderr, "reelay upload: the server no longer has the upload; starting over")
			remember("")
			loc = ""
		default:
			bar.Done(float64(sent.Load() - base))
			// A refused upload is not resumed, unless the refusal was of the token.
			var se *tusclient.ServerError
			if errors.As(err, &se) && se.Status != http.StatusUnauthorized {
				remember("")
			}
			return "", refused(err)
		}
	}
}

// refused words a refusal of the server for people; other errors pass unchanged.
func refused(err error) error {
	var se *tusclient.ServerError
	if !errors.As(err, &se) {
		return err
	}
	code := strconv.Itoa(se.Status)
	if se.Code != "" {
		code += " " + se.Code
	}
	return fmt.Errorf("the server refused the upload: %s (%s)", se.Message, code)
}

// metadata is the upload's Upload-Metadata: what ingest makes of it is in ingest.Upload.
func (c *uploadConfig) metadata(file string) map[string]string {
	m := map[string]string{"filename": filepath.Base(file), "visibility": c.visibility}
	if c.caption != "" {
		m["caption"] = c.caption
	}
	if t := mime.TypeByExtension(filepath.Ext(file)); t != "" {
		m["filetype"] = t
	}
	return m
}

// errorText is why video v failed, for people.
func errorText(v feed.Video) string {
	switch {
	case v.Error == nil || v.Error.Message == "" && v.Error.Code == "":
		return "no reason given"
	case v.Error.Code == "":
		return v.Error.Message
	}
	return v.Error.Message + " (" + v.Error.Code + ")"
}

// maxStatusFailures is how many failed status requests in a row wait gives up after.
const maxStatusFailures = 10

// wait polls the video's status until it is ready, printing its playback URL, or failed.
func (c *uploadConfig) wait(ctx context.Context, e *env, hc *http.Client, id string) error {
	parent := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	bar := progress.New(e.stderr, "processing", 100, progress.Percent)
	last, failures := 0.0, 0
	for {
		v, err := c.status(ctx, hc, id)
		switch {
		case ctx.Err() != nil:
			bar.Done(last)
			if parent.Err() != nil {
				return fmt.Errorf("interrupted; the upload is complete: video %s is processing", id)
			}
			return fmt.Errorf("video %s is still processing after %v; GET %s tells when it is playable", id, c.timeout, c.statusURL(id))
		case err != nil:
			var se *statusError
			if errors.As(err, &se) && se.status < 500 && se.status != http.StatusTooManyRequests {
				bar.Done(last)
				return err
			}
			if failures++; failures >= maxStatusFailures {
				bar.Done(last)
				return err
			}
		case v.Status == video.Ready:
			bar.Done(100)
			if v.PlaybackURL == "" {
				return fmt.Errorf("video %s is ready, but the server gave no playback URL", id)
			}
			playback, err := url.Parse(c.apiBase() + "/")
			if err == nil {
				playback, err = playback.Parse(v.PlaybackURL) // a relative URL is the API's
			}
			if err != nil {
				return fmt.Errorf("video %s is ready at a bad playback URL %q", id, v.PlaybackURL)
			}
			fmt.Fprintln(e.stdout, playback)
			return nil
		case v.Status == video.Failed:
			bar.Done(last)
			return fmt.Errorf("video %s failed: %s", id, errorText(v))
		default: // uploading (the hand-over is under way) or processing
			failures = 0
			last = min(max(float64(v.Progress), last), 100)
			bar.Set(last)
		}
		t := time.NewTimer(c.pollInterval)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// statusError is an error answer of the status API.
type statusError struct {
	status        int
	code, message string
}

func (e *statusError) Error() string {
	if e.code == "" {
		return fmt.Sprintf("video status: %d %s", e.status, e.message)
	}
	return fmt.Sprintf("video status: %d %s: %s", e.status, e.code, e.message)
}

// status asks for the video's status once.
func (c *uploadConfig) status(ctx context.Context, hc *http.Client, id string) (feed.Video, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.statusURL(id), nil)
	if err != nil {
		return feed.Video{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return feed.Video{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return feed.Video{}, err
	}
	if resp.StatusCode != http.StatusOK {
		se := &statusError{status: resp.StatusCode, message: http.StatusText(resp.StatusCode)}
		var v struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &v) == nil && v.Error.Message != "" {
			se.code, se.message = v.Error.Code, v.Error.Message
		}
		return feed.Video{}, se
	}
	var v feed.Video
	if err := json.Unmarshal(body, &v); err != nil {
		return feed.Video{}, fmt.Errorf("video status: %w", err)
	}
	return v, nil
}

// The state file remembers the uploads that have not finished, so that the next run for the
// same file resumes instead of starting over. An entry is a file as it was (path, size,
// modification time), the API it went to and the metadata it went with: change any of them
// and the upload starts over. Two runs at once may lose each other's entry, which costs only
// a fresh upload.
type uploadState struct {
	Uploads []savedUpload `json:"uploads"`
}

// savedUpload is an upload in progress: its URL, and the file and settings it belongs to.
type savedUpload struct {
	File       string    `json:"file"` // absolute path
	Size       int64     `json:"size"`
	ModTime    time.Time `json:"mod_time"`
	API        string    `json:"api"`
	Caption    string    `json:"caption"`
	Visibility string    `json:"visibility"`
	URL        string    `json:"url"`
	CreatedAt  time.Time `json:"created_at"`
}

// stateRetention is how long an entry is kept: longer than any server keeps an unfinished
// upload (ingest's default is a day without progress).
const stateRetention = 7 * 24 * time.Hour

func (s savedUpload) same(o savedUpload) bool {
	return s.File == o.File && s.Size == o.Size && s.ModTime.Equal(o.ModTime) && s.API == o.API &&
		s.Caption == o.Caption && s.Visibility == o.Visibility
}

// find returns the URL of the upload of k, "" if none.
func (s *uploadState) find(k savedUpload) string {
	for _, u := range s.Uploads {
		if u.same(k) {
			return u.URL
		}
	}
	return ""
}

// drop forgets the upload of k, and the entries too old to be of use.
func (s *uploadState) drop(k savedUpload) {
	kept := s.Uploads[:0]
	for _, u := range s.Uploads {
		if !u.same(k) && time.Since(u.CreatedAt) < stateRetention {
			kept = append(kept, u)
		}
	}
	s.Uploads = kept
}

// defaultStatePath is $XDG_STATE_HOME/reelay/uploads.json, or ~/.local/state/reelay/uploads.json;
// "" when neither variable is set.
func defaultStatePath(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "reelay", "uploads.json")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "state", "reelay", "uploads.json")
	}
	return ""
}

// readState reads the state file; a missing one is empty.
func readState(path string) (uploadState, error) {
	var s uploadState
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return uploadState{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// updateState applies change to the state file, which it replaces atomically: a crash leaves
// the old file or the new one, never a torn one. An unreadable file is started afresh.
func updateState(path string, change func(*uploadState)) error {
	s, _ := readState(path)
	change(&s)
	return writeJSONFile(path, s)
}
