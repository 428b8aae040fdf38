package feed

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/reelay/reelay/internal/openapitest"
	"github.com/reelay/reelay/internal/videoid"
)

// openAPI is the validator of openapi.json, loaded once for all the tests.
var openAPI = sync.OnceValues(func() (*openapitest.Validator, error) { return openapitest.New(openAPIDoc) })

// checkOpenAPI fails t unless the exchange of req (whose body was body) and resp (whose body
// was b) agrees with openapi.json: see openapitest.Validator.Check. client.send calls it for
// every request of the API tests. It may be called from any goroutine.
func checkOpenAPI(t *testing.T, req *http.Request, body string, resp *http.Response, b []byte) {
	v, err := openAPI()
	if err != nil {
		t.Errorf("openapi.json: %v", err)
		return
	}
	if err := v.Check(req, []byte(body), resp.StatusCode, resp.Header, b); err != nil {
		t.Errorf("OpenAPI: %v", err)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	v, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Doc().OpenAPI; got != "3.1.0" {
		t.Errorf("openapi: %q, want 3.1.0", got)
	}
	var plain map[string]any // what a generator reads, without the loader's help
	if err := json.Unmarshal(openAPIDoc, &plain); err != nil {
		t.Fatal(err)
	}
	// Every path of the Routes table is described, built yet or not.
	ops := v.Operations()
	for _, op := range []string{
		"GET /v1/users/{handle}", "PATCH /v1/me", "PUT /v1/me/avatar", "DELETE /v1/me/avatar", "GET /v1/avatars/{file}",
		"GET /v1/users/{handle}/videos", "GET /v1/users/{handle}/followers", "GET /v1/users/{handle}/following",
		"PATCH /v1/videos/{id}", "DELETE /v1/videos/{id}",
		"PUT /v1/users/{handle}/follow", "DELETE /v1/users/{handle}/follow",
		"PUT /v1/users/{handle}/block", "DELETE /v1/users/{handle}/block",
		"PUT /v1/videos/{id}/like", "DELETE /v1/videos/{id}/like",
		"POST /v1/videos/{id}/comments", "GET /v1/videos/{id}/comments", "DELETE /v1/comments/{id}",
		"POST /v1/videos/{id}/shares", "POST /v1/videos/{id}/reports",
		"GET /v1/admin/reports", "POST /v1/admin/reports/{id}/resolve",
		"GET /v1/feed/following", "GET /v1/feed/foryou", "POST /v1/events", "GET /v1/search",
		"GET /v1/openapi.json",
	} {
		if !slices.Contains(ops, op) {
			t.Errorf("%s is not in openapi.json", op)
		}
	}
	// Each operation has an id (clients' method names), and describes the 401 of an invalid
	// token (auth's middleware answers it on every route) and the server's errors.
	for path, item := range v.Doc().Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			for _, status := range []string{"401", "5XX"} {
				if op.Responses.Value(status) == nil {
					t.Errorf("%s %s does not describe its %s answers", method, path, status)
				}
			}
		}
	}
}

// TestOpenAPIRoutes checks that every route Handler registers is in openapi.json, with its
// method. Operations of the document that are not served are only logged: the API grows into
// the document.
func TestOpenAPIRoutes(t *testing.T) {
	v, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	ops := v.Operations()
	forEachService(t, Config{}, func(t *testing.T, s *Service, _ *client) {
		mux, ok := s.Handler().(*routes)
		if !ok {
			t.Fatal("Handler does not return its *routes: the test cannot see them")
		}
		served := map[string]bool{}
		for _, p := range mux.patterns {
			method, path, ok := strings.Cut(p, " ")
			if !ok || strings.Contains(method, "/") {
				t.Errorf("route %q has no method: each route is one method's", p)
				continue
			}
			op := method + " " + strings.ReplaceAll(path, "...}", "}")
			served[op] = true
			if !slices.Contains(ops, op) {
				t.Errorf("route %q is not in openapi.json", p)
			}
		}
		if len(served) < 6 {
			t.Errorf("only %d routes seen: %v", len(served), mux.patterns)
		}
		for _, op := range ops {
			if !served[op] {
				t.Logf("described, not served (yet): %s", op)
			}
		}
	})
}

func TestOpenAPIServed(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, api *client) {
		r := api.do("GET", "/v1/openapi.json", "", "")
		etag := r.header.Get("ETag")
		if r.status != 200 || r.body["openapi"] != "3.1.0" || etag == "" || r.header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("GET /v1/openapi.json: %d %v, headers %v", r.status, r.body["openapi"], r.header)
		}
		// Byte for byte the embedded document, whatever token comes with the request.
		for _, token := range []string{"", "admin-token-for-tests"} {
			req, _ := http.NewRequest("GET", api.base+"/v1/openapi.json", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(b, openAPIDoc) || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("token %q: %d bytes of %s, want the %d of openapi.json", token, len(b), resp.Header.Get("Content-Type"), len(openAPIDoc))
			}
		}
		for _, tc := range []struct {
			header, value string
			status        int
		}{
			{"If-None-Match", etag, 304},
			{"If-None-Match", `W/` + etag + `, "other"`, 304},
			{"If-None-Match", `"other"`, 200},
			{"If-Match", `"other"`, 412},
		} {
			req, _ := http.NewRequest("GET", api.base+"/v1/openapi.json", nil)
			req.Header.Set(tc.header, tc.value)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkOpenAPI(t, req, "", resp, b)
			if resp.StatusCode != tc.status || resp.Header.Get("ETag") != etag {
				t.Errorf("%s: %s: %d (ETag %s), want %d", tc.header, tc.value, resp.StatusCode, resp.Header.Get("ETag"), tc.status)
			}
		}
	})
}

// TestOpenAPICheck shows that the validator the API tests go through refuses what disagrees
// with the document: without it, a test that passes could hide drift.
func TestOpenAPICheck(t *testing.T) {
	v, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	id := videoid.New()
	video := `{"id":"` + id + `","creator":{"handle":"ann","display_name":"","avatar_url":""},"counts":{"views":0,"likes":0,"comments":0,"shares":0},"liked":false,"following":false,"status":"ready","progress":100,"playable":true,"error":null,
		"caption":"","hashtags":[],"visibility":"public","duration_ms":1,"width":2,"height":3,"renditions":[],
		"playback_url":"","poster_url":"","created_at":"2026-01-02T03:04:05.678Z"}`
	user := `{"id":1,"handle":"ann","created_at":"2026-01-02T03:04:05Z"}`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		respBody                 string
		ok                       bool
	}{
		{"a video", "GET", "/v1/videos/" + id, "", 200, video, true},
		{"a failed video", "GET", "/v1/videos/" + id, "", 200, strings.Replace(video, `"error":null`, `"error":{"code":"x","message":"y"}`, 1), true},
		{"a video, creator as a bare handle", "GET", "/v1/videos/" + id, "", 200, strings.Replace(video, `"creator":{"handle":"ann","display_name":"","avatar_url":""}`, `"creator":"ann"`, 1), false},
		{"a video without its counts", "GET", "/v1/videos/" + id, "", 200, strings.Replace(video, `"counts":{"views":0,"likes":0,"comments":0,"shares":0},`, "", 1), false},
		{"a video without its status", "GET", "/v1/videos/" + id, "", 200, strings.Replace(video, `"status":"ready",`, "", 1), false},
		{"a video with a field undescribed", "GET", "/v1/videos/" + id, "", 200, strings.Replace(video, `"caption"`, `"secret":1,"caption"`, 1), false},
		{"a video of an unknown status", "GET", "/v1/videos/" + id, "", 200, strings.Replace(video, `"ready"`, `"bogus"`, 1), false},
		{"a not found", "GET", "/v1/videos/" + id, "", 404, `{"error":{"code":"not_found","message":"no such video"}}`, true},
		{"an error of another shape", "GET", "/v1/videos/" + id, "", 404, `{"message":"no such video"}`, false},
		{"a status undescribed", "GET", "/v1/videos/" + id, "", 418, `{"error":{"code":"teapot","message":"no"}}`, false},
		{"a route undescribed", "GET", "/v1/nothing", "", 200, `{}`, false},
		{"a method undescribed", "PUT", "/v1/me", "", 200, user, false},
		{"a registration", "POST", "/v1/users", `{"handle":"ann","password":"correct horse"}`, 201, user, true},
		{"a bad registration refused", "POST", "/v1/users", `{"handle":"ann","password":"correct horse","admin":true}`, 400,
			`{"error":{"code":"invalid_json","message":"unknown field"}}`, true},
		{"a bad registration accepted", "POST", "/v1/users", `{"handle":"ann","password":"correct horse","admin":true}`, 201, user, false},
		{"a page of a feed", "GET", "/v1/feed/foryou?limit=5", "", 200, `{"items":[],"next_cursor":""}`, true},
		{"a page without its cursor", "GET", "/v1/feed/foryou", "", 200, `{"items":[]}`, false},
		{"a limit out of bounds accepted", "GET", "/v1/feed/foryou?limit=500", "", 200, `{"items":[],"next_cursor":""}`, false},
		{"a limit out of bounds refused", "GET", "/v1/feed/foryou?limit=500", "", 400, `{"error":{"code":"bad_limit","message":"no"}}`, true},
		{"an event batch", "POST", "/v1/events", `{"events":[{"video":"` + id + `","type":"play","watch_ms":10,"position":0,"at":"2026-01-02T03:04:05Z"}]}`, 202, `{"accepted":1}`, true},
		{"an event of an unknown type accepted", "POST", "/v1/events", `{"events":[{"video":"` + id + `","type":"stare"}]}`, 202, `{"accepted":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://api.test"+tc.path, nil)
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			header := http.Header{}
			if tc.respBody != "" {
				header.Set("Content-Type", "application/json")
			}
			err := v.Check(req, []byte(tc.body), tc.status, header, []byte(tc.respBody))
			if (err == nil) != tc.ok {
				t.Errorf("Check: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
