package main

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsNameRealFlags: every flag that README.md and ARCHITECTURE.md give a command, in a
// code span `reelay CMD ... --flag ...`, exists on it; a flag in a span of its own, `--flag`,
// exists on some command. Each line of a fenced code block is a span.
func TestDocsNameRealFlags(t *testing.T) {
	cmds := map[string]*flag.FlagSet{}
	for _, c := range commands() {
		if c.setup != nil {
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.setup(fs)
			cmds[c.name] = fs
		}
	}
	flagRE := regexp.MustCompile(`(?:^|\s)--([a-z][a-z0-9-]*)`)
	checked := 0
	for _, doc := range []string{"../../README.md", "../../ARCHITECTURE.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, code := range codeSpans(string(text)) {
			var fs []*flag.FlagSet // the commands that must have the span's flags: one of them
			code = strings.TrimPrefix(strings.TrimPrefix(code, "./"), "bin/")
			if rest, ok := strings.CutPrefix(code, "reelay "); ok {
				name, _, _ := strings.Cut(rest, " ")
				if cmds[name] == nil {
					continue // reelay feed|ingest|...: several at once
				}
				fs = append(fs, cmds[name])
			} else if strings.HasPrefix(code, "--") {
				for _, c := range cmds {
					fs = append(fs, c)
				}
			} else {
				continue
			}
			for _, f := range flagRE.FindAllStringSubmatch(code, -1) {
				if !slices.ContainsFunc(fs, func(fs *flag.FlagSet) bool { return fs.Lookup(f[1]) != nil }) {
					t.Errorf("%s: %q: no such flag --%s", doc, code, f[1])
				}
				checked++
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d flags found in the docs: is the parsing right?", checked)
	}
}

var inlineCode = regexp.MustCompile("`([^`]+)`")

// codeSpans returns the inline code spans of a Markdown text, and the lines of its fenced
// code blocks (without a shell prompt).
func codeSpans(text string) []string {
	var spans []string
	fenced := false
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			spans = append(spans, strings.TrimPrefix(strings.TrimSpace(line), "$ "))
			continue
		}
		for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
			spans = append(spans, m[1])
		}
	}
	return spans
}
