package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/live/livetest"
)

// liveGet GETs url and returns the status, the Cache-Status and the body.
func liveGet(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Cache-Status"), b
}

func liveMedia(t *testing.T, b []byte) *playlist.Media {
	t.Helper()
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		t.Fatalf("not a media playlist:\n%s", b)
	}
	return m
}

var liveLinkRE = regexp.MustCompile(`^<([^>]+)>; rel="alternate"; type="application/vnd\.apple\.mpegurl"$`)

// TestUpLive publishes over WHIP to `reelay up` and plays the stream through its edge: the Link
// names the edge, the edge serves the LL-HLS from the origin, and players blocked on the same
// next part share one origin request.
func TestUpLive(t *testing.T) {
	c := livetest.TestClip(t)
	urls, _ := startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	api, edgeURL := urls["api"], urls["edge"]
	postJSON(t, api+"/v1/users", "", `{"handle":"streamer","password":"correct horse"}`, 201)
	var session struct{ Token string }
	json.Unmarshal(postJSON(t, api+"/v1/sessions", "", `{"handle":"streamer","password":"correct horse"}`, 201), &session)

	// A fan follows the streamer; a lurker does not.
	fan, lurker := createUser(t, api, "fan"), createUser(t, api, "lurker")
	req, _ := http.NewRequest(http.MethodPut, api+"/v1/users/streamer/follow", nil)
	req.Header.Set("Authorization", "Bearer "+fan)
	doJSON(t, req, http.StatusOK)

	p := livetest.NewPublisher(t, true)
	resp, body := livetest.WHIP(t, api+"/v1/live/whip", session.Token, "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", resp.StatusCode, body)
	}
	m := liveLinkRE.FindStringSubmatch(resp.Header.Get("Link"))
	if m == nil || !strings.HasPrefix(m[1], edgeURL+"/v/live/") {
		t.Fatalf("Link %q, want the edge %s", resp.Header.Get("Link"), edgeURL)
	}
	masterURL := m[1]

	// The stream tops the fan's Following feed, and only theirs.
	var following struct {
		Live []struct {
			ID          string
			PlaybackURL string `json:"playback_url"`
			Creator     struct{ Handle string }
		}
	}
	json.Unmarshal(getJSON(t, api+"/v1/feed/following", fan), &following)
	if len(following.Live) != 1 || following.Live[0].PlaybackURL != masterURL || following.Live[0].Creator.Handle != "streamer" {
		t.Errorf("the fan's Following feed: %+v", following)
	}
	following.Live = nil
	json.Unmarshal(getJSON(t, api+"/v1/feed/following", lurker), &following)
	if len(following.Live) != 0 {
		t.Errorf("the lurker's Following feed: %+v", following)
	}
	// The status API tells it is live, and where it plays.
	stream := strings.TrimSuffix(strings.TrimPrefix(masterURL, edgeURL+"/v/live/"), "/index.m3u8")
	var status struct {
		Status              string
		PlaybackURL         string `json:"playback_url"`
		Playable, Following bool
	}
	json.Unmarshal(getJSON(t, api+"/v1/videos/"+stream, fan), &status)
	if status.Status != "live" || status.PlaybackURL != masterURL || !status.Playable || !status.Following {
		t.Errorf("the status of the live stream: %+v", status)
	}
	base := strings.TrimSuffix(masterURL, "index.m3u8")
	p.Answer(t, body)
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() { p.Send(c, stop); close(sent) }()
	defer func() { close(stop); <-sent }()

	code, _, master := liveGet(t, masterURL)
	if code != http.StatusOK || !strings.Contains(string(master), "#EXT-X-STREAM-INF") {
		t.Fatalf("master through the edge: %d\n%s", code, master)
	}
	mv, _ := playlist.Unmarshal(master)
	mediaURL := base + mv.(*playlist.Multivariant).Variants[0].URI

	// Through the edge until a whole segment is there, by blocking reloads.
	code, _, raw := liveGet(t, mediaURL)
	if code != http.StatusOK {
		t.Fatalf("media playlist: %d %s", code, raw)
	}
	media := liveMedia(t, raw)
	deadline := time.Now().Add(30 * time.Second)
	for len(media.Segments) == 0 || media.Segments[len(media.Segments)-1].Gap {
		if time.Now().After(deadline) {
			t.Fatalf("no segment in time:\n%s", raw)
		}
		next := media.MediaSequence + len(media.Segments)
		code, _, raw = liveGet(t, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", mediaURL, next, len(media.Parts)))
		if code != http.StatusOK {
			t.Fatalf("blocking reload: %d %s", code, raw)
		}
		media = liveMedia(t, raw)
	}

	// 20 players block on the part after the next: one origin request answers them all.
	next := media.MediaSequence + len(media.Segments)
	want := fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", mediaURL, next, len(media.Parts)+1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, cs, b := liveGet(t, want)
			mu.Lock()
			defer mu.Unlock()
			if code != http.StatusOK {
				t.Errorf("blocked player: %d %s", code, b)
			}
			statuses[cs]++
		}()
	}
	wg.Wait()
	misses := 0
	for cs, n := range statuses {
		if strings.Contains(cs, "fwd=miss") && !strings.Contains(cs, "collapsed") {
			misses += n
		}
	}
	if misses != 1 {
		t.Errorf("Cache-Status of the 20 blocked players: %v; want one origin request", statuses)
	}

	// A part is fetched once, then a hit.
	part := base + media.Segments[len(media.Segments)-1].Parts[0].URI
	if code, cs, b := liveGet(t, part); code != http.StatusOK || len(b) < 8 || string(b[4:8]) != "moof" || !strings.Contains(cs, "fwd=miss") {
		t.Errorf("part: %d %q", code, cs)
	}
	if code, cs, _ := liveGet(t, part); code != http.StatusOK || !strings.HasSuffix(cs, "; hit") {
		t.Errorf("part again: %d %q, want a hit", code, cs)
	}
	// The origin serves the stream too.
	if code, _, _ := liveGet(t, urls["origin"]+strings.TrimPrefix(masterURL, edgeURL)); code != http.StatusOK {
		t.Errorf("master from the origin: %d", code)
	}

	req, _ = http.NewRequest(http.MethodDelete, api+resp.Header.Get("Location"), nil)
	req.Header.Set("Authorization", "Bearer "+session.Token)
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if del.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", del.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, _, _ := liveGet(t, masterURL); code == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream still plays after DELETE")
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline: the edge keeps playlists 250 ms
	}

	following.Live = nil
	json.Unmarshal(getJSON(t, api+"/v1/feed/following", fan), &following)
	if len(following.Live) != 0 {
		t.Errorf("the fan's Following feed after the stream: %+v", following)
	}

	// The recording becomes an ordinary video of the creator, under the stream's id.
	var v struct {
		Status        string
		Creator       struct{ Handle string }
		DurationMS    int64 `json:"duration_ms"`
		Width, Height int
	}
	for deadline := time.Now().Add(2 * time.Minute); v.Status != "ready"; {
		if time.Now().After(deadline) || v.Status == "failed" {
			t.Fatalf("the recording's video %s: %+v", stream, v)
		}
		time.Sleep(100 * time.Millisecond) // polling, with a deadline
		if err := json.Unmarshal(getJSON(t, api+"/v1/videos/"+stream, session.Token), &v); err != nil {
			t.Fatal(err)
		}
	}
	if v.Creator.Handle != "streamer" || v.DurationMS < 1000 || v.Width != 320 || v.Height != 240 {
		t.Errorf("the recording's video: %+v", v)
	}
}

// livePage plays the live stream in its query's src with hls.js in low-latency mode, muted.
// Once playing, it samples every 250 ms, for the query's seconds, the latency of the frame on
// screen: the wall clock minus the frame's time by EXT-X-PROGRAM-DATE-TIME (hls.playingDate),
// which the live tier stamps from the arrival of the frame's packets. Then it reports.
const livePage = `<!doctype html>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
const q = new URLSearchParams(location.search);
const seconds = Number(q.get('seconds') || '8');
const v = document.getElementById('v');
const errors = [], latencies = [], estimates = [];
let started = 0, parts = 0;
const done = (r) => {
  if (window.result) return;
  window.result = Object.assign({errors, latencies, estimates, played: v.currentTime, width: v.videoWidth, height: v.videoHeight,
    audioTracks: hls.audioTracks.length, lowLatency: hls.lowLatencyMode, parts}, r);
};
const hls = new Hls({lowLatencyMode: true});
hls.on(Hls.Events.ERROR, (_, d) => {
  errors.push({details: d.details, fatal: d.fatal, code: d.response ? d.response.code : 0});
  if (d.fatal) done({});
});
hls.on(Hls.Events.LEVEL_LOADED, (_, d) => { parts = Math.max(parts, (d.details.partList || []).length); });
hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch((e) => done({play: String(e)})));
v.addEventListener('playing', () => {
  if (started) return;
  started = Date.now();
  const tick = setInterval(() => {
    if (hls.playingDate) latencies.push(Date.now() - hls.playingDate.getTime());
    if (hls.latency) estimates.push(hls.latency * 1000);
    if (Date.now() - started >= seconds * 1000) { clearInterval(tick); done({}); }
  }, 250);
});
hls.loadSource(q.get('src'));
hls.attachMedia(v);
</script>
`

// liveResult is what livePage reports.
type liveResult struct {
	Played, Width, Height float64
	AudioTracks, Parts    int
	LowLatency            bool
	Latencies, Estimates  []float64 // ms
	Play                  string
	Errors                []struct {
		Details string
		Fatal   bool
		Code    int
	}
}

// percentile returns the p-th percentile (0-100) of xs, nearest rank.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// TestUpLivePlaysInChromium publishes to `reelay up` over WHIP and plays the stream through
// the edge with hls.js in low-latency mode in Debian's Chromium, from a page on another
// origin; it logs the latency of the frames played against their EXT-X-PROGRAM-DATE-TIME
// (REELAY_LIVE_SECONDS sets how long it samples; bench/RESULTS.md has a 60 s run).
func TestUpLivePlaysInChromium(t *testing.T) {
	b := newBrowser(t)
	c := livetest.TestClip(t)
	seconds := cmp.Or(os.Getenv("REELAY_LIVE_SECONDS"), "6")
	n, err := strconv.Atoi(seconds)
	if err != nil {
		t.Fatalf("REELAY_LIVE_SECONDS=%q: %v", seconds, err)
	}
	t.Setenv("PLAY_TIMEOUT_MS", strconv.Itoa((n+60)*1000)) // play.mjs's wait for the result
	urls, token := startUpWithCreator(t)
	p := livetest.NewPublisher(t, true)
	resp, body := livetest.WHIP(t, urls["api"]+"/v1/live/whip", token, "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", resp.StatusCode, body)
	}
	src := liveLinkRE.FindStringSubmatch(resp.Header.Get("Link"))[1]
	p.Answer(t, body)
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() { p.Send(c, stop); close(sent) }()
	defer func() { close(stop); <-sent }()

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	page := b.pageServer(t, livePage, nil, nil)
	var r liveResult
	b.play(t, ctx, page.URL+"/?seconds="+seconds+"&src="+url.QueryEscape(src), &r)
	for _, e := range r.Errors {
		if e.Fatal {
			t.Fatalf("hls.js: %+v", r)
		}
	}
	if r.Width != 320 || r.Height != 240 || r.AudioTracks != 1 || !r.LowLatency || r.Parts == 0 || len(r.Latencies) == 0 {
		t.Fatalf("live stream in Chromium: %+v", r)
	}
	t.Logf("glass-to-glass (PROGRAM-DATE-TIME to the frame on screen) over %d samples: p50 %.0f ms, p95 %.0f ms, max %.0f ms; hls.js's own estimate p50 %.0f ms; %d non-fatal errors",
		len(r.Latencies), percentile(r.Latencies, 50), percentile(r.Latencies, 95), percentile(r.Latencies, 100), percentile(r.Estimates, 50), len(r.Errors))
}

// liveViewer plays the media playlist at mediaURL (of the stream at base) until stop, as an
// LL-HLS player does: a blocking reload for the next part, then that part. It returns the
// requests it made.
func liveViewer(t *testing.T, base, mediaURL string, stop <-chan struct{}) (requests int) {
	code, _, raw := liveGet(t, mediaURL)
	requests++
	for {
		select {
		case <-stop:
			return
		default:
		}
		if code != http.StatusOK {
			t.Errorf("viewer: %d %s", code, raw)
			return
		}
		m := liveMedia(t, raw)
		next := fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", mediaURL, m.MediaSequence+len(m.Segments), len(m.Parts))
		code, _, raw = liveGet(t, next)
		requests++
		if code == http.StatusBadRequest { // fell behind: start again
			code, _, raw = liveGet(t, mediaURL)
			requests++
			continue
		}
		if code == http.StatusOK {
			if m := liveMedia(t, raw); len(m.Parts) > 0 {
				liveGet(t, base+m.Parts[len(m.Parts)-1].URI)
				requests++
			}
		}
	}
}

// TestUpLiveViewersShareOriginRequests plays one live stream with 1, then 50 simulated LL-HLS
// viewers, on one edge and spread over three (`reelay up --edges 3`), and checks that the
// origin requests, counted by the edges (live_origin_fills), do not grow with the viewers nor
// with the edges: each edge coalesces its players' blocking reloads and part requests, and
// the edges that do not own the stream fill from the one that does.
func TestUpLiveViewersShareOriginRequests(t *testing.T) {
	c := livetest.TestClip(t)
	const seconds = 4
	fifties := map[int]int64{} // the origin requests of 50 viewers, by edges
	for _, edges := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d edges", edges), func(t *testing.T) {
			const metricsToken = "live-metrics-token"
			urls, _ := startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
				"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--edges", strconv.Itoa(edges), "--metrics-token", metricsToken)
			token := createCreator(t, urls["api"])
			edgeURLs := []string{urls["edge"]}
			if edges > 1 {
				edgeURLs = nil
				for i := range edges {
					edgeURLs = append(edgeURLs, urls[fmt.Sprintf("edge-%d", i+1)])
				}
			}
			// The origin requests of the cluster: every edge's requests to the origin for live
			// files (those to the stream's owner are not).
			originFills := func() (n int64) {
				for _, u := range edgeURLs {
					var s struct {
						LiveOriginFills int64 `json:"live_origin_fills"`
					}
					if err := json.Unmarshal(getJSONStats(t, u, metricsToken), &s); err != nil {
						t.Fatal(err)
					}
					n += s.LiveOriginFills
				}
				return n
			}

			p := livetest.NewPublisher(t, false)
			resp, body := livetest.WHIP(t, urls["api"]+"/v1/live/whip", token, "application/sdp", p.Offer)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("WHIP: %d %s", resp.StatusCode, body)
			}
			masterURL := liveLinkRE.FindStringSubmatch(resp.Header.Get("Link"))[1]
			path := strings.TrimPrefix(masterURL, edgeURLs[0])
			p.Answer(t, body)
			stop, sent := make(chan struct{}), make(chan struct{})
			go func() { p.Send(c, stop); close(sent) }()
			defer func() { close(stop); <-sent }()
			_, _, master := liveGet(t, masterURL)
			mv, err := playlist.Unmarshal(master)
			if err != nil {
				t.Fatalf("%v\n%s", err, master)
			}
			media := mv.(*playlist.Multivariant).Variants[0].URI

			run := func(viewers int) (requests int, origin int64) {
				end := make(chan struct{})
				var wg sync.WaitGroup
				var mu sync.Mutex
				before := originFills()
				for i := range viewers {
					base := edgeURLs[i%len(edgeURLs)] + strings.TrimSuffix(path, "index.m3u8")
					wg.Go(func() {
						r := liveViewer(t, base, base+media, end)
						mu.Lock()
						requests += r
						mu.Unlock()
					})
				}
				timer := time.NewTimer(seconds * time.Second)
				<-timer.C
				close(end)
				wg.Wait()
				origin = originFills() - before
				t.Logf("%d edges, %d viewers: %d requests to the edges, %d to the origin in %d s (%.1f/s)",
					edges, viewers, requests, origin, seconds, float64(origin)/seconds)
				return requests, origin
			}
			_, one := run(1)
			requests, fifty := run(50)
			if int64(requests) < 20*fifty || fifty > 2*one+10 {
				t.Errorf("50 viewers: %d requests, %d to the origin; 1 viewer: %d to the origin", requests, fifty, one)
			}
			fifties[edges] = fifty
		})
	}
	// Three edges ask the origin about as often as one, not three times as often.
	if one, three := fifties[1], fifties[3]; one > 0 && three > 0 && 2*three > 3*one+20 {
		t.Errorf("50 viewers ask the origin %d times in %d s over 3 edges, %d over 1 edge: want about as often", three, seconds, one)
	}
}

// publishPage publishes from Chromium over WHIP (query: whip, token) and plays the stream it
// is given back (the Link) with hls.js in low-latency mode, in one page, on one clock. The
// picture is a canvas on which the page draws the time (Date.now(), 40 bits as black and
// white squares) every 33 ms; the sound is Chromium's fake microphone. For each frame that
// the player shows (requestVideoFrameCallback) it reads the time back from the picture:
// glass-to-glass latency, capture, H.264 encoding and WebRTC included. It also samples the
// EXT-X-PROGRAM-DATE-TIME latency (hls.playingDate). It reports after the query's seconds.
const publishPage = `<!doctype html>
<canvas id="c" width="320" height="240"></canvas>
<video id="v" muted playsinline></video>
<canvas id="r" width="320" height="240"></canvas>
<script src="/hls.min.js"></script>
<script>
const q = new URLSearchParams(location.search);
const seconds = Number(q.get('seconds') || '8');
const errors = [], g2g = [], pdt = [];
let unread = 0, link = '', loc = '', state = '', codec = '';
const done = (r) => { if (!window.result) window.result = Object.assign({errors, g2g, pdt, unread, link, loc, state, codec}, r); };
const B = 2 ** 40;
(async () => {
  try {
    const c = document.getElementById('c'), cx = c.getContext('2d');
    const draw = () => {
      const t = Date.now() % B;
      for (let i = 0; i < 40; i++) {
        cx.fillStyle = Math.floor(t / 2 ** i) % 2 ? '#fff' : '#000';
        cx.fillRect((i % 8) * 40, Math.floor(i / 8) * 48, 40, 48);
      }
    };
    draw();
    setInterval(draw, 33);
    const video = c.captureStream(30).getVideoTracks()[0];
    const audio = (await navigator.mediaDevices.getUserMedia({audio: true})).getAudioTracks()[0];
    const pc = new RTCPeerConnection();
    pc.onconnectionstatechange = () => { state = pc.connectionState; };
    const vt = pc.addTransceiver(video, {direction: 'sendonly'});
    vt.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs.filter((k) => k.mimeType === 'video/H264'));
    pc.addTransceiver(audio, {direction: 'sendonly'});
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => {
      if (pc.iceGatheringState === 'complete') r();
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') r(); };
    });
    const resp = await fetch(q.get('whip'), {method: 'POST', body: pc.localDescription.sdp,
      headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + q.get('token')}});
    const answer = await resp.text();
    if (resp.status !== 201) return done({error: 'WHIP ' + resp.status + ' ' + answer});
    link = resp.headers.get('Link') || '';
    loc = resp.headers.get('Location') || '';
    await pc.setRemoteDescription({type: 'answer', sdp: answer});
    codec = (answer.match(/a=rtpmap:\d+ (H264|VP8|VP9|AV1)/) || [])[1] || '';
    const v = document.getElementById('v');
    const rx = document.getElementById('r').getContext('2d', {willReadFrequently: true});
    const hls = new Hls({lowLatencyMode: true});
    hls.on(Hls.Events.ERROR, (_, d) => {
      errors.push({details: d.details, fatal: d.fatal, code: d.response ? d.response.code : 0});
      if (d.fatal) done({});
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch((e) => done({error: String(e)})));
    let started = 0;
    const onFrame = () => {
      const now = Date.now();
      rx.drawImage(v, 0, 0, 320, 240);
      const px = rx.getImageData(0, 0, 320, 240).data;
      let t = 0;
      for (let i = 0; i < 40; i++) {
        const x = (i % 8) * 40 + 20, y = Math.floor(i / 8) * 48 + 24;
        if (px[(y * 320 + x) * 4] > 128) t += 2 ** i;
      }
      const lat = ((now % B) - t + B) % B;
      if (lat < 30000) g2g.push(lat); else unread++;
      if (hls.playingDate) pdt.push(now - hls.playingDate.getTime());
      if (!started) started = now;
      if (now - started >= seconds * 1000) {
        return done({played: v.currentTime, width: v.videoWidth, height: v.videoHeight, audioTracks: hls.audioTracks.length});
      }
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
    hls.loadSource(link.match(/^<([^>]+)>/)[1]);
    hls.attachMedia(v);
  } catch (e) {
    done({error: String(e)});
  }
})();
</script>
`

// publishResult is what publishPage reports.
type publishResult struct {
	Error, Link, Loc, State, Codec string
	Played, Width, Height          float64
	AudioTracks, Unread            int
	G2G, PDT                       []float64 // ms
	Errors                         []struct {
		Details string
		Fatal   bool
		Code    int
	}
}

// TestUpLivePublishesFromChromium publishes from Chromium (a canvas and the fake microphone,
// H.264 and Opus) over WHIP to `reelay up`, from a page of another origin, and plays it back
// through the edge with hls.js in low-latency mode, measuring glass-to-glass latency from the
// time drawn into the picture. Chromium gathers ICE candidates on no loopback interface, so
// this test runs only inside a network namespace of its own with an interface, whose
// address REELAY_LIVE_NETNS_IP names. Run without it, the test runs itself again in such a
// namespace, which it makes (as root, with unshare and ip): nothing of it reaches a network.
func TestUpLivePublishesFromChromium(t *testing.T) {
	ip := os.Getenv("REELAY_LIVE_NETNS_IP")
	if ip == "" {
		inNetworkNamespace(t, "10.99.0.1")
		return
	}
	b := newBrowser(t)
	seconds := cmp.Or(os.Getenv("REELAY_LIVE_SECONDS"), "8")
	n, err := strconv.Atoi(seconds)
	if err != nil {
		t.Fatalf("REELAY_LIVE_SECONDS=%q: %v", seconds, err)
	}
	t.Setenv("PLAY_TIMEOUT_MS", strconv.Itoa((n+60)*1000))
	t.Setenv("CHROMIUM_ARGS", "--use-fake-device-for-media-stream --use-fake-ui-for-media-stream")
	urls, _ := startCmd(t, "up", "origin", "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--live-ips", ip)
	token := createCreator(t, urls["api"])

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	page := b.pageServer(t, publishPage, nil, nil)
	var r publishResult
	b.play(t, ctx, page.URL+"/?seconds="+seconds+"&token="+url.QueryEscape(token)+"&whip="+url.QueryEscape(urls["api"]+"/v1/live/whip"), &r)
	fatal := r.Error != ""
	for _, e := range r.Errors {
		fatal = fatal || e.Fatal
	}
	if fatal || r.Codec != "H264" || r.Width != 320 || r.Height != 240 || r.AudioTracks != 1 || len(r.G2G) == 0 || r.Unread > len(r.G2G)/10 {
		t.Fatalf("publishing from Chromium: %+v", r)
	}
	t.Logf("glass-to-glass (the time drawn into the picture, read back from the frame shown) over %d frames: p50 %.0f ms, p95 %.0f ms, max %.0f ms; PROGRAM-DATE-TIME latency p50 %.0f ms, p95 %.0f ms; %d frames unread, %d non-fatal errors",
		len(r.G2G), percentile(r.G2G, 50), percentile(r.G2G, 95), percentile(r.G2G, 100), percentile(r.PDT, 50), percentile(r.PDT, 95), r.Unread, len(r.Errors))
	for _, e := range r.Errors {
		t.Logf("hls.js, not fatal: %+v", e)
	}
}

// inNetworkNamespace runs the test t again in a new network namespace, with loopback and a
// veth pair (both ends in it, one at ip), and REELAY_LIVE_NETNS_IP=ip; t fails if that run
// fails. Where the namespace cannot be made, t skips (fails under REELAY_TEST_SERVICES=require).
func inNetworkNamespace(t *testing.T, ip string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Require(t, "a network namespace of its own needs root")
	}
	for _, c := range []string{"unshare", "ip"} { // util-linux, iproute2
		testenv.RequireCommand(t, c)
	}
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		testenv.Require(t, "unshare -n: %v %s", err, out)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := "ip link set lo up && ip link add d0 type veth peer name d1 && ip addr add " + ip + "/24 dev d0 && ip link set d0 up && ip link set d1 up && " +
		`exec "$0" -test.run '^` + t.Name() + `$' -test.count=1 -test.v`
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "sh", "-c", script, exe)
	cmd.Env = append(os.Environ(), "REELAY_LIVE_NETNS_IP="+ip)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("%s in a network namespace of its own: %v", t.Name(), err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in its network namespace", t.Name())
	}
}

// TestLiveTiersSplit runs live as on several machines: `reelay ingest --live-playback-url`
// takes the WHIP session and copies the stream into the store, `reelay origin --live-url`
// passes its stream on, and a second `reelay origin` serves it from the store, on a shared
// SQLite database and store directory; `reelay feed` has the accounts, and the stream while
// it is live (from the database's live_streams). The recording is then queued for a
// transcode worker (none runs here).
func TestLiveTiersSplit(t *testing.T) {
	c := livetest.TestClip(t)
	data := t.TempDir()
	dsn, store := filepath.Join(data, "reelay.db"), filepath.Join(data, "objects")
	originURL := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	listener := func(command, name string, args ...string) string {
		urls, _ := startCmd(t, command, name, args...)
		return urls[name]
	}
	feedURL := listener("feed", "api", "--addr", "127.0.0.1:0", "--db", dsn, "--playback-url", originURL)
	ingestURL := listener("ingest", "api", "--addr", "127.0.0.1:0", "--db", dsn, "--store", store,
		"--upload-dir", filepath.Join(data, "uploads"), "--live-playback-url", originURL, "--live-ips", "127.0.0.1")
	if got := listener("origin", "origin", "--addr", strings.TrimPrefix(originURL, "http://"), "--store", store, "--live-url", ingestURL); got != originURL {
		t.Fatalf("origin at %s, want %s", got, originURL)
	}
	storeOrigin := listener("origin", "origin", "--addr", "127.0.0.1:0", "--store", store)
	token := createUser(t, feedURL, "streamer")
	fan := createUser(t, feedURL, "fan")
	req, _ := http.NewRequest(http.MethodPut, feedURL+"/v1/users/streamer/follow", nil)
	req.Header.Set("Authorization", "Bearer "+fan)
	doJSON(t, req, http.StatusOK)

	p := livetest.NewPublisher(t, false)
	resp, body := livetest.WHIP(t, ingestURL+"/v1/live/whip", token, "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", resp.StatusCode, body)
	}
	m := liveLinkRE.FindStringSubmatch(resp.Header.Get("Link"))
	if m == nil || !strings.HasPrefix(m[1], originURL+"/v/live/") {
		t.Fatalf("Link %q, want the origin %s", resp.Header.Get("Link"), originURL)
	}
	p.Answer(t, body)
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() { p.Send(c, stop); close(sent) }()
	defer func() { close(stop); <-sent }()
	stream := strings.TrimSuffix(strings.TrimPrefix(m[1], originURL+"/v/live/"), "/index.m3u8")

	// reelay feed, another process than the live node's, has the stream from the database:
	// at the top of the fan's Following feed, and live in the status API.
	if got := followingLive(t, feedURL, fan, 1); got[0].ID != stream || got[0].PlaybackURL != m[1] || got[0].Creator.Handle != "streamer" {
		t.Errorf("the fan's Following feed on reelay feed: %+v", got)
	}
	if status := jsonField(getJSON(t, feedURL+"/v1/videos/"+stream, fan), "status"); status != "live" {
		t.Errorf("the stream's status on reelay feed: %q, want live", status)
	}

	code, _, master := liveGet(t, m[1])
	if code != http.StatusOK {
		t.Fatalf("master through the origin's proxy: %d %s", code, master)
	}
	mv, err := playlist.Unmarshal(master)
	if err != nil {
		t.Fatalf("%v\n%s", err, master)
	}
	mediaURL := strings.TrimSuffix(m[1], "index.m3u8") + mv.(*playlist.Multivariant).Variants[0].URI
	code, _, raw := liveGet(t, mediaURL)
	if code != http.StatusOK {
		t.Fatalf("media playlist: %d %s", code, raw)
	}
	media := liveMedia(t, raw)
	next := fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", mediaURL, media.MediaSequence+len(media.Segments), len(media.Parts)+1)
	if code, _, raw := liveGet(t, next); code != http.StatusOK || len(liveMedia(t, raw).Parts) == 0 {
		t.Fatalf("blocking reload through the origin's proxy: %d\n%s", code, raw)
	}

	// The origin without --live-url serves the copy in the store, blocking reloads included:
	// a reload for a part to come is answered with a playlist that has it.
	fromStore := storeOrigin + strings.TrimPrefix(mediaURL, originURL)
	code, _, raw = liveGet(t, fromStore)
	if code != http.StatusOK {
		t.Fatalf("media playlist from the store: %d %s", code, raw)
	}
	media = liveMedia(t, raw)
	msn, part := media.MediaSequence+len(media.Segments), len(media.Parts)+1
	code, _, raw = liveGet(t, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", fromStore, msn, part))
	if code != http.StatusOK {
		t.Fatalf("blocking reload from the store: %d %s", code, raw)
	}
	if got := liveMedia(t, raw); got.MediaSequence+len(got.Segments) == msn && len(got.Parts) <= part {
		t.Errorf("blocking reload from the store for msn %d part %d answered without it:\n%s", msn, part, raw)
	} else {
		last := got.Parts
		if len(last) == 0 {
			last = got.Segments[len(got.Segments)-1].Parts
		}
		partURL := strings.TrimSuffix(fromStore, path.Base(fromStore)) + last[len(last)-1].URI
		if code, _, b := liveGet(t, partURL); code != http.StatusOK || len(b) < 8 || string(b[4:8]) != "moof" {
			t.Errorf("a part from the store: %d, %d bytes", code, len(b))
		}
	}
	if code, _, _ := liveGet(t, fmt.Sprintf("%s?_HLS_msn=%d", fromStore, msn+10)); code != http.StatusBadRequest {
		t.Errorf("a reload far ahead from the store: %d, want 400", code)
	}

	req, _ = http.NewRequest(http.MethodDelete, ingestURL+resp.Header.Get("Location"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if del.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", del.StatusCode)
	}
	// The store's copy is deleted with the session.
	if code, _, _ := liveGet(t, storeOrigin+strings.TrimPrefix(m[1], originURL)); code != http.StatusNotFound {
		t.Errorf("the stream from the store after DELETE: %d, want 404", code)
	}
	followingLive(t, feedURL, fan, 0) // the stream left the fan's Following feed
	var status string
	for deadline := time.Now().Add(time.Minute); status != "processing"; {
		if time.Now().After(deadline) {
			t.Fatalf("the recording's video %s: status %q", stream, status)
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline: 404 until the recording is accepted
		req, _ := http.NewRequest(http.MethodGet, feedURL+"/v1/videos/"+stream, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			status = jsonField(b, "status")
		}
	}
}

// followingLiveItem is a live stream of a Following feed's first page.
type followingLiveItem struct {
	ID          string
	PlaybackURL string `json:"playback_url"`
	Creator     struct{ Handle string }
}

// followingLive polls the first page of viewer's Following feed at api until it lists n live
// streams (a feed reads them from the database, cached for a second), and returns them.
func followingLive(t *testing.T, api, viewer string, n int) []followingLiveItem {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) { // polling, with a deadline
		var page struct{ Live []followingLiveItem }
		json.Unmarshal(getJSON(t, api+"/v1/feed/following", viewer), &page)
		if len(page.Live) == n {
			return page.Live
		}
		if time.Now().After(deadline) {
			t.Fatalf("Following feed of the viewer at %s: %+v, want %d live streams", api, page.Live, n)
		}
	}
}
