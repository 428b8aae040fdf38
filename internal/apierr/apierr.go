// Package apierr is the one error shape of reelay's JSON APIs: an HTTP status and a body
// {"error":{"code","message"}}. Handlers return errors; the mapping to a response happens in
// one place, answer, which Write (net/http) and WriteCtx (fasthttp) adapt to their servers.
package apierr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"unicode"
)

// Error is an error with the HTTP status and machine-readable code it is reported with.
type Error struct {
	Status  int    // HTTP status
	Code    string // stable, machine-readable, snake_case
	Message string // for people; never leaks internals
	Err     error  // optional cause, logged but not sent
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with the given status, code and message.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Errorf is New with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return New(status, code, fmt.Sprintf(format, args...))
}

// HandlerFunc is an http.HandlerFunc that returns an error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler adapts h to an http.Handler: a returned *Error is written as its status and JSON
// body; any other error is logged and answered 500 internal.
func Handler(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			Write(w, r, log, err)
		}
	})
}

// From returns err as an *Error: the one it is or wraps, or else 500 internal, which hides
// err from the client.
func From(err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal server error", Err: err}
	}
	return e
}

// body is the JSON body of an error answer.
type body struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// answer returns the status and body that answer err, and logs err to log (when not nil) if it
// is a server error; client errors are not logged.
func answer(log *slog.Logger, method, path string, err error) (int, body) {
	e := From(err)
	if e.Status >= 500 && log != nil {
		log.Error("request failed", "method", method, "path", path, "err", err)
	}
	var b body
	b.Error.Code, b.Error.Message = e.Code, e.Message
	return e.Status, b
}

// Write answers r with err. Server errors are logged; client errors are not.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, b := answer(log, r.Method, r.URL.Path, err)
	WriteJSON(w, status, b)
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DefaultMaxBody is the body size DecodeJSON accepts when given a limit of 0.
const DefaultMaxBody = 64 << 10

// DecodeJSON reads r's body as exactly one JSON value into v. It refuses a non-JSON content
// type (415), a body over maxBytes (413), and what UnmarshalJSON refuses (400).
func DecodeJSON(r *http.Request, v any, maxBytes int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return New(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
		}
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBody
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	var tooLarge *http.MaxBytesError
	if int64(len(b)) > maxBytes || errors.As(err, &tooLarge) {
		return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than %d bytes", maxBytes)
	}
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: "the body could not be read", Err: err}
	}
	return UnmarshalJSON(b, v)
}

// UnmarshalJSON decodes b, which must hold exactly one JSON value, into v. It refuses with
// 400 invalid_json: malformed JSON, a value of the wrong type, a key that v has no field for,
// anything after the value, and a key that appears twice in one object, at any depth. Keys
// are compared as encoding/json matches them to struct fields, without regard to case, so
// {"handle":"a","Handle":"b"} is refused too: otherwise the last would silently win, and
// whatever looked at the body before (a proxy, a log) might have seen the first.
func UnmarshalJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badJSON(err)
	}
	// Nothing may follow the value; dec.More alone would take a stray "]" or "}" for an end.
	if _, err := dec.Token(); err != io.EOF {
		return New(http.StatusBadRequest, "invalid_json", "the body must hold exactly one JSON value")
	}
	if key, ok := duplicateKey(b); ok {
		if len(key) > 64 {
			key = key[:64] + "..."
		}
		return Errorf(http.StatusBadRequest, "invalid_json", "duplicate key %q", key)
	}
	return nil
}

// duplicateKey returns the first key of b, well-formed JSON, that repeats a key of the same
// object (compared by foldKey).
func duplicateKey(b []byte) (string, bool) {
	type level struct {
		keys    map[string]struct{} // nil in an array
		wantKey bool                // in an object, where the next token is a key or its end
	}
	var stack []level
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // no number is converted, so none can fail to convert
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false // io.EOF: the end of the value, which Decode has checked
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			if key, ok := tok.(string); ok {
				f := foldKey(key)
				if _, dup := stack[n-1].keys[f]; dup {
					return key, true
				}
				stack[n-1].keys[f] = struct{}{}
				stack[n-1].wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{keys: map[string]struct{}{}, wantKey: true})
			continue // a value is under way in the enclosing object
		case json.Delim('['):
			stack = append(stack, level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value has ended: in an object, a key comes next.
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
}

// foldKey is key as encoding/json compares it with a field's name: every rune mapped to the
// upper case of its lower case.
func foldKey(key string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, key)
}

func badJSON(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return New(http.StatusBadRequest, "invalid_json", "the body is empty")
	case errors.As(err, &syn):
		return Errorf(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return Errorf(http.StatusBadRequest, "invalid_json", "field %q must be %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errorf(http.StatusBadRequest, "invalid_json", "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return New(http.StatusBadRequest, "invalid_json", "malformed JSON")
	}
}
