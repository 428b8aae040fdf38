package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// playerRun is what e2e/web/player.mjs reports of its run of the swipe player.
type playerRun struct {
	OK         bool
	FailedAt   string
	Error      string
	Steps      []string
	PageErrors []string
	// Events counts the events the pages sent by type; EventStatuses are the API's answers.
	Events        map[string]int
	EventStatuses []int
	AskedToLogIn  string
	Clip          string // the video uploaded through the page
	// OfflineNote is what the upload page said when the browser went offline during the
	// upload (as the second chunk was sent); Tus are the tus requests the page made.
	OfflineNote string
	Tus         []struct{ Method, Offset string }
	// PlayableStatus is the video's status when the upload page first called it playable.
	PlayableStatus string
	ProfileTiles   []struct{ Video, Status string }
	// FailedReason is what the creator's page on another device said of the upload cut
	// short; OtherDeviceTiles are that page's tiles.
	FailedReason     string
	OtherDeviceTiles []struct{ Video, Status string }
	// The viewer's For You: the first video, the next one, which the page preloaded, and the
	// media requests for the next one (from before the swipe and after).
	ForYouFirst, ForYouNext string
	NextSegments            []struct {
		Rendition, File, CacheStatus string
		Status                       int
		AfterSwipe                   bool
	}
	Swipes []struct {
		From, To, Input string
		MS              float64
		BufferedAtSwipe float64
	}
	AnonymousPlay, AfterSwipe, AfterKeyUp, AfterWheel, Following, AfterLike, AfterReload *slotState
	LikeStatus                                                                           int
	Comment                                                                              string
	// The share: its answer, the link it copied, and that link opened in another browser.
	ShareStatus  int
	SharedLink   string
	SharedPlays  *slotState
	ReportStatus int
	FatalErrors  []any
}

// slotState is the current video of a page: which, and how it plays.
type slotState struct {
	Video, State, Likes string
	Time                float64
	Liked               bool
	Index               int
}

// TestPlayerInChromium runs the swipe player, the page at / of reelay up's API listener, in
// Chromium as two people would (e2e/web/player.mjs): a creator who lands in For You, is asked
// to sign up when they like a video, uploads a clip through the page and sees it become
// playable and join their profile, and a file cut short fail (their page on another device,
// from the API, shows both with their statuses); a viewer who follows them from their profile, swipes from
// the first video of For You to the next one, which the page preloaded from the edge (a hit:
// the next-swipe prefetch warmed it), and finds the clip in Following, where it plays and a
// like counts, before and after a reload. Screenshots go to screenshots/player.
//
// The time from the swipe to playback is logged, not asserted (tests do not time things): what
// is asserted is what makes it short, that the next video's first segment was buffered before
// the swipe and not fetched after it.
func TestPlayerInChromium(t *testing.T) {
	waitingTest(t)
	b := newBrowser(t)
	const admin = "0123456789abcdef"
	urls, _ := startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--admin-token", admin)
	api := urls["api"]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// Another creator's video, there before anyone opens the page, so that For You has a
	// video to land on and one to swipe to.
	seeded := uploadClip(t, ctx, api, createCreator(t, api), "public", makeTestClip(t, "360x640", "3"))
	seededID := path.Base(path.Dir(seeded))
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(string(getJSON(t, api+"/v1/feed/foryou", "")), seededID); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) { // the recommender reads new videos every 3 s
			t.Fatalf("For You never listed the seeded video %s", seededID)
		}
	}
	clip := makeTestClip(t, "360x640", "3")
	broken := makeCutShortClip(t)

	shots := filepath.Join(b.root, "screenshots", "player")
	os.RemoveAll(shots) // the last run's, a failed one's among them
	cmd := exec.CommandContext(ctx, b.node, filepath.Join(b.root, "e2e", "web", "player.mjs"), api, clip, shots, broken)
	cmd.Env = append(os.Environ(), "CHROMIUM="+b.chromium)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r playerRun
	if jerr := json.Unmarshal(out, &r); err != nil || jerr != nil || !r.OK {
		t.Fatalf("player.mjs: %v %v; failed at %q: %s\n%s", err, jerr, r.FailedAt, r.Error, stderr.String())
	}
	t.Logf("screenshots in %s", shots)
	if len(r.PageErrors) > 0 || len(r.FatalErrors) > 0 {
		t.Errorf("script errors %q, fatal hls.js errors %v", r.PageErrors, r.FatalErrors)
	}

	// 1. The visitor watched, was asked to log in to like, and the creator's upload through
	// the page became playable, then ready.
	if r.AnonymousPlay == nil || r.AnonymousPlay.Time <= 0 || !strings.Contains(r.AskedToLogIn, "like") {
		t.Errorf("the visitor: played %+v, asked %q", r.AnonymousPlay, r.AskedToLogIn)
	}
	if r.PlayableStatus != "processing" && r.PlayableStatus != "ready" {
		t.Errorf("the upload page called the clip playable in status %q", r.PlayableStatus)
	}
	// The upload resumed after the lost connection: a HEAD for the offset, then the rest
	// from the first chunk's end.
	resumed := false
	for i, req := range r.Tus {
		if req.Method == "HEAD" && i+1 < len(r.Tus) && r.Tus[i+1].Method == "PATCH" && r.Tus[i+1].Offset == "524288" {
			resumed = true
		}
	}
	if !strings.Contains(r.OfflineNote, "Offline") || !resumed {
		t.Errorf("the upload through a lost connection: the page said %q; tus requests %+v, want a HEAD then a PATCH at 524288", r.OfflineNote, r.Tus)
	}
	var v struct {
		Status, Caption string
		Creator         struct{ Handle string }
		Counts          struct{ Likes, Views int }
	}
	json.Unmarshal(getJSON(t, api+"/v1/videos/"+r.Clip, ""), &v)
	if v.Status != "ready" || v.Creator.Handle != "maker" || v.Caption != "Made in the browser #e2e #reelay" {
		t.Errorf("the clip uploaded through the page: %+v", v)
	}

	// 2. In the creator's profile, and in the follower's Following feed.
	inProfile := false
	for _, tile := range r.ProfileTiles {
		inProfile = inProfile || tile.Video == r.Clip && tile.Status == "ready"
	}
	if !inProfile {
		t.Errorf("the creator's profile shows %+v, not the clip %s", r.ProfileTiles, r.Clip)
	}
	// The creator's own page on a device that uploaded nothing: the clip ready, and the file
	// cut short failed with the transcoder's reason.
	var failed, ready int
	for _, tile := range r.OtherDeviceTiles {
		if tile.Status == "failed" {
			failed++
		}
		if tile.Video == r.Clip && tile.Status == "ready" {
			ready++
		}
	}
	if failed != 1 || ready != 1 || !strings.Contains(r.FailedReason, "truncated") {
		t.Errorf("the creator's page on another device: tiles %+v, failed because %q; want the clip ready and one failed, truncated",
			r.OtherDeviceTiles, r.FailedReason)
	}
	var maker struct {
		FollowerCount int `json:"follower_count"`
	}
	json.Unmarshal(getJSON(t, api+"/v1/users/maker", ""), &maker)
	if maker.FollowerCount != 1 {
		t.Errorf("the creator has %d followers, want 1 (the viewer)", maker.FollowerCount)
	}

	// 3. It played in Following (player.mjs waits for currentTime to advance 0.5 s).
	if r.Following == nil || r.Following.Video != r.Clip || r.Following.Time <= 0 {
		t.Errorf("Following: %+v, want the clip %s playing", r.Following, r.Clip)
	}

	// 4. The swipe: to the next video of For You, preloaded through the edge, its first
	// segment a hit there, nothing of it fetched after the swipe.
	feedVideos := map[string]bool{r.Clip: true, seededID: true}
	if !feedVideos[r.ForYouFirst] || !feedVideos[r.ForYouNext] || r.ForYouFirst == r.ForYouNext {
		t.Errorf("For You showed %s then %s, want the clip %s and the seeded video %s", r.ForYouFirst, r.ForYouNext, r.Clip, seededID)
	}
	if len(r.Swipes) == 0 || r.Swipes[0].Input != "touch" || r.Swipes[0].To != r.ForYouNext || r.Swipes[0].BufferedAtSwipe <= 0 {
		t.Fatalf("swipes %+v, want the first one by touch to %s, with its video buffered", r.Swipes, r.ForYouNext)
	}
	t.Logf("swipe to the next video: playing %.0f ms after the touch (%.1f s of it buffered before)", r.Swipes[0].MS, r.Swipes[0].BufferedAtSwipe)
	firstSegment := false
	for _, s := range r.NextSegments {
		if s.AfterSwipe && (s.File == "init.mp4" || s.File == "seg_00001.m4s") {
			t.Errorf("%s/%s of the next video was fetched after the swipe", s.Rendition, s.File)
		}
		if s.File == "seg_00001.m4s" && s.Rendition != "audio" {
			firstSegment = true
			if s.Status != http.StatusOK || !strings.Contains(s.CacheStatus, "; hit") {
				t.Errorf("the next video's first segment: %d, Cache-Status %q, want a hit", s.Status, s.CacheStatus)
			}
		}
	}
	if !firstSegment {
		t.Errorf("the page never fetched the next video's first segment: %+v", r.NextSegments)
	}
	if r.AfterSwipe == nil || r.AfterSwipe.Video != r.ForYouNext || r.AfterKeyUp == nil || r.AfterKeyUp.Video != r.ForYouFirst ||
		r.AfterWheel == nil || r.AfterWheel.Video != r.ForYouNext {
		t.Errorf("touch, then ArrowUp, then the wheel: %+v, %+v, %+v", r.AfterSwipe, r.AfterKeyUp, r.AfterWheel)
	}
	// The edge served objects that the next-swipe prefetch had stored for the viewer.
	var stats struct {
		Prefetched   int64 `json:"prefetched"`
		PrefetchUsed int64 `json:"prefetch_used"`
	}
	json.Unmarshal(getJSONStats(t, urls["edge"], admin), &stats)
	if stats.Prefetched == 0 || stats.PrefetchUsed == 0 {
		t.Errorf("edge stats: %+v, want prefetched objects served", stats)
	}

	// 5. The like: counted at once, still there after a reload, and in the API.
	if r.LikeStatus != http.StatusOK || r.AfterLike == nil || r.AfterLike.Likes != "1" || !r.AfterLike.Liked ||
		r.AfterReload == nil || r.AfterReload.Likes != "1" || !r.AfterReload.Liked {
		t.Errorf("like: %d, then %+v, after a reload %+v", r.LikeStatus, r.AfterLike, r.AfterReload)
	}
	if r.Comment != "Lovely pattern" {
		t.Errorf("comment: %q", r.Comment)
	}
	if r.ShareStatus != http.StatusOK || r.SharedLink != api+"/#/v/"+r.Clip || r.SharedPlays == nil || r.SharedPlays.Video != r.Clip {
		t.Errorf("share: %d, copied %q, which played %+v", r.ShareStatus, r.SharedLink, r.SharedPlays)
	}
	if r.ReportStatus != http.StatusCreated {
		t.Errorf("report: %d", r.ReportStatus)
	}

	// The recommender's events: every type the player sends, all accepted, and the views
	// they count.
	for _, typ := range []string{"impression", "play", "progress", "complete", "skip"} {
		if r.Events[typ] == 0 {
			t.Errorf("no %s event sent: %v", typ, r.Events)
		}
	}
	for _, s := range r.EventStatuses {
		if s != http.StatusAccepted {
			t.Errorf("POST /v1/events answered %v", r.EventStatuses)
			break
		}
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		json.Unmarshal(getJSON(t, api+"/v1/videos/"+r.Clip, ""), &v)
		if v.Counts.Likes == 1 && v.Counts.Views >= 2 { // the viewer's play in For You and in Following
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the clip's counts: %+v, want 1 like and at least 2 views", v.Counts)
		}
	}
}

// getJSONStats returns an edge's /_edge/stats, read with the admin token.
func getJSONStats(t *testing.T, edge, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", edge+"/_edge/stats", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/_edge/stats: %d %s", edge, resp.StatusCode, buf.Bytes())
	}
	return buf.Bytes()
}

// makeCutShortClip makes an MP4 whose index, at its start, promises twice the frames that the
// file holds: the upload's probe takes it, the transcoder fails it (truncated).
func makeCutShortClip(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	full := filepath.Join(dir, "full.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=360x640:rate=30", "-t", "4",
		"-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart", full).CombinedOutput()
	if err != nil {
		t.Fatalf("making the clip: %v\n%s", err, out)
	}
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.mp4")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	return cut
}
