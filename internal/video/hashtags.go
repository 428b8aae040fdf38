package video

import (
	"strings"
	"unicode"
)

// Limits of Hashtags.
const (
	maxHashtags     = 30
	maxHashtagRunes = 100
)

// Hashtags returns the hashtags of a caption, lowercased, without their '#', each once, in
// order of first appearance, at most 30. A hashtag is a '#' that does not follow a letter,
// digit or underscore, then a run of letters (with their combining marks), digits and
// underscores holding at least one letter, at most 100 characters long: "#Cats" and
// "#año_2025" are hashtags; "#2025", "a#b" and "#" are not. It returns nil when there are none.
func Hashtags(caption string) []string {
	var tags []string
	seen := map[string]bool{}
	rs := []rune(caption)
	for i := 0; i < len(rs) && len(tags) < maxHashtags; i++ {
		if rs[i] != '#' || (i > 0 && tagRune(rs[i-1])) {
			continue
		}
		j, letter := i+1, false
		for ; j < len(rs) && tagRune(rs[j]); j++ {
			letter = letter || unicode.IsLetter(rs[j])
		}
		tag, long := strings.ToLower(string(rs[i+1:j])), j-(i+1) > maxHashtagRunes
		i = j - 1
		if !letter || long || seen[tag] {
			continue
		}
		seen[tag] = true
		tags = append(tags, tag)
	}
	return tags
}

func tagRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r)
}
