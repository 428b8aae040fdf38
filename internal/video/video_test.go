package video

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var hashtagCases = []struct {
	caption string
	want    []string
}{
	{"", nil},
	{"no tags here", nil},
	{"My #Cat and #cat and #CAT", []string{"cat"}},
	{"#one#two #three,#four.", []string{"one", "three", "four"}},
	{"#snake_case #with123 #2025 #_ #", []string{"snake_case", "with123"}},
	{"email@host#frag a#b", nil},
	{"#Año_2025 #ÇA #日本 #हिन्दी", []string{"año_2025", "ça", "日本", "हिन्दी"}},
	{"(#paren) #end!", []string{"paren", "end"}},
	{"#" + strings.Repeat("a", 100) + " #" + strings.Repeat("b", 101), []string{strings.Repeat("a", 100)}},
}

func TestHashtags(t *testing.T) {
	many := ""
	var manyWant []string
	for i := range 40 {
		tag := "t" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		many += "#" + tag + " "
		if i < 30 {
			manyWant = append(manyWant, tag)
		}
	}
	cases := append(slices.Clone(hashtagCases), struct {
		caption string
		want    []string
	}{many, manyWant})
	for _, tc := range cases {
		if got := Hashtags(tc.caption); !slices.Equal(got, tc.want) {
			t.Errorf("Hashtags(%q) = %q, want %q", tc.caption, got, tc.want)
		}
	}
}

// FuzzHashtags reads arbitrary captions: every hashtag is lowercase, unique, at most 100
// characters with at least one letter, and written in the caption after a '#'.
func FuzzHashtags(f *testing.F) {
	for _, tc := range hashtagCases {
		f.Add(tc.caption)
	}
	f.Fuzz(func(t *testing.T, caption string) {
		tags := Hashtags(caption)
		if len(tags) > maxHashtags {
			t.Fatalf("%d hashtags", len(tags))
		}
		seen := map[string]bool{}
		lower := strings.ToLower(caption)
		for _, tag := range tags {
			n := utf8.RuneCountInString(tag)
			if n == 0 || n > maxHashtagRunes || seen[tag] || tag != strings.ToLower(tag) ||
				strings.IndexFunc(tag, unicode.IsLetter) < 0 || !strings.Contains(lower, "#"+tag) {
				t.Fatalf("Hashtags(%q) gave %q", caption, tag)
			}
			seen[tag] = true
		}
	})
}

func TestParseVisibility(t *testing.T) {
	for in, want := range map[string]Visibility{"": Public, "public": Public, "unlisted": Unlisted, "private": Private} {
		if v, ok := ParseVisibility(in); !ok || v != want {
			t.Errorf("ParseVisibility(%q) = %q, %v", in, v, ok)
		}
	}
	for _, bad := range []string{"Public", "secret", " private"} {
		if _, ok := ParseVisibility(bad); ok {
			t.Errorf("ParseVisibility(%q) accepted", bad)
		}
	}
}
