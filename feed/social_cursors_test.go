package feed

import (
	"reflect"
	"testing"
)

// socialCursors are the cursors of the social lists, and a value of each.
var socialCursors = []any{followCursor{At: 1767225600000, User: 42}, commentCursor{Before: 7}, reportsCursor{After: 3}}

func TestSocialCursors(t *testing.T) {
	for _, c := range socialCursors {
		p := reflect.New(reflect.TypeOf(c))
		if err := decodeCursor(encodeCursor(c), p.Interface()); err != nil || p.Elem().Interface() != c {
			t.Errorf("%T: round trip gives %v, %v", c, p.Elem().Interface(), err)
		}
		for _, bad := range []string{"!!", "e30x", encodeCursor(map[string]int{"zz": 1}), encodeCursor([]int{1})} {
			if err := decodeCursor(bad, reflect.New(reflect.TypeOf(c)).Interface()); err != errBadCursor {
				t.Errorf("%T from %q: %v, want errBadCursor", c, bad, err)
			}
		}
	}
}

func FuzzSocialCursors(f *testing.F) {
	for _, c := range socialCursors {
		f.Add(encodeCursor(c))
	}
	f.Add("e30x")
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range socialCursors {
			p := reflect.New(reflect.TypeOf(c))
			if err := decodeCursor(s, p.Interface()); err != nil {
				continue
			}
			again := reflect.New(reflect.TypeOf(c))
			if err := decodeCursor(encodeCursor(p.Elem().Interface()), again.Interface()); err != nil ||
				again.Elem().Interface() != p.Elem().Interface() {
				t.Fatalf("%q as %T: %v does not round-trip: %v", s, c, p.Elem().Interface(), err)
			}
		}
	})
}
