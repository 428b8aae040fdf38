package httpsem

import (
	"net/http"
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	const etag = `"abc"`
	mod := time.Date(2025, 3, 1, 12, 0, 0, 500_000_000, time.UTC) // sub-second part is not in HTTP dates
	at := func(d time.Duration) string { return mod.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		name string
		c    Conditions
		etag string
		mod  time.Time
		want int
	}{
		{"none", Conditions{}, etag, mod, 0},
		{"inm match", Conditions{IfNoneMatch: `"abc"`}, etag, mod, 304},
		{"inm other", Conditions{IfNoneMatch: `"abd"`}, etag, mod, 0},
		{"inm weak tag", Conditions{IfNoneMatch: `W/"abc"`}, etag, mod, 304},
		{"inm weak etag", Conditions{IfNoneMatch: `"abc"`}, `W/"abc"`, mod, 304},
		{"inm list", Conditions{IfNoneMatch: `"x", W/"y",W/"abc" , "z"`}, etag, mod, 304},
		{"inm list miss", Conditions{IfNoneMatch: `"x", W/"y"`}, etag, mod, 0},
		{"inm star", Conditions{IfNoneMatch: `*`}, etag, mod, 304},
		{"inm star without etag", Conditions{IfNoneMatch: ` * `}, "", mod, 304},
		{"inm comma inside tag", Conditions{IfNoneMatch: `"a,b"`}, `"a,b"`, mod, 304},
		{"inm unquoted", Conditions{IfNoneMatch: `abc`}, etag, mod, 0},
		{"inm malformed list", Conditions{IfNoneMatch: `"x" junk, "abc"`}, etag, mod, 0},
		{"inm no etag", Conditions{IfNoneMatch: `"abc"`}, "", mod, 0},
		{"ims equal", Conditions{IfModifiedSince: at(0)}, etag, mod, 304},
		{"ims later", Conditions{IfModifiedSince: at(time.Hour)}, etag, mod, 304},
		{"ims earlier", Conditions{IfModifiedSince: at(-time.Second)}, etag, mod, 0},
		{"ims invalid", Conditions{IfModifiedSince: "yesterday"}, etag, mod, 0},
		{"ims unknown mtime", Conditions{IfModifiedSince: at(0)}, etag, time.Time{}, 0},
		{"ims rfc850", Conditions{IfModifiedSince: mod.Format(time.RFC850)}, etag, mod, 304},
		{"inm miss beats ims", Conditions{IfNoneMatch: `"x"`, IfModifiedSince: at(time.Hour)}, etag, mod, 0},
		{"im match", Conditions{IfMatch: `"abc"`}, etag, mod, 0},
		{"im star", Conditions{IfMatch: `*`}, etag, mod, 0},
		{"im miss", Conditions{IfMatch: `"x"`}, etag, mod, 412},
		{"im weak is no strong match", Conditions{IfMatch: `W/"abc"`}, etag, mod, 412},
		{"ius earlier", Conditions{IfUnmodifiedSince: at(-time.Hour)}, etag, mod, 412},
		{"ius equal", Conditions{IfUnmodifiedSince: at(0)}, etag, mod, 0},
		{"im match beats ius", Conditions{IfMatch: `"abc"`, IfUnmodifiedSince: at(-time.Hour)}, etag, mod, 0},
		{"412 before 304", Conditions{IfMatch: `"x"`, IfNoneMatch: `"abc"`}, etag, mod, 412},
	} {
		if got := tc.c.Evaluate(tc.etag, tc.mod); got != tc.want {
			t.Errorf("%s: %+v.Evaluate(%q, %v) = %d, want %d", tc.name, tc.c, tc.etag, tc.mod, got, tc.want)
		}
	}
}

func TestRangeApplies(t *testing.T) {
	const etag = `"abc"`
	mod := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ifRange string
		etag    string
		mod     time.Time
		want    bool
	}{
		{"", etag, mod, true},
		{`"abc"`, etag, mod, true},
		{` "abc" `, etag, mod, true},
		{`"abd"`, etag, mod, false},
		{`W/"abc"`, etag, mod, false}, // If-Range needs the strong comparison
		{`"abc"`, `W/"abc"`, mod, false},
		{`"abc", "abd"`, etag, mod, false}, // one tag, not a list
		{`"abc`, etag, mod, false},
		{mod.Format(http.TimeFormat), etag, mod, true},
		{mod.Add(time.Second).Format(http.TimeFormat), etag, mod, false},
		{mod.Add(-time.Second).Format(http.TimeFormat), etag, mod, false},
		{mod.Format(http.TimeFormat), etag, time.Time{}, false},
		{"not a date", etag, mod, false},
	} {
		c := Conditions{IfRange: tc.ifRange}
		if got := c.RangeApplies(tc.etag, tc.mod); got != tc.want {
			t.Errorf("If-Range %q, ETag %q: RangeApplies = %v, want %v", tc.ifRange, tc.etag, got, tc.want)
		}
	}
}

func FuzzConditions(f *testing.F) {
	f.Add(`"abc"`, `"x", W/"abc"`, "Sat, 01 Mar 2025 12:00:00 GMT", `"abc"`)
	f.Add("*", `W/"a,b"`, "", "Sat, 01 Mar 2025 12:00:00 GMT")
	f.Add(`W/"`, `"`, "Monday, 01-Jan-01 00:00:00 GMT", `W/"abc"`)
	mod := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, etag, inm, ims, ifRange string) {
		c := Conditions{IfNoneMatch: inm, IfModifiedSince: ims, IfRange: ifRange}
		switch got := c.Evaluate(etag, mod); got {
		case 0, http.StatusNotModified:
		default:
			t.Fatalf("Evaluate without If-Match = %d", got)
		}
		// A tag always matches itself by the weak comparison, and strongly when it is strong.
		if tag, rest := scanETag(etag); tag != "" && rest == "" {
			if !matchList(tag, tag, true) {
				t.Fatalf("%q does not weakly match itself", tag)
			}
			if (Conditions{IfRange: tag}).RangeApplies(tag, mod) != (tag[0] == '"') {
				t.Fatalf("If-Range %q against itself", tag)
			}
		}
		c.RangeApplies(etag, mod)
	})
}
