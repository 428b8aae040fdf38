package feed

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// FuzzProfileEdit: the body of PATCH /v1/me is refused or holds only what a profile may.
func FuzzProfileEdit(f *testing.F) {
	for _, s := range []string{`{"display_name":"Ann A.","bio":"line one\nline two"}`, `{"display_name":null}`, `{}`,
		`{"display_name":"a\u0007b"}`, `{"bio":"a\tb"}`, `{"handle":"eve"}`, `{"bio":"a","bio":"b"}`, `{"bio":3}`,
		`{"display_name":"` + strings.Repeat("é", 51) + `"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var e profileEdit
		if apierr.UnmarshalJSON([]byte(body), &e) != nil || e.validate() != nil {
			return
		}
		check := func(s *string, max int, multiline bool) {
			if s == nil {
				return
			}
			if !utf8.ValidString(*s) || utf8.RuneCountInString(*s) > max || strings.ContainsFunc(*s, func(r rune) bool {
				return unicode.IsControl(r) && !(multiline && r == '\n')
			}) {
				t.Fatalf("accepted %q", *s)
			}
		}
		check(e.DisplayName, maxDisplayNameRunes, false)
		check(e.Bio, maxBioRunes, true)
	})
}

// FuzzVideoEdit: the body of PATCH /v1/videos/{id} is refused or holds a caption within its
// limits and a visibility that exists.
func FuzzVideoEdit(f *testing.F) {
	for _, s := range []string{`{"caption":"new\t#One\n#two"}`, `{"visibility":"private"}`, `{"visibility":""}`,
		`{"visibility":"secret"}`, `{"status":"ready"}`, `caption`, `{"caption":"a\u0000b"}`, `{"caption":null,"visibility":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var e videoEdit
		if apierr.UnmarshalJSON([]byte(body), &e) != nil {
			return
		}
		vis, err := e.parse()
		if err != nil {
			return
		}
		if e.Caption != nil && (utf8.RuneCountInString(*e.Caption) > maxCaptionRunes || !utf8.ValidString(*e.Caption)) {
			t.Fatalf("accepted caption %q", *e.Caption)
		}
		if e.Visibility == nil && vis != "" || e.Visibility != nil && vis != video.Public && vis != video.Unlisted && vis != video.Private {
			t.Fatalf("visibility %v from %q", vis, body)
		}
	})
}

// FuzzUserVideosCursor: a cursor of GET /v1/users/{handle}/videos is refused, or names a
// position that encodes back to itself.
func FuzzUserVideosCursor(f *testing.F) {
	f.Add(encodeCursor(userVideosCursor{Published: 5, ID: videoid.New()}))
	f.Add(encodeCursor(userVideosCursor{Published: 5, ID: "../x"}))
	f.Add(encodeCursor(userVideosCursor{Published: 5}))
	f.Add("bm9wZQ")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseUserVideosCursor(s)
		if err != nil {
			return
		}
		if c.ID != "" && !videoid.Valid(c.ID) || c.ID == "" && c.Published != 0 {
			t.Fatalf("accepted %q: %+v", s, c)
		}
		if again, err := parseUserVideosCursor(encodeCursor(c)); err != nil || again != c {
			t.Fatalf("%+v does not encode back: %+v, %v", c, again, err)
		}
	})
}

// parseUserVideosCursor is how userVideos reads its cursor parameter.
func parseUserVideosCursor(s string) (userVideosCursor, error) {
	var c userVideosCursor
	if err := decodeCursor(s, &c); err != nil {
		return c, err
	}
	return c, c.check()
}

// FuzzMyVideosCursor: a cursor of GET /v1/me/videos is refused, or names a position that
// encodes back to itself.
func FuzzMyVideosCursor(f *testing.F) {
	f.Add(encodeCursor(myVideosCursor{Created: 5, ID: videoid.New()}))
	f.Add(encodeCursor(myVideosCursor{Created: 5, ID: "../x"}))
	f.Add(encodeCursor(myVideosCursor{Created: 5}))
	f.Add("bm9wZQ")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		var c myVideosCursor
		if err := decodeCursor(s, &c); err != nil || c.check() != nil {
			return
		}
		if c.ID != "" && !videoid.Valid(c.ID) || c.ID == "" && c.Created != 0 {
			t.Fatalf("accepted %q: %+v", s, c)
		}
		var again myVideosCursor
		if err := decodeCursor(encodeCursor(c), &again); err != nil || again != c {
			t.Fatalf("%+v does not encode back: %+v, %v", c, again, err)
		}
	})
}
