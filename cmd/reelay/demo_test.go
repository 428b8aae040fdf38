package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/demo"
	"github.com/reelay/reelay/internal/testenv"
)

// demoUp is `reelay up --demo` run in-process until stop: its printed lines by first word,
// the whole demo admin line, and its log.
type demoUp struct {
	urls      map[string]string
	adminLine string
	log       *testenv.Buffer
	stop      func() int
}

func startDemo(t *testing.T, args ...string) *demoUp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	u := &demoUp{urls: map[string]string{}, log: &testenv.Buffer{}}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"up", "--demo"}, args...), &env{stdout: pw, stderr: u.log, getenv: envOf(nil)})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "demo admin ") {
			u.adminLine = line
			break
		}
		name, url, _ := strings.Cut(line, " ")
		u.urls[name] = url
	}
	go io.Copy(io.Discard, pr)
	if u.adminLine == "" {
		t.Fatalf("reelay up --demo printed no demo admin line; printed %v; log:\n%s", u.urls, u.log)
	}
	var once sync.Once
	code := 0
	u.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { u.stop() })
	return u
}

// waitLog waits until the log has n lines matching re.
func (u *demoUp) waitLog(t *testing.T, re string, n int, timeout time.Duration) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for len(rx.FindAllString(u.log.String(), -1)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %d log lines matching %q within %v; log:\n%s", n, re, timeout, u.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUpDemo: `reelay up --demo` seeds users who follow each other, a demo admin who is an
// admin, and clips that go through the normal upload pipeline to be playable, with their
// captions and hashtags, in For You and in the Following feeds of their creators' followers,
// liked and watched; the player's and dashboard's URLs and the admin's login are printed. A
// second run on the same data adds nothing.
func TestUpDemo(t *testing.T) {
	busyTest(t)
	const clips = 3
	dir := t.TempDir()
	args := []string{"--data", dir, "--demo-clips", "3", "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}
	up := startDemo(t, args...)
	api := up.urls["api"]
	if up.urls["player"] != api+"/" || up.urls["dashboard"] != api+"/dashboard" {
		t.Errorf("printed %v: want the player at %s/ and the dashboard at %s/dashboard", up.urls, api, api)
	}
	m := regexp.MustCompile(`^demo admin "([^"]+)", password "([^"]+)"`).FindStringSubmatch(up.adminLine)
	if m == nil || m[1] != demo.AdminHandle {
		t.Fatalf("demo admin line %q: want the handle %s and a password", up.adminLine, demo.AdminHandle)
	}
	password := m[2]
	up.waitLog(t, `msg="demo seeded"`, 1, 5*time.Minute)
	if strings.Count(up.log.String(), `msg="demo clip ready"`) != clips {
		t.Fatalf("want %d clips ready; log:\n%s", clips, up.log)
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(path, token string, out any) int {
		t.Helper()
		req, _ := http.NewRequest("GET", api+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	login := func(handle string) string {
		t.Helper()
		resp, err := hc.Post(api+"/v1/sessions", "application/json",
			strings.NewReader(`{"handle":"`+handle+`","password":"`+password+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&s)
		if resp.StatusCode != 201 || s.Token == "" {
			t.Fatalf("logging in as %s with the printed password: %d", handle, resp.StatusCode)
		}
		return s.Token
	}

	// The users and their follows.
	for _, u := range demo.Users() {
		var p struct {
			FollowingCount int `json:"following_count"`
		}
		if code := get("/v1/users/"+url.PathEscape(u.Handle), "", &p); code != 200 || p.FollowingCount != len(u.Follows) {
			t.Errorf("%s: %d, following %d, want 200 and %d", u.Handle, code, p.FollowingCount, len(u.Follows))
		}
	}
	// The demo admin is an admin; another demo user is not.
	if code := get("/v1/admin/reports", login(demo.AdminHandle), nil); code != 200 {
		t.Errorf("the demo admin's GET /v1/admin/reports: %d, want 200", code)
	}
	if code := get("/v1/admin/reports", login("viewer.vic"), nil); code != 403 {
		t.Errorf("viewer.vic's GET /v1/admin/reports: %d, want 403", code)
	}

	// For You (a visitor's, who has seen nothing) has every clip, with its caption and
	// hashtags; each plays from the edge.
	specs := demo.Clips(clips)
	type item struct {
		ID          string   `json:"id"`
		Caption     string   `json:"caption"`
		Hashtags    []string `json:"hashtags"`
		PlaybackURL string   `json:"playback_url"`
		Creator     struct {
			Handle string `json:"handle"`
		} `json:"creator"`
		Counts struct {
			Views int `json:"views"`
			Likes int `json:"likes"`
		} `json:"counts"`
	}
	var foryou struct{ Items []item }
	views := 0
	deadline := time.Now().Add(time.Minute)
	for { // the recommender reads new videos every 3 s
		foryou.Items = nil
		if code := get("/v1/feed/foryou?visitor=demo-test-visitor&limit=50", "", &foryou); code != 200 {
			t.Fatalf("For You: %d", code)
		}
		views = 0
		for _, it := range foryou.Items {
			views += it.Counts.Views // counted from the events, a moment after them
		}
		if len(foryou.Items) >= clips && views > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	byCaption := map[string]item{}
	likes := 0
	for _, it := range foryou.Items {
		byCaption[it.Caption] = it
		likes += it.Counts.Likes
	}
	if len(foryou.Items) != clips {
		t.Fatalf("For You has %d items, want the %d clips: %+v", len(foryou.Items), clips, foryou.Items)
	}
	for _, s := range specs {
		it, ok := byCaption[s.Caption]
		switch {
		case !ok:
			t.Errorf("For You has no clip captioned %q", s.Caption)
			continue
		case it.Creator.Handle != s.Creator || len(it.Hashtags) < 2:
			t.Errorf("clip %q: creator %s, hashtags %v; want %s and its hashtags", s.Caption, it.Creator.Handle, it.Hashtags, s.Creator)
		}
		var v struct {
			Status   string
			Playable bool
		}
		if code := get("/v1/videos/"+it.ID, "", &v); code != 200 || v.Status != "ready" || !v.Playable {
			t.Errorf("clip %s: %d, %+v; want ready and playable", it.ID, code, v)
		}
		resp, err := hc.Get(it.PlaybackURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "#EXTM3U") {
			t.Errorf("%s: %d %.40q, want a playlist", it.PlaybackURL, resp.StatusCode, body)
		}
	}
	if views == 0 || likes == 0 {
		t.Errorf("the clips have %d views and %d likes: want the demo users' watching and liking", views, likes)
	}

	// sam.scrolls's Following feed is the clips of the creators sam.scrolls follows.
	var want []string
	for _, u := range demo.Users() {
		if u.Handle == "sam.scrolls" {
			for _, s := range specs {
				if slices.Contains(u.Follows, s.Creator) {
					want = append(want, s.Caption)
				}
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("sam.scrolls follows none of the first clips' creators: the test needs another viewer")
	}
	sam := login("sam.scrolls")
	var following struct{ Items []item }
	var got []string
	for deadline := time.Now().Add(time.Minute); ; { // fan-out runs after each clip is ready
		following.Items, got = nil, nil
		if code := get("/v1/feed/following", sam, &following); code != 200 {
			t.Fatalf("Following: %d", code)
		}
		for _, it := range following.Items {
			got = append(got, it.Caption)
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("sam.scrolls's Following: %q, want %q", got, want)
	}

	// Again on the same data: the same admin login, and nothing new.
	if code := up.stop(); code != 0 {
		t.Fatalf("reelay up exited %d", code)
	}
	again := startDemo(t, args...)
	if again.adminLine != up.adminLine {
		t.Errorf("second run: %q, want %q again", again.adminLine, up.adminLine)
	}
	again.waitLog(t, `msg="demo already seeded"`, 1, time.Minute)
	// Nothing registered, uploaded, or liked and watched again (which follows "ready").
	for _, msg := range []string{"user registered", "demo clip uploaded", "demo clip ready"} {
		if strings.Contains(again.log.String(), `msg="`+msg+`"`) {
			t.Errorf("second run logged %q: it seeded again; log:\n%s", msg, again.log)
		}
	}
	api = again.urls["api"]
	videos := 0
	for _, u := range demo.Users() {
		var p struct {
			VideoCount int `json:"video_count"`
		}
		get("/v1/users/"+url.PathEscape(u.Handle), "", &p)
		videos += p.VideoCount
	}
	if videos != clips {
		t.Errorf("after a second run the demo users have %d videos, want %d", videos, clips)
	}

	// With one clip more, the seed adds that one only.
	again.stop()
	more := startDemo(t, append(slices.Clone(args), "--demo-clips", strconv.Itoa(clips+1))...)
	more.waitLog(t, `msg="demo seeded"`, 1, 5*time.Minute)
	if n := strings.Count(more.log.String(), `msg="demo clip uploaded"`); n != 1 || !strings.Contains(more.log.String(), ` n=`+strconv.Itoa(clips+1)+` of=`) {
		t.Errorf("with --demo-clips %d after %d, %d clips uploaded, want clip %d only; log:\n%s", clips+1, clips, n, clips+1, more.log)
	}
}

// TestUpDemoResumes: a seed stopped after its first upload is finished by the next run,
// which uploads only the clips still missing and leaves each demo video there once.
func TestUpDemoResumes(t *testing.T) {
	waitingTest(t)
	const clips = 2
	args := []string{"--data", t.TempDir(), "--demo-clips", strconv.Itoa(clips), "--api-addr", "127.0.0.1:0",
		"--origin-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}
	first := startDemo(t, args...)
	first.waitLog(t, `msg="demo clip uploaded" tier=demo n=1 `, 1, 2*time.Minute)
	if code := first.stop(); code != 0 {
		t.Fatalf("reelay up exited %d", code)
	}
	again := startDemo(t, args...)
	again.waitLog(t, `msg="demo seeded"`, 1, 5*time.Minute)
	if strings.Contains(again.log.String(), `msg="demo clip uploaded" tier=demo n=1 `) {
		t.Errorf("the second run uploaded clip 1 again; log:\n%s", again.log)
	}
	if n := strings.Count(again.log.String(), `msg="demo clip ready"`); n != clips {
		t.Errorf("the second run saw %d clips ready, want %d; log:\n%s", n, clips, again.log)
	}
	videos := 0
	for _, u := range demo.Users() {
		resp, err := http.Get(again.urls["api"] + "/v1/users/" + url.PathEscape(u.Handle))
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			VideoCount int `json:"video_count"`
		}
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		videos += p.VideoCount
	}
	if videos != clips {
		t.Errorf("the demo users have %d videos, want %d", videos, clips)
	}
}
