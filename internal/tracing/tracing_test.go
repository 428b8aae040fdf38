package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/otel/trace"
)

// receiver is an OTLP/HTTP trace receiver on loopback that keeps what it is sent.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
	spans []string // "service/span name"
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var msg coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &msg); err != nil {
			t.Errorf("receiver: %s %s: %v", req.Method, req.URL.Path, err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.paths = append(r.paths, req.Method+" "+req.URL.Path+" "+req.Header.Get("Content-Type"))
		for _, rs := range msg.ResourceSpans {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans = append(r.spans, service+"/"+s.Name)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() (paths, spans []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...), append([]string(nil), r.spans...)
}

// TestOffExportsNothing: with no endpoint, New gives a no-op provider whose spans record
// nothing and reach no receiver, even one the OTEL_ variables name (reading them is the
// command's choice, not New's).
func TestOffExportsNothing(t *testing.T) {
	r := newReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", r.URL+TracesPath)
	tp, shutdown, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if Enabled(tp) {
		t.Errorf("New(no endpoint) = %T, which records", tp)
	}
	ctx, span := Tracer(tp, "test").Start(t.Context(), "nothing")
	if span.IsRecording() || span.SpanContext().IsValid() || TraceParent(ctx) != "" {
		t.Errorf("a span of the provider that is off records: %v, %q", span.SpanContext(), TraceParent(ctx))
	}
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if paths, _ := r.got(); len(paths) != 0 {
		t.Errorf("tracing off sent %v", paths)
	}
	if Enabled(nil) {
		t.Error("Enabled(nil)")
	}
}

// TestExportsOverOTLPHTTP: with an endpoint, the spans reach the receiver as OTLP protobuf at
// /v1/traces, named by service, by the time shutdown returns.
func TestExportsOverOTLPHTTP(t *testing.T) {
	r := newReceiver(t)
	tp, shutdown, err := New(t.Context(), Config{Endpoint: r.URL, Service: "reelay-test"})
	if err != nil {
		t.Fatal(err)
	}
	if !Enabled(tp) {
		t.Fatalf("New(endpoint) = %T, which does not record", tp)
	}
	tr := Tracer(tp, "test")
	ctx, parent := tr.Start(t.Context(), "parent")
	_, child := tr.Start(ctx, "child")
	if child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Error("the child is in another trace")
	}
	child.End()
	parent.End()
	sctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	paths, spans := r.got()
	if len(paths) == 0 || paths[0] != "POST /v1/traces application/x-protobuf" {
		t.Errorf("requests %v, want POST /v1/traces of protobuf", paths)
	}
	if strings.Join(spans, ",") != "reelay-test/child,reelay-test/parent" {
		t.Errorf("spans received %v", spans)
	}
}

func TestTraceParentRoundTrip(t *testing.T) {
	tr := Tracer(nil, "test") // no-op: starts nothing
	if _, span := tr.Start(t.Context(), "x"); span.IsRecording() {
		t.Error("Tracer(nil) records")
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := WithTraceParent(t.Context(), tp)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("WithTraceParent(%s) = %v", tp, sc)
	}
	if got := TraceParent(ctx); got != tp {
		t.Errorf("TraceParent = %q, want %q", got, tp)
	}
	for _, bad := range []string{"", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"} {
		if sc := trace.SpanContextFromContext(WithTraceParent(t.Context(), bad)); sc.IsValid() {
			t.Errorf("WithTraceParent(%q) = %v, want none", bad, sc)
		}
	}
}

var tracesURLCases = []struct{ in, want string }{
	{"http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"},
	{"http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"},
	{"https://otel.example.com/custom/traces", "https://otel.example.com/custom/traces"},
	{"127.0.0.1:4318", ""},
	{"ftp://host/x", ""},
	{"http://", ""},
	{"", ""},
}

func TestTracesURL(t *testing.T) {
	for _, c := range tracesURLCases {
		got, err := TracesURL(c.in)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("TracesURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// FuzzTracesURL: an endpoint is refused, or becomes an http(s) URL with a host and a path.
func FuzzTracesURL(f *testing.F) {
	for _, c := range tracesURLCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := TracesURL(in)
		if err != nil {
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path == "" {
			t.Fatalf("TracesURL(%q) = %q", in, got)
		}
	})
}
