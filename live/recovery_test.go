package live

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
)

// TestRecoverRecordings leaves a recording as a process killed mid-stream does (what the
// recorder had handed to the file, and half a packet), and starts a Server on its directory:
// Run hands it to Recordings as its session would have, its creator and start from the
// Directory, trimmed to whole packets; a recording of no known stream is dropped.
func TestRecoverRecordings(t *testing.T) {
	testenv.RequireCommand(t, "ffprobe")
	c := testClip(t)
	d, users := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "reelay.db"), 5) // a creator per stream: one live stream each
	dir, err := NewDirectory(d, DirectoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	recDir := t.TempDir()
	id, stray, moved, elsewhere, there, handing := videoid.New(), videoid.New(), videoid.New(), videoid.New(), videoid.New(), videoid.New()
	started := time.Now().Add(-time.Minute).Truncate(time.Millisecond).UTC()
	for i, st := range []struct {
		id, path string
		at       time.Time
	}{
		{id, filepath.Join(recDir, id+".ts"), started},
		// Its hand-over was cut short after the pipeline took the file.
		{moved, filepath.Join(recDir, moved+".ts"), started.Add(time.Second)},
		// Another node's.
		{elsewhere, filepath.Join(t.TempDir(), elsewhere+".ts"), started},
		// Another node's, live there, its RecordDir named as this one's (the same flags on
		// every node): its file is not here, and it must be left alone.
		{there, filepath.Join(recDir, there+".ts"), started},
		// Another node's, ended there and being handed over by that node: not this one's
		// to hand over, though its file is not here either.
		{handing, filepath.Join(t.TempDir(), handing+".ts"), started},
	} {
		if err := dir.started(t.Context(), Stream{ID: st.id, UserID: users[i], PlaybackURL: "http://edge.test/", StartedAt: st.at}, st.path); err != nil {
			t.Fatal(err)
		}
	}
	// The session's close marked it ended before its hand-over began; so did handing's, on
	// its node.
	for _, ended := range []string{moved, handing} {
		if err := dir.ended(t.Context(), ended); err != nil {
			t.Fatal(err)
		}
	}
	// Two seconds of video, a key frame each second; the process dies before the end.
	rec, err := newRecorder(recDir, id, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range c.Video[:59] {
		var nalus h264.AnnexB
		if err := nalus.Unmarshal(au); err != nil {
			t.Fatal(err)
		}
		rec.writeH264(int64(i)*3000, nalus)
	}
	if rec.err != nil {
		t.Fatal(rec.err)
	}
	if _, err := rec.f.Write(make([]byte, 100)); err != nil { // a packet cut short
		t.Fatal(err)
	}
	rec.f.Close()
	if err := os.WriteFile(filepath.Join(recDir, stray+".ts"), make([]byte, 188*4), 0o644); err != nil {
		t.Fatal(err)
	}

	got := make(chan Recording, 4)
	srv, err := New(Config{PlaybackURL: "http://edge.test", IPs: []string{"127.0.0.1"}, RecordDir: recDir, Directory: dir,
		Recordings: recordingsFunc(func(_ context.Context, r Recording) error {
			if _, err := os.Stat(r.Path); os.IsNotExist(err) {
				got <- r
				return nil
			}
			out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", r.Path).CombinedOutput()
			if err != nil {
				t.Errorf("ffprobe of the recovered recording: %v %s", err, out)
			}
			r.Path = strings.TrimSpace(string(out)) // its duration, for the test
			got <- r
			return nil
		})}, NewStreams())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var r, again Recording
	for _, rec := range []*Recording{&r, &again} {
		select {
		case *rec = <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("the recordings left behind were not handed over")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // polling, with a deadline
		entries, _ := os.ReadDir(recDir)
		u, err := dir.unhanded(t.Context(), time.Now())
		if len(entries) == 0 && err == nil && len(u) == 3 && !slices.ContainsFunc(u, func(u unhandedRecording) bool { return u.ID == id || u.ID == moved }) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d files left in the recordings' directory; recordings not handed over: %+v, %v; want the other nodes' only", len(entries), u, err)
		}
	}
	cancel()
	<-done
	if r.ID != id || r.Owner != users[0] || !r.StartedAt.Equal(started) || r.Size == 0 || r.Size%188 != 0 {
		t.Errorf("recovered recording: %+v, want stream %s of user %d started %v, whole packets", r, id, users[0], started)
	}
	// The recorder handed the first second to the file at the second key frame.
	if secs, err := strconv.ParseFloat(r.Path, 64); err != nil || secs < 0.9 || secs > 1.1 {
		t.Errorf("the recovered recording lasts %q s, want the first second", r.Path)
	}
	if again.ID != moved || again.Owner != users[1] || again.Path != filepath.Join(recDir, moved+".ts") || again.Size != 0 {
		t.Errorf("the recording whose hand-over was cut short: %+v, want %s's again, without its file", again, moved)
	}
	if len(got) != 0 {
		t.Errorf("another recording was handed over too: %+v, want neither the stray's nor another node's", <-got)
	}
	if st, err := dir.Live(t.Context()); err != nil || len(st) != 2 || st[0].ID == id || st[0].ID == moved || st[1].ID == id || st[1].ID == moved {
		t.Errorf("streams live after the recovery: %+v, %v; want the recovered ones ended, the other nodes' on", st, err)
	}
}
