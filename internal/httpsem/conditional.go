package httpsem

import (
	"net/http"
	"strings"
	"time"
)

// Conditions are the conditional request headers of a GET or HEAD (RFC 9110 §13), as received;
// an empty field is an absent header. They carry no HTTP library's types, so that the net/http
// origin and the fasthttp edge share the evaluation.
type Conditions struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   string
	IfUnmodifiedSince string
	IfRange           string
}

// ConditionsFrom reads the conditional headers of a net/http request.
func ConditionsFrom(h http.Header) Conditions {
	return Conditions{
		IfMatch:           h.Get("If-Match"),
		IfNoneMatch:       h.Get("If-None-Match"),
		IfModifiedSince:   h.Get("If-Modified-Since"),
		IfUnmodifiedSince: h.Get("If-Unmodified-Since"),
		IfRange:           h.Get("If-Range"),
	}
}

// Evaluate applies the preconditions, in the order of RFC 9110 §13.2.2, to a GET or HEAD of a
// representation that exists and has the given ETag (quoted, "" if none) and modification time
// (zero if unknown). It returns 0 to serve the representation, http.StatusNotModified (304) or
// http.StatusPreconditionFailed (412). If-Range is not a precondition: see RangeApplies.
//
// If-Match uses the strong comparison and If-None-Match the weak one; both accept "*" and lists.
// If-Unmodified-Since and If-Modified-Since count only when the matching ETag header is absent,
// are compared at the one-second resolution of HTTP dates, and are ignored when the date is not
// valid or the modification time is unknown.
func (c Conditions) Evaluate(etag string, modTime time.Time) int {
	if c.IfMatch != "" {
		if !matchList(c.IfMatch, etag, false) {
			return http.StatusPreconditionFailed
		}
	} else if t, ok := parseDate(c.IfUnmodifiedSince); ok && !modTime.IsZero() && modTime.Truncate(time.Second).After(t) {
		return http.StatusPreconditionFailed
	}
	if c.IfNoneMatch != "" {
		if matchList(c.IfNoneMatch, etag, true) {
			return http.StatusNotModified
		}
	} else if t, ok := parseDate(c.IfModifiedSince); ok && !modTime.IsZero() && !modTime.Truncate(time.Second).After(t) {
		return http.StatusNotModified
	}
	return 0
}

// RangeApplies reports whether a Range header may be honoured under If-Range (RFC 9110 §13.1.5):
// always without If-Range; with an entity tag, only if it strongly matches etag; with a date, only
// if it equals modTime to the second. Otherwise the whole representation is served with 200.
func (c Conditions) RangeApplies(etag string, modTime time.Time) bool {
	v := strings.TrimSpace(c.IfRange)
	switch {
	case v == "":
		return true
	case strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/"):
		tag, rest := scanETag(v)
		return tag != "" && strings.TrimSpace(rest) == "" && strongMatch(tag, etag)
	default:
		t, ok := parseDate(v)
		return ok && !modTime.IsZero() && modTime.Truncate(time.Second).Equal(t)
	}
}

// parseDate parses an HTTP-date in any of the three formats that RFC 9110 makes recipients accept.
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}

// matchList reports whether a list of entity tags (an If-Match or If-None-Match value) matches
// etag, by weak or strong comparison. "*" matches any existing representation. A malformed list
// matches nothing.
func matchList(list, etag string, weak bool) bool {
	list = strings.TrimSpace(list)
	if list == "*" {
		return true
	}
	for list != "" {
		list = strings.TrimLeft(list, " \t")
		if list == "" {
			break
		}
		if list[0] == ',' {
			list = list[1:]
			continue
		}
		tag, rest := scanETag(list)
		if tag == "" {
			return false
		}
		if weak && weakMatch(tag, etag) || !weak && strongMatch(tag, etag) {
			return true
		}
		list = rest
	}
	return false
}

// scanETag reads one entity tag (`"xyz"` or `W/"xyz"`) at the start of s and returns it and the
// rest of s; tag is "" if s does not start with one.
func scanETag(s string) (tag, rest string) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) <= start || s[start] != '"' {
		return "", s
	}
	for i := start + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], s[i+1:]
		case c == 0x21 || 0x23 <= c && c <= 0x7e || c >= 0x80: // etagc
		default:
			return "", s
		}
	}
	return "", s
}

// strongMatch is the strong comparison: both tags strong and equal.
func strongMatch(a, b string) bool {
	return a != "" && a == b && !strings.HasPrefix(a, "W/")
}

// weakMatch is the weak comparison: equal once any W/ prefix is dropped.
func weakMatch(a, b string) bool {
	a, b = strings.TrimPrefix(a, "W/"), strings.TrimPrefix(b, "W/")
	return a != "" && a == b
}
