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
	Device   *struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	} `json:"device"`
	Extra []map[string]any `json:"extra"`
}

var decodeCases = []struct {
	name, ctype, body string
	status            int    // 0: accepted
	message           string // of a refusal, when it matters
}{
	{"ok", "application/json", `{"handle":"ann","password":"pw"}`, 0, ""},
	{"ok charset", "application/json; charset=utf-8", `{"handle":"ann"}`, 0, ""},
	{"ok no content type", "", `{"handle":"ann"}`, 0, ""},
	{"ok trailing space", "application/json", "{\"handle\":\"ann\"}\n  ", 0, ""},
	{"empty", "application/json", ``, 400, ""},
	{"malformed", "application/json", `{"handle":`, 400, ""},
	{"wrong type", "application/json", `{"handle":5}`, 400, ""},
	{"unknown field", "application/json", `{"handle":"a","admin":true}`, 400, ""},
	{"two values", "application/json", `{"handle":"a"}{"handle":"b"}`, 400, ""},
	{"trailing garbage", "application/json", `{"handle":"a"} x`, 400, ""},
	{"form", "application/x-www-form-urlencoded", `handle=a`, 415, ""},
	{"bad content type", "application/", `{}`, 415, ""},
	{"too large", "application/json", `{"handle":"` + strings.Repeat("a", 200) + `"}`, 413, ""},
	{"ok nested", "application/json", `{"handle":"ann","device":{"name":"a","tags":["x","x"]},"extra":[{"a":1},{"a":{"b":2,"c":{}}}]}`, 0, ""},
	{"ok same key in sibling objects", "application/json", `{"handle":"ann","extra":[{"k":1},{"k":2}],"device":{"name":"k"}}`, 0, ""},
	{"duplicate key", "application/json", `{"handle":"ann","handle":"bob"}`, 400, `duplicate key "handle"`},
	{"duplicate key, other case", "application/json", `{"handle":"ann","HANDLE":"bob"}`, 400, `duplicate key "HANDLE"`},
	{"duplicate key in a nested object", "application/json", `{"handle":"ann","device":{"name":"a","name":"b"}}`, 400, `duplicate key "name"`},
	{"duplicate key in an array's object", "application/json", `{"handle":"ann","extra":[{},{"a":1,"b":{"c":1},"a":2}]}`, 400, `duplicate key "a"`},
	{"duplicate key deep in a map", "application/json", `{"handle":"ann","extra":[{"a":{"b":[{"c":1,"c":1}]}}]}`, 400, `duplicate key "c"`},
	{"duplicate key after a nested value", "application/json", `{"device":{"name":"a"},"handle":"ann","device":null}`, 400, `duplicate key "device"`},
	{"keys in a map differ in case only", "application/json", `{"handle":"ann","extra":[{"a":1,"A":2}]}`, 400, `duplicate key "A"`},
	{"duplicate escaped key", "application/json", `{"handle":"ann","h\u0061ndle":"bob"}`, 400, `duplicate key "handle"`},
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
			if !errors.As(err, &e) || e.Status != tc.status || (tc.message != "" && e.Message != tc.message) {
				t.Fatalf("err = %v, want status %d %s", err, tc.status, tc.message)
			}
		})
	}
}

// FuzzDecodeJSON checks that DecodeJSON accepts a body only within the limit and refuses
// anything else with a 4xx, and that it refuses a body exactly when one of its objects repeats
// a key: decoded into an interface value, every key of the body (each one ':' outside the
// strings) must have its own map entry, under a case-folded name of its own.
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
		} else {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 {
				t.Fatalf("err = %v, want a 4xx *Error", err)
			}
		}

		var plain any
		if json.Unmarshal([]byte(body), &plain) != nil {
			return // not JSON: the case of the checks above
		}
		unique := countKeys(body) == mapEntries(plain) && !foldedTwice(plain)
		var got any
		err = UnmarshalJSON([]byte(body), &got)
		if unique != (err == nil) {
			t.Fatalf("UnmarshalJSON(%q) = %v; unique keys: %v", body, err, unique)
		}
	})
}

// countKeys counts the object keys of the JSON text s: the colons outside strings.
func countKeys(s string) int {
	n, inString := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == ':':
			n++
		}
	}
	return n
}

// mapEntries counts the entries of every map in v, a decoded JSON value.
func mapEntries(v any) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			n += 1 + mapEntries(e)
		}
	case []any:
		for _, e := range v {
			n += mapEntries(e)
		}
	}
	return n
}

// foldedTwice reports whether a map in v has two keys that differ only in case, as
// encoding/json folds it (upper case of lower case).
func foldedTwice(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		seen := map[string]bool{}
		for k, e := range v {
			f := strings.ToUpper(strings.ToLower(k))
			if seen[f] || foldedTwice(e) {
				return true
			}
			seen[f] = true
		}
	case []any:
		for _, e := range v {
			if foldedTwice(e) {
				return true
			}
		}
	}
	return false
}

// TestDecodeJSONMaxBytesReader checks that a body cut by http.MaxBytesReader is too large,
// not malformed.
func TestDecodeJSONMaxBytesReader(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"handle":"ann"}`))
	r.Body = http.MaxBytesReader(rec, r.Body, 5)
	var v creds
	var e *Error
	if err := DecodeJSON(r, &v, 0); !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("err = %v, want 413", err)
	}
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
