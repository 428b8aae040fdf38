package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Status is what became of a mutant.
type Status string

const (
	Killed     Status = "killed"      // a test failed
	BuildError Status = "build-error" // the mutated code does not compile: killed, but by the compiler
	Timeout    Status = "timeout"     // the tests ran past the timeout: killed, by a hang
	Survived   Status = "survived"    // every test passed: the behaviour is untested
	Stale      Status = "stale"       // From is not in the file exactly once: the list must follow the code
	RunError   Status = "error"       // the runner could not tell (no test matched -run, a file error)
)

// Result is one mutant's outcome.
type Result struct {
	Mutant
	Status   Status        `json:"status"`
	KilledBy []string      `json:"killed_by,omitempty"` // the top-level tests that failed
	Detail   string        `json:"detail,omitempty"`    // why stale or an error; the output's end otherwise
	Elapsed  time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"` // Elapsed
}

// runner runs mutants' tests in scratch copies of the repository at root.
type runner struct {
	root     string
	goBin    string        // the go command
	env      []string      // the environment of go test
	timeout  time.Duration // per go test, unless a mutant sets its own
	parallel int           // scratch copies, each running one go test at a time
	progress io.Writer     // a line per finished run

	progressMu sync.Mutex // the workers' lines, one at a time
}

// logf writes a progress line.
func (r *runner) logf(format string, args ...any) {
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	fmt.Fprintf(r.progress, format+"\n", args...)
}

// errBaseline: the unmutated tests fail, so a mutant that they fail on proves nothing.
var errBaseline = errors.New("mutants: the tests fail without any mutant")

// run checks every mutant for staleness, runs the unmutated tests of their packages once (the
// baseline), then each mutant in turn, and returns the results in the list's order. It
// returns errBaseline, with the failing output, when a baseline fails.
func (r *runner) run(ctx context.Context, mutants []Mutant) ([]Result, error) {
	results := make([]Result, len(mutants))
	var live []int
	for i, m := range mutants {
		results[i] = Result{Mutant: m}
		if err := checkStale(r.root, m); err != nil {
			results[i].Status, results[i].Detail = Stale, err.Error()
			if !errors.Is(err, errStale) {
				results[i].Status = RunError
			}
			r.logf("%-9s %s: %s", results[i].Status, m.Name, err)
			continue
		}
		live = append(live, i)
	}
	if len(live) == 0 {
		return results, nil
	}

	workers := min(max(r.parallel, 1), len(live))
	scratches := make([]*scratch, 0, workers)
	defer func() {
		for _, s := range scratches {
			s.remove()
		}
	}()
	for range workers {
		s, err := newScratch(r.root)
		if err != nil {
			return nil, err
		}
		scratches = append(scratches, s)
	}

	// Baselines: one go test per package, with every -run of its mutants at once.
	var mu sync.Mutex
	var baseErr error
	base := baselines(mutants, live)
	r.each(ctx, scratches, len(base), func(s *scratch, i int) {
		b := base[i]
		out := r.goTest(ctx, s.dir, []string{b.pkg}, b.run, r.timeout)
		passed := out.verdict() == Survived
		r.logf("%-9s baseline %s (%s)", map[bool]string{true: "ok", false: "FAIL"}[passed], b.pkg, out.elapsed.Round(time.Second))
		if !passed {
			mu.Lock()
			why := map[Status]string{Killed: "a test failed", BuildError: "it does not build", Timeout: "it timed out"}[out.verdict()]
			baseErr = errors.Join(baseErr, fmt.Errorf("%w: go test -run '%s' %s: %s\n%s", errBaseline, b.run, b.pkg, cmp.Or(why, "it could not run"), tail(out.output, 40)))
			mu.Unlock()
		}
	})
	if baseErr != nil {
		return nil, baseErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	r.each(ctx, scratches, len(live), func(s *scratch, i int) {
		res := &results[live[i]]
		r.runMutant(ctx, s, res)
		r.logf("%-9s %s (%s)", res.Status, res.Name, res.Elapsed.Round(time.Second))
	})
	return results, ctx.Err()
}

// each calls fn for 0..n-1, one call at a time per scratch, until ctx ends.
func (r *runner) each(ctx context.Context, scratches []*scratch, n int, fn func(s *scratch, i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for _, s := range scratches {
		wg.Go(func() {
			for i := range jobs {
				fn(s, i)
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// runMutant applies res's mutant in s, runs its tests, restores the file and fills in res.
func (r *runner) runMutant(ctx context.Context, s *scratch, res *Result) {
	restore, err := s.apply(res.Mutant)
	if err != nil {
		res.Status, res.Detail = RunError, err.Error()
		if errors.Is(err, errStale) {
			res.Status = Stale
		}
		return
	}
	timeout := cmp.Or(res.Timeout, r.timeout)
	out := r.goTest(ctx, s.dir, res.Pkgs, res.Run, timeout)
	if err := restore(); err != nil {
		res.Status, res.Detail = RunError, err.Error()
		return
	}
	res.Elapsed, res.Seconds = out.elapsed, out.elapsed.Seconds()
	res.Status = out.verdict()
	switch res.Status {
	case Killed:
		res.KilledBy = out.failedTests()
		if len(res.KilledBy) == 0 {
			res.Detail = tail(out.output, 5)
		}
	case Survived:
		if out.noTests() {
			res.Status, res.Detail = RunError, fmt.Sprintf("-run %q matches no test in %s", res.Run, strings.Join(res.Pkgs, " "))
		}
	case BuildError:
		res.Detail = tail(out.output, 3)
	case Timeout:
		res.Detail = fmt.Sprintf("still running after %v", timeout)
	case RunError:
		res.Detail = out.err.Error()
	}
}

// goResult is the outcome of one go test.
type goResult struct {
	output   string
	err      error // from running go test: its exit, or a failure to start it
	timedOut bool
	elapsed  time.Duration
}

// goTest runs go test -count=1 [-run run] pkgs in dir, killing it and its children after
// timeout or when ctx ends.
func (r *runner) goTest(ctx context.Context, dir string, pkgs []string, run string, timeout time.Duration) goResult {
	args := []string{"test", "-count=1"}
	if run != "" {
		args = append(args, "-run", run)
	}
	cmd := exec.Command(r.goBin, append(args, pkgs...)...)
	cmd.Dir = dir
	cmd.Env = r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // one group: go, the test binaries, their children
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second // a grandchild left holding the output open
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return goResult{err: fmt.Errorf("mutants: go test: %w", err)}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	res := goResult{}
	select {
	case res.err = <-done:
	case <-timer.C:
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		res.err, res.timedOut = <-done, true
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		res.err = errors.Join(ctx.Err(), <-done)
	}
	res.elapsed = time.Since(start)
	res.output = out.String()
	return res
}

var buildFailedRE = regexp.MustCompile(`(?m)\[(build|setup) failed\]$`)

// verdict classifies a go test run as a mutant's outcome: Survived when every test passed.
func (g goResult) verdict() Status {
	var exit *exec.ExitError
	switch {
	case g.timedOut:
		return Timeout
	case g.err == nil:
		return Survived
	case !errors.As(g.err, &exit):
		return RunError
	case buildFailedRE.MatchString(g.output):
		return BuildError
	}
	return Killed
}

var failRE = regexp.MustCompile(`(?m)^\s*--- FAIL: ([^\s/]+)`)

// failedTests returns the top-level tests that failed, in the order they were reported.
func (g goResult) failedTests() []string {
	var names []string
	for _, m := range failRE.FindAllStringSubmatch(g.output, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	return names
}

// noTests reports whether some package ran no test: a -run that matches nothing passes.
func (g goResult) noTests() bool {
	return strings.Contains(g.output, "[no tests to run]") || strings.Contains(g.output, "[no test files]")
}

// baseline is one package's unmutated run: with the union of its mutants' -run, or every test
// when one of them has none.
type baseline struct{ pkg, run string }

// baselines returns the baseline of every package that the mutants live run.
func baselines(mutants []Mutant, live []int) []baseline {
	runs := map[string][]string{} // by package; nil once a mutant runs all its tests
	var pkgs []string
	for _, i := range live {
		m := mutants[i]
		for _, p := range m.Pkgs {
			rs, seen := runs[p]
			if !seen {
				pkgs = append(pkgs, p)
			}
			switch {
			case m.Run == "":
				runs[p] = nil
			case !seen || rs != nil:
				if top := topLevel(m.Run); !slices.Contains(rs, top) {
					runs[p] = append(rs, top)
				}
			}
		}
	}
	var out []baseline
	for _, p := range pkgs {
		b := baseline{pkg: p}
		for i, re := range runs[p] {
			if i > 0 {
				b.run += "|"
			}
			b.run += "(?:" + re + ")"
		}
		out = append(out, b)
	}
	return out
}

// topLevel returns the part of a -run regexp that selects top-level tests: the text before its
// first slash outside brackets and parentheses (go test matches each level of subtests apart).
func topLevel(run string) string {
	depth := 0
	for i, c := range run {
		switch c {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case '/':
			if depth == 0 {
				return run[:i]
			}
		}
	}
	return run
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
