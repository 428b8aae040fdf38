// Package apierr is the one error shape of reelay's JSON APIs: an HTTP status and a body
// {"error":{"code","message"}}. Handlers return errors; the mapping to a response happens in
// one place, answer, which Write (net/http) and WriteCtx (fasthttp) adapt to their servers.
package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
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
// type (415), a body over maxBytes (413), unknown fields, malformed JSON and trailing data (400).
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
	return decode(io.LimitReader(r.Body, maxBytes+1), v, maxBytes)
}

func decode(body io.Reader, v any, maxBytes int64) error {
	lr := &countingReader{r: body}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if lr.n > maxBytes {
		return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than %d bytes", maxBytes)
	}
	if err != nil {
		return badJSON(err)
	}
	if dec.More() {
		return New(http.StatusBadRequest, "invalid_json", "the body must hold exactly one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return New(http.StatusBadRequest, "invalid_json", "the body must hold exactly one JSON value")
	}
	return nil
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

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
