package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary counts the results by status.
type Summary struct {
	Mutants    int `json:"mutants"`
	Killed     int `json:"killed"` // build errors and timeouts included
	BuildError int `json:"build_errors"`
	Timeout    int `json:"timeouts"`
	Survived   int `json:"survived"`
	Stale      int `json:"stale"`
	Errors     int `json:"errors"`
}

// ok reports whether every mutant was killed.
func (s Summary) ok() bool { return s.Survived == 0 && s.Stale == 0 && s.Errors == 0 }

func summarize(results []Result) Summary {
	s := Summary{Mutants: len(results)}
	for _, r := range results {
		switch r.Status {
		case Killed:
			s.Killed++
		case BuildError:
			s.Killed++
			s.BuildError++
		case Timeout:
			s.Killed++
			s.Timeout++
		case Survived:
			s.Survived++
		case Stale:
			s.Stale++
		default:
			s.Errors++
		}
	}
	return s
}

func (s Summary) String() string {
	return fmt.Sprintf("%d mutants: %d killed (%d by a build error, %d by a timeout), %d survived, %d stale, %d errors",
		s.Mutants, s.Killed, s.BuildError, s.Timeout, s.Survived, s.Stale, s.Errors)
}

// writeTable prints one row per mutant and the summary.
func writeTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MUTANT\tSTATUS\tTIME\tKILLED BY / DETAIL")
	for _, r := range results {
		detail := strings.Join(r.KilledBy, " ")
		if detail == "" {
			detail = strings.ReplaceAll(r.Detail, "\n", " | ")
		}
		if r.Status == Survived {
			detail = fmt.Sprintf("%s %s: untested", r.File, strings.Join(r.Pkgs, " "))
		}
		elapsed := "-"
		if r.Elapsed > 0 {
			elapsed = r.Elapsed.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Status, elapsed, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, summarize(results))
	return err
}

// writeJSON prints the results and the summary as one JSON document.
func writeJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Results []Result `json:"results"`
		Summary Summary  `json:"summary"`
	}{results, summarize(results)})
}
