package apierr

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

type creds struct {
	Handle   string `json:"handle"`
	Password string `json:"password"`
}

var decodeCases = []struct {
	name, ctype, body string
	status            int // 0: accepted
}{
	{"ok", "application/json", `{"handle":"ann","password":"pw"}`, 0},
	{"ok charset", "application/json; charset=utf-8", `{"handle":"ann"}`, 0},
	{"ok no content type", "", `{"handle":"ann"}`, 0},
	{"ok trailing space", "application/json", "{\"handle\":\"ann\"}\n  ", 0},
	{"empty", "application/json", ``, 400},
	{"malformed", "application/json", `{"handle":`, 400},
	{"wrong type", "application/json", `{"handle":5}`, 400},
	{"unknown field", "application/json", `{"handle":"a","admin":true}`, 400},
	{"two values", "application/json", `{"handle":"a"}{"handle":"b"}`, 400},
	{"trailing garbage", "application/json", `{"handle":"a"} x`, 400},
	{"form", "application/x-www-form-urlencoded", `handle=a`, 415},
	{"bad content type", "application/", `{}`, 415},
	{"too large", "application/json", `{"handle":"` + strings.Repeat("a", 200) + `"}`, 413},
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			var v creds
			err := DecodeJSON(r, &v, 128)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				if v.Handle != "ann" {
					t.Fatalf("handle = %q", v.Handle)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tc.status {
				t.Fatalf("err = %v, want status %d", err, tc.status)
			}
		})
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		var v creds
		err := DecodeJSON(r, &v, 128)
		if err == nil {
			if len(body) > 128 {
				t.Fatalf("accepted a %d-byte body over the limit", len(body))
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 {
			t.Fatalf("err = %v, want a 4xx *Error", err)
		}
	})
}

var mapCases = []struct {
	err    error
	status int
	code   string
}{
	{New(http.StatusConflict, "handle_taken", "taken"), 409, "handle_taken"},
	{errors.Join(errors.New("ctx"), New(404, "not_found", "no such thing")), 404, "not_found"},
	{errors.New("disk on fire"), 500, "internal"},
}

func TestHandlerMapsErrors(t *testing.T) {
	for _, tc := range mapCases {
		h := Handler(nil, func(w http.ResponseWriter, r *http.Request) error { return tc.err })
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, rec.Code, tc.status)
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
			t.Errorf("%v: body %s", tc.err, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "disk on fire") {
			t.Errorf("internal error leaked: %s", rec.Body)
		}
	}
}

// TestWriteCtxMatchesWrite checks that the fasthttp adapter answers every error exactly as the
// net/http one does: status, headers and body.
func TestWriteCtxMatchesWrite(t *testing.T) {
	for _, tc := range mapCases {
		rec := httptest.NewRecorder()
		Write(rec, httptest.NewRequest("GET", "/x", nil), nil, tc.err)
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/x")
		WriteCtx(&ctx, nil, tc.err)
		resp := &ctx.Response
		if resp.StatusCode() != rec.Code || string(resp.Body()) != rec.Body.String() ||
			string(resp.Header.ContentType()) != rec.Header().Get("Content-Type") ||
			string(resp.Header.Peek("X-Content-Type-Options")) != "nosniff" {
			t.Errorf("%v: fasthttp %d %q %q, net/http %d %q %q", tc.err, resp.StatusCode(), resp.Header.ContentType(), resp.Body(),
				rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}
