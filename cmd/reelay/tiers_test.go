package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/tusclient"
)

// TestTiersOnPostgresAndS3 runs the tiers as separate commands, as on several machines:
// feed, ingest, a transcode worker and the origin, on PostgreSQL and MinIO. A creator uploads
// a clip to ingest, follows it on feed's video resource; the worker publishes it to S3; a
// player plays it from the origin.
func TestTiersOnPostgresAndS3(t *testing.T) {
	testenv.RequireCommand(t, "ffmpeg")
	dsn := testenv.Postgres(t)
	minio := testenv.MinIO(t)
	t.Setenv("REELAY_S3_ACCESS_KEY", minio.AccessKey)
	t.Setenv("REELAY_S3_SECRET_KEY", minio.SecretKey)
	store := "s3://" + minio.Bucket(t) + "/reelay?endpoint=" + minio.Endpoint + "&secure=false"

	listener := func(command, name string, args ...string) string {
		urls, _ := startCmd(t, command, name, args...)
		return urls[name]
	}
	originURL := listener("origin", "origin", "--addr", "127.0.0.1:0", "--store", store)
	feedURL := listener("feed", "api", "--addr", "127.0.0.1:0", "--db", dsn, "--playback-url", originURL)
	ingestURL := listener("ingest", "api", "--addr", "127.0.0.1:0", "--db", dsn, "--store", store,
		"--upload-dir", t.TempDir())
	startCmd(t, "transcode", "transcode", "--worker", "--addr", "127.0.0.1:0", "--db", dsn, "--store", store,
		"--scratch", t.TempDir(), "--ladder", "360p:600k")

	postJSON(t, feedURL+"/v1/users", "", `{"handle":"creator","password":"correct horse"}`, 201)
	var session struct{ Token string }
	json.Unmarshal(postJSON(t, feedURL+"/v1/sessions", "", `{"handle":"creator","password":"correct horse"}`, 201), &session)

	clip := makeTestClip(t, "360x640", "2")
	c := &tusclient.Client{Endpoint: ingestURL + "/v1/uploads/", Token: session.Token}
	loc, err := c.Create(t.Context(), fileSize(t, clip), map[string]string{"filename": "clip.mp4", "caption": "on #s3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Upload(t.Context(), loc, openFile(t, clip), fileSize(t, clip), 0, nil); err != nil {
		t.Fatal(err)
	}
	id := loc[strings.LastIndex(loc, "/")+1:]

	deadline := time.Now().Add(2 * time.Minute)
	var status, playback string
	for status != "ready" {
		if time.Now().After(deadline) || status == "failed" {
			t.Fatalf("video %s: status %q", id, status)
		}
		time.Sleep(100 * time.Millisecond)
		body := getJSON(t, feedURL+"/v1/videos/"+id, session.Token)
		status, playback = jsonField(body, "status"), jsonField(body, "playback_url")
	}
	if want := originURL + "/v/" + id + "/master.m3u8"; playback != want {
		t.Errorf("playback_url %q, want %q", playback, want)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", playback, "-map", "0", "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("ffmpeg playing %s: %v\n%s", playback, err, out)
	}
}
