package ingest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// pipeline is a publisher and the means to run workers, over SQLite and a directory store.
type pipeline struct {
	d     *db.DB
	store storage.Store
	tc    *transcoder.Transcoder
	pub   *Publisher
	owner int64
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed")
	}
	d, err := db.Open(t.Context(), filepath.Join(t.TempDir(), "reelay.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	store, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tc, err := transcoder.New(transcoder.Config{Ladder: []transcoder.Rung{{Name: "360p", ShortSide: 360, Bitrate: 600_000}}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.CreateUser(t.Context(), "creator", "x")
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline{d: d, store: store, tc: tc, pub: NewPublisher(d, store, tc, 3, nil), owner: u.ID}
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

// handOver passes the file at path to the publisher as a finished upload and returns its id.
func (p *pipeline) handOver(t *testing.T, path string) (string, error) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id := videoid.New()
	return id, p.pub.OnComplete(t.Context(), Upload{ID: id, Owner: p.owner, Size: fi.Size(), Path: path,
		Filename: "clip.mp4", Caption: "a #test", Visibility: VisibilityPublic})
}

func (p *pipeline) worker(t *testing.T, name string, lease time.Duration) *Worker {
	t.Helper()
	w, err := NewWorker(WorkerConfig{Name: name, Transcoder: p.tc, Lease: lease, Poll: 20 * time.Millisecond, ScratchDir: t.TempDir()}, p.d, p.store)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// run runs w until ctx is done and returns a channel closed when it has stopped.
func run(w *Worker, ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return done
}

func waitVideo(t *testing.T, d *db.DB, id string, ok func(db.Video) bool) db.Video {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := d.VideoByID(t.Context(), id)
		if err == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %s: %+v, %v", id, v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishAndTranscode(t *testing.T) {
	p := newPipeline(t)
	clip := makeClip(t, "5")
	id, err := p.handOver(t, clip)
	if err != nil {
		t.Fatal(err)
	}
	// The hand-over is idempotent: a retry queues nothing new.
	fi, _ := os.Stat(clip)
	if err := p.pub.OnComplete(t.Context(), Upload{ID: id, Owner: p.owner, Size: fi.Size(), Path: clip}); err != nil {
		t.Fatalf("retried hand-over: %v", err)
	}
	if v, _ := p.d.VideoByID(t.Context(), id); v.Status != db.VideoProcessing || v.Caption != "a #test" || len(v.Hashtags) != 1 {
		t.Fatalf("video after hand-over: %+v", v)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := run(p.worker(t, "w1", 10*time.Second), ctx)
	v := waitVideo(t, p.d, id, func(v db.Video) bool { return v.Status != db.VideoProcessing })
	cancel()
	<-done
	if v.Status != db.VideoReady || v.Progress != 100 || v.DurationMS != 5000 || v.Width != 360 || v.Height != 640 {
		t.Fatalf("video: %+v", v)
	}
	// Published progressively: playable (its first segment out) no later than ready.
	if v.PlayableAt.IsZero() || v.PlayableAt.After(v.PublishedAt) {
		t.Errorf("playable at %v, published at %v", v.PlayableAt, v.PublishedAt)
	}
	for _, key := range []string{"videos/" + id + "/master.m3u8", "videos/" + id + "/360p/init.mp4", "videos/" + id + "/poster.jpg", layout.SourceKey(id)} {
		if _, err := p.store.Stat(t.Context(), key); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}

func TestPublishRefusesWhatIsNotAVideo(t *testing.T) {
	p := newPipeline(t)
	text := filepath.Join(t.TempDir(), "notes.mp4")
	os.WriteFile(text, []byte("this is not a video, just text with an .mp4 name\n"), 0o644)
	id, err := p.handOver(t, text)
	var e *apierr.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity || e.Code != string(transcoder.ReasonNotVideo) {
		t.Fatalf("hand-over of a text file: %v, want 422 not_video", err)
	}
	if _, err := p.d.VideoByID(t.Context(), id); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a refused upload became a video: %v", err)
	}
	if _, err := p.store.Stat(t.Context(), layout.SourceKey(id)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a refused upload's source was kept: %v", err)
	}
}

// TestWorkerKilledMidJob kills a worker in the middle of a transcode, once the video has been
// published progressively. The worker withdraws it (no master.m3u8, not playable) until
// another worker, once the lease has expired, finishes it.
func TestWorkerKilledMidJob(t *testing.T) {
	p := newPipeline(t)
	id, err := p.handOver(t, makeClip(t, "30"))
	if err != nil {
		t.Fatal(err)
	}
	const lease = time.Second
	ctx, kill := context.WithCancel(t.Context())
	done := run(p.worker(t, "doomed", lease), ctx)
	master := layout.VideoPrefix(id) + "master.m3u8"
	waitVideo(t, p.d, id, func(v db.Video) bool { return !v.PlayableAt.IsZero() })
	if _, err := p.store.Stat(t.Context(), master); err != nil {
		t.Fatalf("master.m3u8 of a playable video: %v", err)
	}
	kill()
	<-done
	if _, err := p.store.Stat(t.Context(), master); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("master.m3u8 of a half-transcoded video: %v, want not found", err)
	}
	if v, _ := p.d.VideoByID(t.Context(), id); v.Status != db.VideoProcessing || !v.PlayableAt.IsZero() {
		t.Fatalf("video after the kill: %+v", v)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done = run(p.worker(t, "rescuer", lease), ctx)
	v := waitVideo(t, p.d, id, func(v db.Video) bool { return v.Status != db.VideoProcessing })
	if v.Status != db.VideoReady {
		t.Fatalf("video: %+v", v)
	}
	// The worker completes the job just after it marks the video ready: stop it only then.
	var attempts int
	var state, worker string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		err = p.d.SQL().QueryRowContext(t.Context(), `SELECT attempts, state, worker FROM jobs WHERE job_key = $1`, id).
			Scan(&attempts, &state, &worker)
		if err != nil || state != db.JobRunning || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	<-done
	if err != nil || attempts != 2 || state != db.JobDone || worker != "rescuer" {
		t.Errorf("job: attempts %d, state %s, worker %s, %v; want 2, done, rescuer", attempts, state, worker, err)
	}
	if _, err := p.store.Stat(t.Context(), master); err != nil {
		t.Fatalf("master.m3u8 after the rescue: %v", err)
	}
}

// TestWorkerWakesOnEnqueue queues a video while a worker idles with a poll that never comes in
// the test's time: the queue wakes it. On SQLite the worker shares the publisher's DB, as in
// `reelay up`; on PostgreSQL it has a DB of its own, as a worker in another process has.
func TestWorkerWakesOnEnqueue(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			p := newPipeline(t)
			wd := p.d
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
				p.d, wd = open(), open()
				u, err := p.d.CreateUser(t.Context(), "creator", "x")
				if err != nil {
					t.Fatal(err)
				}
				p.owner, p.pub = u.ID, NewPublisher(p.d, p.store, p.tc, 3, nil)
			}
			w, err := NewWorker(WorkerConfig{Name: "idle", Transcoder: p.tc, Poll: time.Hour, ScratchDir: t.TempDir()}, wd, p.store)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := run(w, ctx)
			defer func() { cancel(); <-done }()

			id, err := p.handOver(t, makeClip(t, "2")) // the worker is idle by the time the clip is made
			if err != nil {
				t.Fatal(err)
			}
			if v := waitVideo(t, p.d, id, func(v db.Video) bool { return v.Status != db.VideoProcessing }); v.Status != db.VideoReady {
				t.Fatalf("video: %+v", v)
			}
		})
	}
}
