// Command mutants checks that the tests catch the bugs they are meant to catch. It applies each
// mutant of a list (one small change to one file: a comparison turned, a check dropped) to a
// scratch copy of the repository, runs the tests of the mutant's packages there, and reports
// whether they failed (killed) or passed (survived: the behaviour is untested):
//
//	REELAY_TEST_SERVICES=require go run ./scripts/mutants [-only REGEXP] [-parallel N] [-json]
//	go run ./scripts/mutants -check   # only that every mutant still applies, in a second
//
// or `make mutants`. Before any mutant it runs each package's tests unmutated (a baseline) and
// stops if they fail: a mutant killed by a test that already fails proves nothing. A mutant
// whose change no longer matches its file exactly once is stale, an error, so that the list
// cannot rot silently. The exit status is 0 when every mutant was killed, 1 when one survived,
// is stale or could not be run, 2 when the run could not be made.
//
// The list (-list, default scripts/mutants/mutants.txt) is described at parseList. The tests
// run with this process's environment, REELAY_TEST_SERVICES and REELAY_MINIO_BIN included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

// mainErr runs the command with args, printing the results on stdout and the progress and
// errors on stderr, and returns its exit status.
func mainErr(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.String("list", "", "the mutation list (default scripts/mutants/mutants.txt in the repository)")
	only := fs.String("only", "", "run only the mutants whose name matches this regexp")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long one go test may run, unless a mutant says")
	parallel := fs.Int("parallel", 1, "mutants run at once, each in its own scratch copy")
	asJSON := fs.Bool("json", false, "print the results as JSON instead of a table")
	root := fs.String("C", "", "the repository (default the one around the working directory)")
	check := fs.Bool("check", false, "only check that every mutant still applies (none is stale); run no test")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("mutants: unexpected arguments %q", fs.Args()))
	}
	if *root == "" {
		out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			return fail(fmt.Errorf("mutants: not in a git repository (use -C): %w", err))
		}
		*root = strings.TrimSpace(string(out))
	}
	if *list == "" {
		*list = filepath.Join(*root, "scripts", "mutants", "mutants.txt")
	}
	sel, err := regexp.Compile(*only)
	if err != nil {
		return fail(fmt.Errorf("mutants: -only: %w", err))
	}
	if *timeout <= 0 || *parallel < 1 {
		return fail(errors.New("mutants: -timeout and -parallel must be positive"))
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fail(fmt.Errorf("mutants: %w", err))
	}

	f, err := os.Open(*list)
	if err != nil {
		return fail(fmt.Errorf("mutants: %w", err))
	}
	all, err := parseList(f)
	f.Close()
	if err != nil {
		return fail(err)
	}
	var mutants []Mutant
	for _, m := range all {
		if sel.MatchString(m.Name) {
			mutants = append(mutants, m)
		}
	}
	if len(mutants) == 0 {
		return fail(fmt.Errorf("mutants: no mutant in %s matches -only %q", *list, *only))
	}

	if *check {
		stale := 0
		for _, m := range mutants {
			if err := checkStale(*root, m); err != nil {
				fmt.Fprintf(stderr, "%s (line %d): %v\n", m.Name, m.Line, err)
				stale++
			}
		}
		fmt.Fprintf(stdout, "%d mutants, %d stale\n", len(mutants), stale)
		if stale > 0 {
			return 1
		}
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &runner{root: *root, goBin: goBin, env: os.Environ(), timeout: *timeout, parallel: *parallel, progress: stderr}
	start := time.Now()
	results, err := r.run(ctx, mutants)
	if err != nil {
		return fail(err)
	}
	if *asJSON {
		err = writeJSON(stdout, results)
	} else {
		err = writeTable(stdout, results)
	}
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stderr, "mutants: %s in all\n", time.Since(start).Round(time.Second))
	if !summarize(results).ok() {
		return 1
	}
	return 0
}
