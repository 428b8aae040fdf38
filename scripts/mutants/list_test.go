package main

import (
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listCases are mutation lists and what parseList makes of them: the mutants, or an error
// that contains err.
var listCases = []struct {
	name, list string
	want       []Mutant
	err        string
}{
	{"empty", "", nil, ""},
	{"comments only", "# a list\n\n  # nothing yet\n", nil, ""},
	{"one", "name a\nfile x/y.go\nfrom if a < b {\nto if a <= b {\npkg ./x\nrun ^TestY$\n",
		[]Mutant{{Name: "a", File: "x/y.go", From: "if a < b {", To: "if a <= b {", Pkgs: []string{"./x"}, Run: "^TestY$", Line: 1}}, ""},
	{"two, tabs, comments inside, no final newline",
		"# first\nname\ta\nfile\tx.go\n# a comment in the block\nfrom  x++\nto    x--\npkg ./x ./y/...\ntimeout 90s\n\n\nname b\nfile x.go\nfrom y\nto\npkg ./x",
		[]Mutant{
			{Name: "a", File: "x.go", From: "x++", To: "x--", Pkgs: []string{"./x", "./y/..."}, Timeout: 90 * time.Second, Line: 2},
			{Name: "b", File: "x.go", From: "y", To: "", Pkgs: []string{"./x"}, Line: 11},
		}, ""},
	{"quoted", "name q\nfile x.go\nfrom \"\\tif a {\\n\\t\\treturn\"\nto \" \"\npkg ./x\n",
		[]Mutant{{Name: "q", File: "x.go", From: "\tif a {\n\t\treturn", To: " ", Pkgs: []string{"./x"}, Line: 1}}, ""},
	{"unknown key", "name a\nfrum x\n", nil, "line 2: unknown key"},
	{"key twice", "name a\nname b\n", nil, "line 2: name given twice"},
	{"missing from", "name a\nfile x.go\nto y\npkg ./x\n", nil, "no from"},
	{"missing pkg", "name a\nfile x.go\nfrom x\nto y\n", nil, "no pkg"},
	{"empty pkg", "name a\nfile x.go\nfrom x\nto y\npkg\n", nil, "pkg is empty"},
	{"empty from", "name a\nfile x.go\nfrom\nto y\npkg ./x\n", nil, "from is empty"},
	{"same", "name a\nfile x.go\nfrom x\nto x\npkg ./x\n", nil, "the same"},
	{"bad name", "name a b\nfile x.go\nfrom x\nto y\npkg ./x\n", nil, "name \"a b\""},
	{"duplicate name", "name a\nfile x.go\nfrom x\nto y\npkg ./x\n\nname a\nfile x.go\nfrom x\nto z\npkg ./x\n", nil, "line 7: name \"a\" already used at line 1"},
	{"absolute file", "name a\nfile /etc/passwd\nfrom x\nto y\npkg ./x\n", nil, "file \"/etc/passwd\""},
	{"file outside", "name a\nfile ../x.go\nfrom x\nto y\npkg ./x\n", nil, "file \"../x.go\""},
	{"unclean file", "name a\nfile x//y.go\nfrom x\nto y\npkg ./x\n", nil, "file \"x//y.go\""},
	{"pkg not relative", "name a\nfile x.go\nfrom x\nto y\npkg github.com/x\n", nil, "pkg \"github.com/x\""},
	{"pkg outside", "name a\nfile x.go\nfrom x\nto y\npkg ./../x\n", nil, "pkg \"./../x\""},
	{"bad run", "name a\nfile x.go\nfrom x\nto y\npkg ./x\nrun (\n", nil, "run:"},
	{"bad timeout", "name a\nfile x.go\nfrom x\nto y\npkg ./x\ntimeout -1s\n", nil, "timeout \"-1s\""},
	{"bad literal", "name a\nfile x.go\nfrom \"x\nto y\npkg ./x\n", nil, "line 3: from: bad string literal"},
}

func TestParseList(t *testing.T) {
	for _, tc := range listCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseList(strings.NewReader(tc.list))
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tc.want):
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestShippedList: the repository's own list parses, and every mutant still applies to the
// code (as -check finds), so that a change under a mutant shows in the tests, not only in the
// next mutation run.
func TestShippedList(t *testing.T) {
	ms, err := parseList(strings.NewReader(readFile(t, "mutants.txt")))
	if err != nil || len(ms) == 0 {
		t.Fatalf("mutants.txt: %d mutants, %v", len(ms), err)
	}
	for _, m := range ms {
		if err := checkStale(filepath.Join("..", ".."), m); err != nil {
			t.Errorf("%s (mutants.txt line %d): %v; rewrite it for the new code", m.Name, m.Line, err)
		}
	}
}

// formatList writes mutants back in the list's format, every value quoted.
func formatList(ms []Mutant) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString("name " + m.Name + "\nfile " + strconv.Quote(m.File) + "\nfrom " + strconv.Quote(m.From) +
			"\nto " + strconv.Quote(m.To) + "\npkg " + strings.Join(m.Pkgs, " ") + "\n")
		if m.Run != "" {
			b.WriteString("run " + strconv.Quote(m.Run) + "\n")
		}
		if m.Timeout != 0 {
			b.WriteString("timeout " + m.Timeout.String() + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// FuzzParseList: whatever parseList accepts is a list of usable mutants, which read back the
// same once written out again.
func FuzzParseList(f *testing.F) {
	for _, tc := range listCases {
		f.Add(tc.list)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ms, err := parseList(strings.NewReader(list))
		if err != nil {
			return
		}
		names := map[string]bool{}
		for _, m := range ms {
			if m.Name == "" || m.File == "" || m.From == "" || m.From == m.To || len(m.Pkgs) == 0 || names[m.Name] {
				t.Fatalf("accepted an unusable mutant %+v", m)
			}
			names[m.Name] = true
		}
		again, err := parseList(strings.NewReader(formatList(ms)))
		if err != nil {
			t.Fatalf("written out again: %v\n%s", err, formatList(ms))
		}
		if len(again) != len(ms) {
			t.Fatalf("written out again: %d mutants, want %d", len(again), len(ms))
		}
		for i := range ms {
			a, b := ms[i], again[i]
			a.Line, b.Line = 0, 0
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("written out again: %+v, want %+v", b, a)
			}
		}
	})
}
