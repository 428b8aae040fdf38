package feed

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/reelay/reelay/internal/apierr"
)

// List is the JSON of every list the API answers: a page of items, and the cursor of the next
// page, empty on the last one.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// Page sizes: the limit parameter's default and bound.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

var (
	errBadCursor = apierr.New(http.StatusBadRequest, "bad_cursor", "the cursor is not one this API gave")
	errBadLimit  = apierr.New(http.StatusBadRequest, "bad_limit", "limit must be a whole number from 1 to "+strconv.Itoa(MaxLimit))
)

// maxCursor bounds an encoded cursor, the For You visitor's list of seen videos included.
const maxCursor = 8 << 10

// encodeCursor returns the opaque cursor holding v, a struct of the list's position.
func encodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("feed: cursor: " + err.Error()) // a programming error: cursors are plain structs
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads the cursor s into v, a pointer to the struct encodeCursor was given. An
// empty s leaves v alone (the first page). Anything that encodeCursor could not have written
// is errBadCursor; callers check the values themselves.
func decodeCursor(s string, v any) error {
	if s == "" {
		return nil
	}
	if len(s) > maxCursor {
		return errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return errBadCursor
	}
	return nil
}

// pageParams returns the request's cursor parameter decoded into v, and its limit (default
// DefaultLimit, at most MaxLimit).
func pageParams(r *http.Request, v any) (limit int, err error) {
	q := r.URL.Query()
	limit = DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return 0, errBadLimit
		}
		limit = n
	}
	return limit, decodeCursor(q.Get("cursor"), v)
}
