package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/tracing"
)

// TestTraces follows the two traces an operator looks at through `reelay up` with two edges,
// the spans recorded by the SDK in memory: an upload from its last PATCH through the hand-over
// and the job to the worker's transcode and publication, and a player's segment request from
// one edge through its fill from the other edge, the object's owner, to the origin, each hop
// the child of the one before it by the W3C traceparent it was sent.
func TestTraces(t *testing.T) {
	waitingTest(t)
	testenv.RequireCommand(t, "ffmpeg")
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	const metricsToken = "metrics-0123456789"
	urls, _ := startCmdHooked(t, env{tracerProvider: tp}, "up", "origin", "--data", t.TempDir(), "--api-addr", "127.0.0.1:0",
		"--origin-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--edges", "2",
		"--metrics-token", metricsToken)
	api := urls["api"]
	postJSON(t, api+"/v1/users", "", `{"handle":"creator","password":"correct horse"}`, 201)
	var session struct{ Token string }
	json.Unmarshal(postJSON(t, api+"/v1/sessions", "", `{"handle":"creator","password":"correct horse"}`, 201), &session)

	// Two renditions (540p, 360p) of two segments: the first ones are published early, as playable.
	clip := makeTestClip(t, "540x960", "3")
	r := runUploadArgs(t.Context(), map[string]string{"REELAY_TOKEN": session.Token}, "--file", clip, "--api", api,
		"--state", filepath.Join(t.TempDir(), "uploads.json"), "--poll-interval", "20ms")
	if r.code != 0 {
		t.Fatalf("reelay upload: exit %d\n%s", r.code, r.stderr)
	}

	// The upload: PATCH (the API's server span) → pipeline.handover → pipeline.job →
	// pipeline.transcode and pipeline.publish, in one trace. The publication ends after the
	// video is playable, which is when reelay upload returns, and the job after it (a moment
	// later on a loaded machine): wait for both spans, which the recorder has once they end.
	var spans []sdktrace.ReadOnlySpan
	waitFor(t, "the job's pipeline.publish and pipeline.job spans", func() bool {
		spans = rec.Ended()
		return named(spans, "pipeline.publish") != nil && named(spans, "pipeline.job") != nil
	})
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	parentOf := func(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan { return byID[s.Parent().SpanID()] }
	publish := named(spans, "pipeline.publish")
	job := parentOf(publish)
	if job == nil || job.Name() != "pipeline.job" {
		t.Fatalf("pipeline.publish's parent is %v, want pipeline.job", nameOf(job))
	}
	transcode := named(spans, "pipeline.transcode")
	if transcode == nil || parentOf(transcode) != job || !hasEvent(transcode, "playable") {
		t.Errorf("pipeline.transcode %v: parent %v, want pipeline.job, with a playable event", nameOf(transcode), nameOf(parentOf(transcode)))
	}
	handover := parentOf(job)
	if handover == nil || handover.Name() != "pipeline.handover" {
		t.Fatalf("pipeline.job's parent is %v, want pipeline.handover", nameOf(handover))
	}
	patch := parentOf(handover)
	if patch == nil || patch.Name() != "api PATCH" || patch.SpanKind() != trace.SpanKindServer ||
		!strings.HasPrefix(attr(patch, "url.path"), "/v1/uploads/") || attr(patch, "http.response.status_code") != "204" {
		t.Fatalf("pipeline.handover's parent is %v (%v), want the server span of the last PATCH", nameOf(patch), attrsOf(patch))
	}
	if accept := named(spans, "pipeline.accept"); accept == nil || parentOf(accept) != patch {
		t.Errorf("pipeline.accept is not the PATCH's child")
	}
	for _, s := range []sdktrace.ReadOnlySpan{transcode, job, handover, patch} {
		if s.SpanContext().TraceID() != publish.SpanContext().TraceID() {
			t.Errorf("%s is in trace %s, the publication in %s", s.Name(), s.SpanContext().TraceID(), publish.SpanContext().TraceID())
		}
	}

	// The playback: every object of the video through edge-1, once edge-1 sees edge-2; the
	// objects edge-2 owns are filled through it.
	waitFor(t, "edge-1 to see edge-2 alive", func() bool { return aliveMembers(t, urls["edge-1"], metricsToken) == 2 })
	playback := strings.TrimSpace(r.stdout) // on edge-1, reelay up's first edge
	if !strings.HasPrefix(playback, urls["edge-1"]+"/v/") {
		t.Fatalf("playback URL %q is not on edge-1 (%s)", playback, urls["edge-1"])
	}
	// About half of the objects are edge-2's; with 15 of them or more (playlists, init and
	// media segments), that none is would be a 1 in 32,768 chance.
	objects := crawl(t, playback)
	if len(objects) < 15 {
		t.Fatalf("crawled %d objects of %s, want 15 or more", len(objects), playback)
	}
	t.Logf("crawled %d objects through edge-1", len(objects))
	// edge-1 GET → edge fill peer → edge-2 GET → edge fill origin → origin GET, in one trace.
	var chain []sdktrace.ReadOnlySpan
	waitFor(t, "an object's trace through edge-1, edge-2 and the origin", func() bool {
		spans = rec.Ended()
		byID = map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			byID[s.SpanContext().SpanID()] = s
		}
		for _, s := range spans {
			if s.Name() != "origin GET" {
				continue
			}
			chain = []sdktrace.ReadOnlySpan{s}
			for p := parentOf(s); p != nil; p = parentOf(p) {
				chain = append([]sdktrace.ReadOnlySpan{p}, chain...)
			}
			if len(chain) == 5 {
				return true
			}
		}
		return false
	})
	want := []struct{ name, edge string }{{"edge GET", "edge-1"}, {"edge fill peer", "edge-1"}, {"edge GET", "edge-2"}, {"edge fill origin", "edge-2"}, {"origin GET", ""}}
	for i, w := range want {
		s := chain[i]
		if s.Name() != w.name || attr(s, "reelay.edge") != w.edge || s.SpanContext().TraceID() != chain[0].SpanContext().TraceID() {
			t.Errorf("hop %d: %s on %q in trace %s, want %s on %q", i, s.Name(), attr(s, "reelay.edge"), s.SpanContext().TraceID(), w.name, w.edge)
		}
	}
	if chain[0].Parent().IsValid() || attr(chain[0], "reelay.peer_request") != "false" || attr(chain[2], "reelay.peer_request") != "true" {
		t.Errorf("edge-1's span has parent %v, peer_request %s; edge-2's peer_request %s", chain[0].Parent(), attr(chain[0], "reelay.peer_request"), attr(chain[2], "reelay.peer_request"))
	}
	if cs := attr(chain[0], "reelay.cache_status"); !strings.Contains(cs, "detail=peer") {
		t.Errorf("edge-1 answered Cache-Status %q, want a fill from the peer", cs)
	}
}

// TestTracingOffByDefault: without --otlp-endpoint or the OTEL_ variables, every tier gets a
// no-op provider; either of the variables turns tracing on.
func TestTracingOffByDefault(t *testing.T) {
	var f tracingFlags
	tp, flush, err := f.provider(t.Context(), &env{getenv: envOf(nil)}, "reelay", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	flush()
	if tracing.Enabled(tp) {
		t.Errorf("no endpoint: provider %T records", tp)
	}
	for _, c := range []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"", nil, ""},
		{"http://127.0.0.1:4318", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://elsewhere:4318"}, "http://127.0.0.1:4318"},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"}, "http://127.0.0.1:4318/v1/traces"},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/t"}, "http://b:4318/t"},
	} {
		f := tracingFlags{otlpEndpoint: c.flag}
		if got := f.endpoint(envOf(c.env)); got != c.want {
			t.Errorf("--otlp-endpoint %q, env %v: endpoint %q, want %q", c.flag, c.env, got, c.want)
		}
	}
}

// TestTracingProviderExports: with --otlp-endpoint, the provider records, and its flush sends
// what it recorded to the receiver's /v1/traces.
func TestTracingProviderExports(t *testing.T) {
	var posts atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer receiver.Close()
	f := tracingFlags{otlpEndpoint: receiver.URL}
	if err := f.validate(); err != nil {
		t.Fatal(err)
	}
	tp, flush, err := f.provider(t.Context(), &env{getenv: envOf(nil)}, "reelay-test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !tracing.Enabled(tp) {
		t.Fatalf("--otlp-endpoint %s: provider %T does not record", receiver.URL, tp)
	}
	_, span := tracing.Tracer(tp, "test").Start(t.Context(), "one")
	span.End()
	flush()
	if posts.Load() == 0 {
		t.Error("nothing reached the receiver after the flush")
	}
	if err := (&tracingFlags{otlpEndpoint: "127.0.0.1:4318"}).validate(); err == nil {
		t.Error("--otlp-endpoint without a scheme was taken")
	}
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func named(spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

func nameOf(s sdktrace.ReadOnlySpan) string {
	if s == nil {
		return "nothing"
	}
	return s.Name()
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func attrsOf(s sdktrace.ReadOnlySpan) []attribute.KeyValue {
	if s == nil {
		return nil
	}
	return s.Attributes()
}

func hasEvent(s sdktrace.ReadOnlySpan, name string) bool {
	for _, e := range s.Events() {
		if e.Name == name {
			return true
		}
	}
	return false
}

// aliveMembers is how many members the edge at base sees alive.
func aliveMembers(t *testing.T, base, token string) int {
	req, _ := http.NewRequest("GET", base+"/_edge/stats", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct{ Members []struct{ State string } }
	json.NewDecoder(resp.Body).Decode(&stats)
	n := 0
	for _, m := range stats.Members {
		if m.State == "alive" {
			n++
		}
	}
	return n
}

var uriAttr = regexp.MustCompile(`URI="([^"]+)"`)

// crawl GETs the presentation at master, a multivariant playlist, and every playlist and
// segment it names, and returns their URLs.
func crawl(t *testing.T, master string) []string {
	t.Helper()
	seen := map[string]bool{}
	queue := []string{master}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if seen[u] {
			continue
		}
		seen[u] = true
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		if !strings.HasSuffix(strings.SplitN(u, "?", 2)[0], ".m3u8") {
			continue
		}
		base, _ := url.Parse(u)
		for line := range strings.SplitSeq(string(body), "\n") {
			line = strings.TrimSpace(line)
			var refs []string
			switch {
			case line == "":
			case strings.HasPrefix(line, "#"):
				for _, m := range uriAttr.FindAllStringSubmatch(line, -1) {
					refs = append(refs, m[1])
				}
			default:
				refs = append(refs, line)
			}
			for _, ref := range refs {
				if r, err := base.Parse(ref); err == nil {
					queue = append(queue, r.String())
				}
			}
		}
	}
	return slices.Collect(maps.Keys(seen))
}
