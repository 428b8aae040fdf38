package main

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A Mutant is one deliberate bug: in File, the one occurrence of From replaced by To, which the
// tests of Pkgs (those matching Run) must catch.
type Mutant struct {
	Name    string        `json:"name"`              // unique in the list
	File    string        `json:"file"`              // slash path from the repository's root
	From    string        `json:"from"`              // must occur exactly once in File
	To      string        `json:"to"`                // what replaces it
	Pkgs    []string      `json:"pkgs"`              // go test package patterns, each "./..."
	Run     string        `json:"run,omitempty"`     // go test -run, "" for every test
	Timeout time.Duration `json:"timeout,omitempty"` // 0: the -timeout flag
	Line    int           `json:"line"`              // where its block starts in the list
}

// The keys of a mutant's block, and whether each must be given.
var listKeys = map[string]bool{
	"name": true, "file": true, "from": true, "to": true, "pkg": true,
	"run": false, "timeout": false,
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// parseList reads a mutation list. Each mutant is a block of lines "key value", blocks apart by
// blank lines; a line starting with # is a comment. A value is the rest of the line with
// surrounding blanks trimmed, or, when it starts with a double quote, a Go string literal
// (for leading blanks, tabs, or a From that spans lines):
//
//	name    sign-expired
//	file    internal/signedurl/signedurl.go
//	from    if now.Unix() >= t {
//	to      if false {
//	pkg     ./edge
//	run     ^TestPrivateVideos$
//	timeout 3m
//
// pkg takes one or more package patterns, each starting with "./"; run and timeout may be left
// out. Any other key, a key given twice, a missing one, a duplicate name or a value that
// cannot be right is an error, with its line.
func parseList(r io.Reader) ([]Mutant, error) {
	var (
		out   []Mutant
		cur   map[string]string
		start int
		names = map[string]int{}
	)
	end := func() error {
		if cur == nil {
			return nil
		}
		m, err := newMutant(cur, start)
		if err != nil {
			return err
		}
		if prev, ok := names[m.Name]; ok {
			return fmt.Errorf("mutants: line %d: name %q already used at line %d", start, m.Name, prev)
		}
		names[m.Name] = start
		out = append(out, m)
		cur = nil
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			if err := end(); err != nil {
				return nil, err
			}
			continue
		case strings.HasPrefix(line, "#"):
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		if k, v, ok := strings.Cut(line, "\t"); ok && len(k) < len(key) {
			key, value = k, v
		}
		if _, ok := listKeys[key]; !ok {
			return nil, fmt.Errorf("mutants: line %d: unknown key %q", n, key)
		}
		value = strings.TrimSpace(value)
		if strings.HasPrefix(value, `"`) {
			s, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("mutants: line %d: %s: bad string literal %s", n, key, value)
			}
			value = s
		}
		if cur == nil {
			cur, start = map[string]string{}, n
		}
		if _, dup := cur[key]; dup {
			return nil, fmt.Errorf("mutants: line %d: %s given twice", n, key)
		}
		cur[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mutants: %w", err)
	}
	if err := end(); err != nil {
		return nil, err
	}
	return out, nil
}

// newMutant checks the block of keys that starts at line and returns its mutant.
func newMutant(kv map[string]string, line int) (Mutant, error) {
	bad := func(format string, args ...any) (Mutant, error) {
		return Mutant{}, fmt.Errorf("mutants: line %d: %s", line, fmt.Sprintf(format, args...))
	}
	for key, required := range listKeys {
		if _, ok := kv[key]; required && !ok {
			return bad("the mutant has no %s", key)
		}
	}
	m := Mutant{Name: kv["name"], File: kv["file"], From: kv["from"], To: kv["to"], Run: kv["run"], Line: line}
	if !nameRE.MatchString(m.Name) {
		return bad("name %q: letters, digits, '.', '_' and '-' only", m.Name)
	}
	if m.File == "" || path.IsAbs(m.File) || path.Clean(m.File) != m.File || m.File == ".." || strings.HasPrefix(m.File, "../") {
		return bad("file %q: a clean path inside the repository", m.File)
	}
	if m.From == "" {
		return bad("from is empty")
	}
	if m.From == m.To {
		return bad("from and to are the same: that is no mutant")
	}
	m.Pkgs = strings.Fields(kv["pkg"])
	if len(m.Pkgs) == 0 {
		return bad("pkg is empty")
	}
	for _, p := range m.Pkgs {
		if !strings.HasPrefix(p, "./") || strings.Contains(p+"/", "/../") {
			return bad("pkg %q: a package pattern inside the repository, starting with ./", p)
		}
	}
	if _, err := regexp.Compile(m.Run); err != nil {
		return bad("run: %v", err)
	}
	if s, ok := kv["timeout"]; ok {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return bad("timeout %q: a positive duration such as 90s", s)
		}
		m.Timeout = d
	}
	return m, nil
}
