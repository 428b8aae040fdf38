package pipeline

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// env is what the pipelines of a test share: SQLite, a store, a one-rung transcoder and a
// creator.
type env struct {
	d       *db.DB
	store   storage.Store
	tc      *transcoder.Transcoder
	catalog *feed.Catalog
	owner   int64
}

// newEnv returns an env over a directory store, or over store when it is not nil.
func newEnv(t *testing.T, store storage.Store) *env {
	t.Helper()
	testenv.RequireCommand(t, "ffmpeg")
	d, err := db.Open(t.Context(), filepath.Join(t.TempDir(), "reelay.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if store == nil {
		if store, err = storage.NewFS(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := transcoder.New(transcoder.Config{Ladder: []transcoder.Rung{{Name: "360p", ShortSide: 360, Bitrate: 600_000}}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := feed.NewAccounts(d).CreateUser(t.Context(), "creator", "x")
	if err != nil {
		t.Fatal(err)
	}
	return &env{d: d, store: store, tc: tc, catalog: feed.NewCatalog(d), owner: u.ID}
}

// pipeline returns a pipeline of e with workers workers called name, each with lease, whose
// scratch directory is returned too.
func (e *env) pipeline(t *testing.T, workers int, name string, lease time.Duration) (*Pipeline, string) {
	t.Helper()
	return e.pipelineOn(t, e.d, Config{Workers: workers, Name: name, Lease: lease, Poll: 20 * time.Millisecond})
}

// pipelineOn returns a pipeline of e with cfg over the database d, and its scratch directory.
func (e *env) pipelineOn(t *testing.T, d *db.DB, cfg Config) (*Pipeline, string) {
	t.Helper()
	scratch := t.TempDir()
	cfg.ScratchDir = scratch
	p, err := New(cfg, d, e.store, e.tc)
	if err != nil {
		t.Fatal(err)
	}
	return p, scratch
}

// makeClip writes a short test clip with FFmpeg's lavfi sources.
func makeClip(t *testing.T, seconds string) string {
	t.Helper()
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=360x640:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", seconds,
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("making the clip: %v\n%s", err, out)
	}
	return clip
}

// stage copies the file at path where ingest would stage it, and describes it as a finished
// upload with a new id.
func (e *env) stage(t *testing.T, path string) ingest.Upload {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(t.TempDir(), "staged")
	if err := os.WriteFile(staged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return ingest.Upload{ID: videoid.New(), Owner: e.owner, Size: int64(len(b)), Path: staged,
		Filename: "clip.mp4", Caption: "a #test", Visibility: video.Public}
}

// run runs p until ctx is done and returns a channel closed when it has stopped.
func run(p *Pipeline, ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	return done
}

func (e *env) waitVideo(t *testing.T, id string, ok func(feed.Entry) bool) feed.Entry {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := e.catalog.Video(t.Context(), id)
		if err == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %s: %+v, %v", id, v, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// files counts the files under dir.
func files(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	return n
}

// TestAcceptHandOverTranscode takes an upload through the pipeline over a local store: the
// hand-over moves the staged file into the store, without a copy, and the worker reads it
// there, in place.
func TestAcceptHandOverTranscode(t *testing.T) {
	e := newEnv(t, nil)
	p, scratch := e.pipeline(t, 1, "w", 10*time.Second)
	u := e.stage(t, makeClip(t, "5"))
	staged, _ := os.Stat(u.Path)
	ctx := t.Context()
	if err := p.Accept(ctx, u); err != nil {
		t.Fatal(err)
	}
	if v := e.waitVideo(t, u.ID, func(feed.Entry) bool { return true }); v.Status != video.Processing || v.Caption != "a #test" || len(v.Hashtags) != 1 {
		t.Fatalf("video after Accept: %+v", v)
	}
	if err := p.HandOver(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(u.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the staged file is still there after the hand-over: %v", err)
	}
	source, err := e.store.(*storage.FS).LocalPath(ctx, layout.SourceKey(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(source); !os.SameFile(staged, fi) {
		t.Error("the store's source is not the staged file itself: it was copied")
	}
	// Accepting and handing over again (a retry after a crash) changes nothing and queues
	// nothing new, though the staged file is gone.
	if err := p.Accept(ctx, u); err != nil {
		t.Fatalf("accepting again: %v", err)
	}
	if err := p.HandOver(ctx, u); err != nil {
		t.Fatalf("handing over again: %v", err)
	}
	var jobs int
	var group string
	if err := e.d.SQL().QueryRowContext(ctx, `SELECT COUNT(*), MIN(job_group) FROM jobs WHERE kind = 'transcode' AND job_key = $1`, u.ID).Scan(&jobs, &group); err != nil ||
		jobs != 1 || group != "user:"+strconv.FormatInt(e.owner, 10) {
		t.Fatalf("%d jobs for the video (group %q), %v; want 1, of its creator's group", jobs, group, err)
	}

	rctx, cancel := context.WithCancel(ctx)
	done := run(p, rctx)
	v := e.waitVideo(t, u.ID, func(v feed.Entry) bool { return v.Status != video.Processing })
	cancel()
	<-done
	if v.Status != video.Ready || v.Progress != 100 || v.DurationMS != 5000 || v.Width != 360 || v.Height != 640 ||
		len(v.Renditions) != 2 || !layout.ValidGeneration(v.Generation) ||
		v.Renditions[0].Playlist != v.Generation+"/360p/index.m3u8" {
		t.Fatalf("video: %+v", v)
	}
	if n := fanoutJobs(t, e.d, u.ID); n != 1 {
		t.Errorf("%d fan-out jobs for the ready video, want 1", n)
	}
	// Published progressively: playable (its first segment out) no later than ready.
	if v.PlayableAt.IsZero() || v.PlayableAt.After(v.PublishedAt) {
		t.Errorf("playable at %v, published at %v", v.PlayableAt, v.PublishedAt)
	}
	for _, name := range []string{layout.Master, v.Generation + "/360p/init.mp4", v.Generation + "/" + layout.Poster} {
		if _, err := e.store.Stat(ctx, layout.VideoPrefix(u.ID)+name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := files(t, scratch); n != 0 {
		t.Errorf("%d files in the scratch directory: the local source was copied", n)
	}
}

// TestHandOverToS3 takes an upload through the pipeline over MinIO: the hand-over copies the
// staged file into the bucket (ingest deletes its copy), and the worker fetches it into its
// scratch directory for the transcode, and removes it after.
func TestHandOverToS3(t *testing.T) {
	srv := testenv.MinIO(t)
	store, err := storage.NewS3(t.Context(), storage.S3Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, store)
	p, scratch := e.pipeline(t, 1, "w", 10*time.Second)
	u := e.stage(t, makeClip(t, "3"))
	want, _ := os.ReadFile(u.Path)
	if err := p.Accept(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if err := p.HandOver(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(u.Path); err != nil {
		t.Errorf("the staged file after a copy: %v (ingest deletes it, not the pipeline)", err)
	}
	body, _, err := store.Get(t.Context(), layout.SourceKey(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(body)
	body.Close()
	if string(got) != string(want) {
		t.Fatalf("the stored source has %d bytes, want the %d of the upload", len(got), len(want))
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := run(p, ctx)
	v := e.waitVideo(t, u.ID, func(v feed.Entry) bool { return v.Status != video.Processing })
	cancel()
	<-done
	if v.Status != video.Ready {
		t.Fatalf("video: %+v", v)
	}
	if _, err := store.Stat(t.Context(), layout.VideoPrefix(u.ID)+layout.Master); err != nil {
		t.Errorf("master.m3u8 in the bucket: %v", err)
	}
	if n := files(t, scratch); n != 0 {
		t.Errorf("%d files left in the scratch directory", n)
	}
}

func TestAcceptRefusesWhatIsNotAVideo(t *testing.T) {
	e := newEnv(t, nil)
	p, _ := e.pipeline(t, 0, "", 0)
	text := filepath.Join(t.TempDir(), "notes.mp4")
	os.WriteFile(text, []byte("this is not a video, just text with an .mp4 name\n"), 0o644)
	u := e.stage(t, text)
	err := p.Accept(t.Context(), u)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || ae.Code != string(transcoder.ReasonNotVideo) {
		t.Fatalf("accepting a text file: %v, want 422 not_video", err)
	}
	if _, err := e.catalog.Video(t.Context(), u.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a refused upload became a video: %v", err)
	}
}

// TestHandOverLostSource hands over an upload whose staged file is gone and was never stored:
// the video fails with source_lost, and the hand-over is done with (nil: trying again cannot
// help).
func TestHandOverLostSource(t *testing.T) {
	e := newEnv(t, nil)
	p, _ := e.pipeline(t, 0, "", 0)
	u := e.stage(t, makeClip(t, "1"))
	if err := p.Accept(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	os.Remove(u.Path)
	if err := p.HandOver(t.Context(), u); err != nil {
		t.Fatalf("HandOver of a lost source: %v, want nil", err)
	}
	if v, _ := e.catalog.Video(t.Context(), u.ID); v.Status != video.Failed || v.ErrorCode != "source_lost" {
		t.Fatalf("video: %+v", v)
	}
	var jobs int
	e.d.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM jobs WHERE kind = 'transcode' AND job_key = $1`, u.ID).Scan(&jobs)
	if jobs != 0 {
		t.Errorf("%d jobs queued for a lost source", jobs)
	}
}

// TestWorkerKilledMidJob kills a worker in the middle of a transcode, once the video has been
// published progressively. The worker withdraws it (no master.m3u8, not playable) until
// another worker, once the lease has expired, finishes it.
func TestWorkerKilledMidJob(t *testing.T) {
	e := newEnv(t, nil)
	const lease = time.Second
	doomed, _ := e.pipeline(t, 1, "doomed", lease)
	u := e.stage(t, makeClip(t, "30"))
	if err := doomed.Accept(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if err := doomed.HandOver(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	ctx, kill := context.WithCancel(t.Context())
	done := run(doomed, ctx)
	master := layout.VideoPrefix(u.ID) + layout.Master
	e.waitVideo(t, u.ID, func(v feed.Entry) bool { return !v.PlayableAt.IsZero() })
	if _, err := e.store.Stat(t.Context(), master); err != nil {
		t.Fatalf("master.m3u8 of a playable video: %v", err)
	}
	kill()
	<-done
	if _, err := e.store.Stat(t.Context(), master); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("master.m3u8 of a half-transcoded video: %v, want not found", err)
	}
	if v, _ := e.catalog.Video(t.Context(), u.ID); v.Status != video.Processing || !v.PlayableAt.IsZero() {
		t.Fatalf("video after the kill: %+v", v)
	}

	// What a worker killed for real (SIGKILL) leaves: a generation no master.m3u8 names.
	leftover := layout.VideoPrefix(u.ID) + "zzzzzzzz/360p/seg_00001.m4s"
	if _, err := e.store.Put(t.Context(), leftover, strings.NewReader("x"), 1, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	rescuer, _ := e.pipeline(t, 1, "rescuer", lease)
	ctx, cancel := context.WithCancel(t.Context())
	done = run(rescuer, ctx)
	v := e.waitVideo(t, u.ID, func(v feed.Entry) bool { return v.Status != video.Processing })
	if v.Status != video.Ready {
		t.Fatalf("video: %+v", v)
	}
	// The worker completes the job just after it marks the video ready: stop it only then.
	var attempts int
	var state, worker string
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		err = e.d.SQL().QueryRowContext(t.Context(), `SELECT attempts, state, worker FROM jobs WHERE kind = 'transcode' AND job_key = $1`, u.ID).
			Scan(&attempts, &state, &worker)
		if err != nil || state != db.JobRunning || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	<-done
	if err != nil || attempts != 2 || state != db.JobDone || worker != "rescuer-1" {
		t.Errorf("job: attempts %d, state %s, worker %s, %v; want 2, done, rescuer-1", attempts, state, worker, err)
	}
	if _, err := e.store.Stat(t.Context(), master); err != nil {
		t.Fatalf("master.m3u8 after the rescue: %v", err)
	}
	// Only the rescuer's generation is left.
	e.store.List(t.Context(), layout.VideoPrefix(u.ID), func(info storage.Info) error {
		if name := strings.TrimPrefix(info.Key, layout.VideoPrefix(u.ID)); name != layout.Master && !strings.HasPrefix(name, v.Generation+"/") {
			t.Errorf("%s left after the rescue (generation %s)", name, v.Generation)
		}
		return nil
	})
}

// TestLastAttemptKilled has every attempt of a job die without an outcome (as when the worker
// is killed or runs out of memory), the last one after publishing the video progressively: the
// next worker fails the video, withdraws every object of it but the private marker, and fails
// the job. A job whose last attempt died after marking the video ready is completed instead.
func TestLastAttemptKilled(t *testing.T) {
	e := newEnv(t, nil)
	acceptor, _ := e.pipeline(t, 0, "", time.Second)
	ctx := t.Context()
	clip := makeClip(t, "1")
	stage := func() ingest.Upload {
		u := e.stage(t, clip)
		u.Visibility = video.Private
		if err := acceptor.Accept(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := acceptor.HandOver(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	// die claims the job of video id for every attempt, each lease expiring unused; after the
	// last claim it calls last, as that attempt's work before it died. The last lease lasts
	// long enough for the next die not to take this job.
	die := func(id string, last func()) {
		for i := range DefaultMaxAttempts {
			lease := time.Millisecond
			if i == DefaultMaxAttempts-1 {
				lease = 5 * time.Second
			}
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				j, err := e.d.Claim(ctx, JobKind, "ghost", lease)
				if err == nil {
					if j.Orphaned || j.Attempts != i+1 || j.Key != id {
						t.Fatalf("ghost claim %d: %+v", i, j)
					}
					break
				}
				if !errors.Is(err, db.ErrNoJob) || time.Now().After(deadline) {
					t.Fatalf("ghost claim %d: %v", i, err)
				}
			}
		}
		last()
	}

	halfDone := stage()
	prefix := layout.VideoPrefix(halfDone.ID)
	die(halfDone.ID, func() {
		for _, name := range []string{layout.PrivateMarker, "abcdefgh/360p/init.mp4", "abcdefgh/360p/seg_00001.m4s", "abcdefgh/360p/index.m3u8", layout.Master} {
			if _, err := e.store.Put(ctx, prefix+name, strings.NewReader("x"), 1, storage.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := acceptor.videos.setPlayable(ctx, halfDone.ID, true); err != nil {
			t.Fatal(err)
		}
	})
	finished := stage()
	die(finished.ID, func() {
		if err := acceptor.videos.setReady(ctx, finished.ID, published{Duration: time.Second}); err != nil {
			t.Fatal(err)
		}
	})

	w, _ := e.pipeline(t, 1, "next", time.Second)
	rctx, cancel := context.WithCancel(ctx)
	done := run(w, rctx)
	defer func() { cancel(); <-done }()
	v := e.waitVideo(t, halfDone.ID, func(v feed.Entry) bool { return v.Status != video.Processing })
	if v.Status != video.Failed || v.ErrorCode != "transcode_failed" || !v.PlayableAt.IsZero() {
		t.Errorf("video whose every attempt died: %+v", v)
	}
	e.store.List(ctx, prefix, func(info storage.Info) error {
		if info.Key != prefix+layout.PrivateMarker {
			t.Errorf("%s left after the video failed", info.Key)
		}
		return nil
	})
	if _, err := e.store.Stat(ctx, prefix+layout.PrivateMarker); err != nil {
		t.Errorf("the private marker: %v", err)
	}
	for id, want := range map[string]string{halfDone.ID: db.JobFailed, finished.ID: db.JobDone} {
		var state, lastErr string
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			err := e.d.SQL().QueryRowContext(ctx, `SELECT state, last_error FROM jobs WHERE kind = 'transcode' AND job_key = $1`, id).Scan(&state, &lastErr)
			if err != nil {
				t.Fatal(err)
			}
			if state != db.JobRunning || time.Now().After(deadline) {
				break
			}
		}
		if state != want {
			t.Errorf("job of %s: %s (%q), want %s", id, state, lastErr, want)
		}
	}
	if v, _ := e.catalog.Video(ctx, finished.ID); v.Status != video.Ready {
		t.Errorf("video finished by its last attempt: %+v", v)
	}
	// The attempt that finished it died before queueing its fan-out: the burial queues it.
	for id, want := range map[string]int{halfDone.ID: 0, finished.ID: 1} {
		if n := fanoutJobs(t, e.d, id); n != want {
			t.Errorf("%d fan-out jobs for %s, want %d", n, id, want)
		}
	}
}

// fanoutJobs counts the feed's fan-out jobs of video id (video.FanoutJob).
func fanoutJobs(t *testing.T, d *db.DB, id string) int {
	t.Helper()
	var n int
	if err := d.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM jobs WHERE kind = $1 AND job_key = $2 AND payload = $3`,
		video.FanoutJob, id, []byte(id)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWorkerWakesOnEnqueue queues a video while a worker idles with a poll that never comes in
// the test's time: the queue wakes it. On SQLite the worker shares the accepting pipeline's
// database, as in `reelay up`; on PostgreSQL it has a connection pool of its own, as a worker in
// another process has.
func TestWorkerWakesOnEnqueue(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			wd := e.d
			if name == "postgres" {
				dsn := testenv.Postgres(t)
				open := func() *db.DB {
					d, err := db.Open(t.Context(), dsn, db.Options{})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { d.Close() })
					return d
				}
				e.d, wd = open(), open()
				e.catalog = feed.NewCatalog(e.d)
				u, err := feed.NewAccounts(e.d).CreateUser(t.Context(), "creator", "x")
				if err != nil {
					t.Fatal(err)
				}
				e.owner = u.ID
			}
			taker, _ := e.pipelineOn(t, e.d, Config{})
			idle, _ := e.pipelineOn(t, wd, Config{Workers: 1, Name: "idle", Poll: time.Hour})
			ctx, cancel := context.WithCancel(t.Context())
			done := run(idle, ctx)
			defer func() { cancel(); <-done }()

			u := e.stage(t, makeClip(t, "2")) // the worker is idle by the time the clip is made
			if err := taker.Accept(t.Context(), u); err != nil {
				t.Fatal(err)
			}
			if err := taker.HandOver(t.Context(), u); err != nil {
				t.Fatal(err)
			}
			if v := e.waitVideo(t, u.ID, func(v feed.Entry) bool { return v.Status != video.Processing }); v.Status != video.Ready {
				t.Fatalf("video: %+v", v)
			}
		})
	}
}

// TestTimeLimit gives a video less time than its transcode takes: it fails with time_limit
// after one attempt, with nothing of it published.
func TestTimeLimit(t *testing.T) {
	e := newEnv(t, nil)
	p, _ := e.pipelineOn(t, e.d, Config{Workers: 1, Poll: 20 * time.Millisecond,
		TimeLimitBase: 50 * time.Millisecond, TimeLimitPerSecond: time.Millisecond})
	u := e.stage(t, makeClip(t, "5"))
	if err := p.Accept(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if err := p.HandOver(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.catalog.Video(t.Context(), u.ID); v.DurationMS != 5000 {
		t.Errorf("the accepted video's duration: %d ms, want the probed 5000", v.DurationMS)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := run(p, ctx)
	defer func() { cancel(); <-done }()
	v := e.waitVideo(t, u.ID, func(v feed.Entry) bool { return v.Status != video.Processing })
	if v.Status != video.Failed || v.ErrorCode != "time_limit" {
		t.Fatalf("video: %+v", v)
	}
	var attempts int
	if err := e.d.SQL().QueryRowContext(t.Context(), `SELECT attempts FROM jobs WHERE kind = 'transcode' AND job_key = $1`, u.ID).Scan(&attempts); err != nil || attempts != 1 {
		t.Errorf("attempts %d, %v; want 1", attempts, err)
	}
	e.store.List(t.Context(), layout.VideoPrefix(u.ID), func(info storage.Info) error {
		t.Errorf("%s left", info.Key)
		return nil
	})
}

// TestVideoDeletedWhileProcessing deletes a video's row (as DELETE /v1/videos/{id} does) once
// it is playable, in the middle of its transcode: the worker does not bring it back, deletes
// every object the run wrote, its source and private marker too, and ends the job as done.
func TestVideoDeletedWhileProcessing(t *testing.T) {
	e := newEnv(t, nil)
	p, _ := e.pipeline(t, 1, "w", 10*time.Second)
	u := e.stage(t, makeClip(t, "6"))
	ctx := t.Context()
	if err := p.Accept(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := p.HandOver(ctx, u); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := run(p, rctx)
	defer func() { cancel(); <-done }()
	e.waitVideo(t, u.ID, func(v feed.Entry) bool { return !v.PlayableAt.IsZero() || v.Status != video.Processing })
	if _, err := e.d.Exec(ctx, `DELETE FROM videos WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Put(ctx, layout.VideoPrefix(u.ID)+layout.PrivateMarker, strings.NewReader(""), 0, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var state string
		if err := e.d.SQL().QueryRowContext(ctx, `SELECT state FROM jobs WHERE job_key = $1`, u.ID).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "done" {
			break
		}
		if state == "failed" || time.Now().After(deadline) {
			t.Fatalf("job %s", state)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if _, err := e.catalog.Video(ctx, u.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("the deleted video came back: %v", err)
	}
	for _, prefix := range []string{layout.VideoPrefix(u.ID), layout.SourceKey(u.ID)} {
		e.store.List(ctx, prefix, func(i storage.Info) error {
			t.Errorf("%s is left in the store", i.Key)
			return nil
		})
	}
}
