package main

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/live/livetest"
	"github.com/reelay/reelay/pipeline"
)

// spawnUp runs `reelay up args...` as a process of its own until t ends, and returns it with
// its API's URL.
func spawnUp(t *testing.T, name string, args ...string) (*reelayProc, string) {
	t.Helper()
	p, stdout := spawn(t, t, name, nil, append([]string{"up"}, args...)...)
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	api, ok := strings.CutPrefix(strings.TrimSpace(line), "api ")
	if err != nil || !ok {
		t.Fatalf("reelay up (%s) printed %q (%v):\n%s", name, line, err, p.stderr)
	}
	go io.Copy(io.Discard, r)
	return p, api
}

// recordingVideo is the part of GET /v1/videos/{id} that the live recovery test reads.
type recordingVideo struct {
	Status     string
	Creator    struct{ Handle string }
	DurationMS int64 `json:"duration_ms"`
	Renditions []struct{ Playlist string }
}

// videoStatus GETs the status of video id at api as token: its HTTP status and the video.
func videoStatus(t *testing.T, api, id, token string) (int, recordingVideo) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, api+"/v1/videos/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v recordingVideo
	json.Unmarshal(b, &v)
	return resp.StatusCode, v
}

// waitReady polls video id at api until it is ready, failing t after two minutes or if it fails.
func waitReady(t *testing.T, api, id, token string) recordingVideo {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) { // polling, with a deadline
		code, v := videoStatus(t, api, id, token)
		if v.Status == "ready" {
			return v
		}
		if v.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("the recording's video %s: %d %+v", id, code, v)
		}
	}
}

// TestUpLiveRecordingSurvivesKill streams to `reelay up` over WHIP for a few seconds and kills
// the process (SIGKILL) mid-stream: started again on the same data directory, it hands the
// recording left behind to the pipeline, and the recording becomes a ready video of the
// creator under the stream's id, about as long as what was sent before the kill. Handed over
// again, as after a crash in the middle of the hand-over, it makes no second video and no
// second transcode.
func TestUpLiveRecordingSurvivesKill(t *testing.T) {
	c := livetest.TestClip(t)
	data := t.TempDir()
	args := []string{"--data", data, "--edges", "0", "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0"}
	first, api := spawnUp(t, "up-1", args...)
	token := createCreator(t, api)

	p := livetest.NewPublisher(t, true)
	resp, body := livetest.WHIP(t, api+"/v1/live/whip", token, "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", resp.StatusCode, body)
	}
	m := liveLinkRE.FindStringSubmatch(resp.Header.Get("Link"))
	if m == nil {
		t.Fatalf("Link %q", resp.Header.Get("Link"))
	}
	stream := strings.TrimSuffix(m[1][strings.Index(m[1], "/v/live/")+len("/v/live/"):], "/index.m3u8")
	p.Answer(t, body)
	// The clip starts with a key frame once the connection is up: all of it is recorded.
	select {
	case <-p.Connected():
	case <-time.After(30 * time.Second):
		t.Fatal("the publisher did not connect")
	}
	stop, sent := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() { p.Send(c, stop); close(sent) }()
	timer := time.NewTimer(4 * time.Second) // how long the creator streams before the crash
	<-timer.C
	first.kill()
	streamed := time.Since(start)
	close(stop)
	<-sent

	rec := filepath.Join(data, "live", stream+".ts")
	fi, err := os.Stat(rec)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("the recording after the kill: %v, %v", fi, err)
	}

	second, api := spawnUp(t, "up-2", args...)
	v := waitReady(t, api, stream, token)
	if v.Creator.Handle != "creator" || len(v.Renditions) == 0 {
		t.Errorf("the recording's video: %+v", v)
	}
	got := time.Duration(v.DurationMS) * time.Millisecond
	t.Logf("streamed %v before the kill; the recovered video lasts %v", streamed.Round(time.Millisecond), got)
	if math.Abs((streamed - got).Seconds()) > 1 {
		t.Errorf("the recovered video lasts %v, %v were streamed before the kill", got, streamed)
	}
	if entries, _ := os.ReadDir(filepath.Join(data, "live")); len(entries) != 0 {
		t.Errorf("%d files left in the recordings' directory", len(entries))
	}

	// As if the process had died in the middle of the hand-over, after the pipeline took the
	// file: the next run hands the recording over again, without its file, and that changes
	// nothing.
	if code := second.stop(t); code != 0 {
		t.Fatalf("reelay up exited %d", code)
	}
	d, err := db.Open(t.Context(), filepath.Join(data, "reelay.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	handedAt := func() (at int64) {
		t.Helper()
		if err := d.SQL().QueryRowContext(t.Context(), `SELECT handed_at FROM live_streams WHERE id = $1`, stream).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if handedAt() == 0 {
		t.Fatal("the recovered recording is not recorded as handed over")
	}
	if _, err := d.Exec(t.Context(), `UPDATE live_streams SET handed_at = 0 WHERE id = $1`, stream); err != nil {
		t.Fatal(err)
	}
	_, api = spawnUp(t, "up-3", args...)
	for deadline := time.Now().Add(time.Minute); handedAt() == 0; time.Sleep(50 * time.Millisecond) { // polling, with a deadline
		if time.Now().After(deadline) {
			t.Fatal("the recording whose hand-over was cut short was not handed over again")
		}
	}
	if _, again := videoStatus(t, api, stream, token); again.Status != "ready" || len(again.Renditions) == 0 || again.Renditions[0].Playlist != v.Renditions[0].Playlist {
		t.Errorf("the video after its recording was handed over again: %+v, before %+v", again, v)
	}
	var jobs, videos int
	if err := d.SQL().QueryRowContext(t.Context(), `SELECT (SELECT COUNT(*) FROM jobs WHERE kind = $1 AND job_key = $2), (SELECT COUNT(*) FROM videos WHERE id = $2)`,
		pipeline.JobKind, stream).Scan(&jobs, &videos); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 || videos != 1 {
		t.Errorf("%d jobs and %d videos for the recording, want one of each", jobs, videos)
	}
}
