package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// calcSource is the code of the tiny module that the runner is tested on; its tests check Abs
// but not Max's tie, and Pause only runs.
const calcSource = `package calc

import "time"

// Abs returns the absolute value of x.
func Abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Max returns the larger of a and b.
func Max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// Pause waits for nothing.
func Pause() { time.Sleep(0) }
`

const calcTest = `package calc

import "testing"

func TestAbs(t *testing.T) {
	if Abs(-2) != 2 || Abs(3) != 3 {
		t.Fatal("Abs is wrong")
	}
}

func TestMax(t *testing.T) {
	if Max(1, 2) != 2 || Max(3, 1) != 3 {
		t.Fatal("Max is wrong")
	}
}

func TestPause(t *testing.T) { Pause() }
`

// newModule writes a git repository holding a Go module with the package calc and the given
// extra files, and returns its directory.
func newModule(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":            "module example.com/m\n\ngo 1.26\n",
		"calc/calc.go":      calcSource,
		"calc/calc_test.go": calcTest,
		".gitignore":        "/ignored/\n",
		"ignored/big.bin":   "not copied",
	}
	for name, body := range extra {
		files[name] = body
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("git", "init", "-q")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	return dir
}

func newRunner(t *testing.T, root string, progress *bytes.Buffer) *runner {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	return &runner{root: root, goBin: goBin, env: os.Environ(), timeout: 5 * time.Minute, parallel: 2, progress: progress}
}

// TestRunner runs one mutant of each outcome on the tiny module, two at a time, and checks
// each one's status, that the repository is left as it was, and that no scratch copy is left
// behind.
func TestRunner(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	calc := func(name, from, to, run string) Mutant {
		return Mutant{Name: name, File: "calc/calc.go", From: from, To: to, Pkgs: []string{"./calc"}, Run: run}
	}
	hang := calc("hang", "time.Sleep(0)", "time.Sleep(time.Hour)", "^TestPause$")
	hang.Timeout = 3 * time.Second
	mutants := []Mutant{
		calc("abs-sign", "if x < 0 {", "if x > 0 {", "^TestAbs$"),
		calc("max-tie", "if a > b {", "if a >= b {", "^TestMax$"),
		calc("typo", "return -x", "return -y", "^TestAbs$"),
		hang,
		calc("gone", "if x <= 0 {", "if x < 0 {", ""),
		calc("twice", "return", "return 0 +", ""),
		calc("no-test", "if x < 0 {", "if x > 0 {", "^TestNothing$"),
		{Name: "two-pkgs", File: "calc/calc.go", From: "return x\n", To: "return 1\n", Pkgs: []string{"./calc", "./other"}},
	}
	root := newModule(t, map[string]string{
		"other/other.go":      "package other\n\nimport \"example.com/m/calc\"\n\nfunc One() int { return calc.Abs(-1) }\n",
		"other/other_test.go": "package other\n\nimport \"testing\"\n\nfunc TestOne(t *testing.T) {\n\tif One() != 1 {\n\t\tt.Fatal(One())\n\t}\n}\n",
	})
	var progress bytes.Buffer
	results, err := newRunner(t, root, &progress).run(t.Context(), mutants)
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status   Status
		killedBy []string
		detail   string
	}{
		{Killed, []string{"TestAbs"}, ""},
		{Survived, nil, ""},
		{BuildError, nil, "[build failed]"},
		{Timeout, nil, "after 3s"},
		{Stale, nil, "is not in calc/calc.go"},
		{Stale, nil, "6 times"},
		{RunError, nil, "matches no test"},
		{Killed, []string{"TestAbs"}, ""}, // Abs(-2) == 1: ./calc fails, ./other passes
	}
	for i, w := range want {
		r := results[i]
		if r.Name != mutants[i].Name || r.Status != w.status || !slices.Equal(r.KilledBy, w.killedBy) || !strings.Contains(r.Detail, w.detail) {
			t.Errorf("%s: %s %v %q; want %s %v %q", r.Name, r.Status, r.KilledBy, r.Detail, w.status, w.killedBy, w.detail)
		}
	}
	s := summarize(results)
	if s.ok() || s.Killed != 4 || s.BuildError != 1 || s.Timeout != 1 || s.Survived != 1 || s.Stale != 2 || s.Errors != 1 {
		t.Errorf("summary %s", s)
	}
	if got := readFile(t, filepath.Join(root, "calc/calc.go")); got != calcSource {
		t.Errorf("the repository's calc.go was changed:\n%s", got)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "reelay-mutants-*")); len(left) > 0 {
		t.Errorf("scratch copies left behind: %v", left)
	}

	var table bytes.Buffer
	if err := writeTable(&table, results); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"abs-sign  ", "max-tie  ", "survived", "calc/calc.go ./calc: untested", s.String()} {
		if !strings.Contains(table.String(), line) {
			t.Errorf("the table lacks %q:\n%s", line, table.String())
		}
	}
	var doc bytes.Buffer
	if err := writeJSON(&doc, results); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Results []Result
		Summary Summary
	}
	if err := json.Unmarshal(doc.Bytes(), &back); err != nil || back.Summary != s || len(back.Results) != len(results) ||
		back.Results[0].Status != Killed || back.Results[0].Seconds <= 0 {
		t.Errorf("-json: %v\n%s", err, doc.String())
	}
}

// TestRunnerBaseline: when a package's tests fail unmutated, the run stops before any mutant.
func TestRunnerBaseline(t *testing.T) {
	root := newModule(t, map[string]string{
		"bad/bad_test.go": "package bad\n\nimport \"testing\"\n\nfunc TestBroken(t *testing.T) { t.Fatal(\"broken\") }\n",
	})
	mutants := []Mutant{
		{Name: "abs", File: "calc/calc.go", From: "if x < 0 {", To: "if x > 0 {", Pkgs: []string{"./calc"}, Run: "^TestAbs$"},
		{Name: "abs-bad", File: "calc/calc.go", From: "if x < 0 {", To: "if x > 0 {", Pkgs: []string{"./bad"}},
	}
	var progress bytes.Buffer
	_, err := newRunner(t, root, &progress).run(t.Context(), mutants)
	if !errors.Is(err, errBaseline) || !strings.Contains(err.Error(), "TestBroken") {
		t.Fatalf("err = %v, want errBaseline naming TestBroken", err)
	}
	if strings.Contains(progress.String(), "abs-bad") || strings.Contains(progress.String(), "killed    abs") {
		t.Errorf("mutants ran after a failed baseline:\n%s", progress.String())
	}
}

func TestBaselines(t *testing.T) {
	ms := []Mutant{
		{Pkgs: []string{"./a"}, Run: "^TestX$"},
		{Pkgs: []string{"./a", "./b"}, Run: "^TestY$/sub"},
		{Pkgs: []string{"./b"}},
		{Pkgs: []string{"./b"}, Run: "^TestZ$"},
		{Pkgs: []string{"./a"}, Run: "^TestX$"},
		{Pkgs: []string{"./c"}, Run: "^Test(A/x|B)$"},
	}
	got := baselines(ms, []int{0, 1, 2, 3, 4, 5})
	want := []baseline{
		{"./a", "(?:^TestX$)|(?:^TestY$)"},
		{"./b", ""}, // one mutant runs every test of ./b
		{"./c", "(?:^Test(A/x|B)$)"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("baselines = %q, want %q", got, want)
	}
}

// TestCheckFlag runs the command with -check on a list with a stale mutant, and without.
func TestCheckFlag(t *testing.T) {
	root := newModule(t, nil)
	list := filepath.Join(t.TempDir(), "list.txt")
	write := func(s string) {
		if err := os.WriteFile(list, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("name a\nfile calc/calc.go\nfrom if x < 0 {\nto if x > 0 {\npkg ./calc\n")
	if code := mainErr([]string{"-C", root, "-list", list, "-check"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("-check of a list that applies: exit %d", code)
	}
	write("name a\nfile calc/calc.go\nfrom if x < 0 {\nto if x > 0 {\npkg ./calc\n\nname b\nfile calc/gone.go\nfrom x\nto y\npkg ./calc\n")
	if code := mainErr([]string{"-C", root, "-list", list, "-check"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("-check of a list with a stale mutant: exit %d, want 1", code)
	}
	if code := mainErr([]string{"-C", root, "-list", list, "-only", "("}, io.Discard, io.Discard); code != 2 {
		t.Errorf("a bad -only: exit %d, want 2", code)
	}
}
