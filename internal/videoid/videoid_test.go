package videoid

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := New()
		if !Valid(id) {
			t.Fatalf("New() = %q, not Valid", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValid(t *testing.T) {
	good := New()
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{good, true},
		{strings.Repeat("a", Len), true},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaq", true},  // q = 16: low bits zero
		{"aaaaaaaaaaaaaaaaaaaaaaaaab", false}, // b = 1: stray bits, not canonical
		{"aaaaaaaaaaaaaaaaaaaaaaaaa7", false}, // 7 = 31
		{"", false},
		{strings.Repeat("a", Len-1), false},
		{strings.Repeat("a", Len+1), false},
		{strings.ToUpper(good), false},
		{strings.Repeat("a", Len-1) + "1", false}, // 0, 1, 8, 9 are not in the alphabet
		{strings.Repeat("a", Len-2) + "8a", false},
		{strings.Repeat("a", Len-2) + "=a", false},
		{strings.Repeat("a", Len-2) + "/a", false},
		{"..aaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		if got := Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
		// The canonical form is exactly what decodes to 16 bytes and encodes back unchanged.
		b, err := encoding.DecodeString(tc.id)
		canonical := err == nil && len(b) == size && encoding.EncodeToString(b) == tc.id
		if canonical != tc.want {
			t.Errorf("%q: base32 round trip says %v, table says %v", tc.id, canonical, tc.want)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add(New())
	f.Add(strings.Repeat("a", Len))
	f.Add("aaaaaaaaaaaaaaaaaaaaaaaaab")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := encoding.DecodeString(s)
		canonical := err == nil && len(b) == size && encoding.EncodeToString(b) == s
		if got := Valid(s); got != canonical {
			t.Fatalf("Valid(%q) = %v, base32 round trip says %v", s, got, canonical)
		}
	})
}
