// Command reelay runs reelay's tiers: all of them in one process (reelay up) or one tier per
// process (reelay api|origin|edge|transcode, or the API in halves: feed and ingest) when one
// machine is not enough.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"syscall"

	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/pipeline"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise it comes from
// the module's build info.
var version = ""

// command is one subcommand: its flags bind to a config whose run method does the work.
type command struct {
	name, summary string
	// setup registers the command's flags on fs and returns what runs once they are loaded
	// and validated. Nil for a tier that is not built yet.
	setup func(fs *flag.FlagSet) runner
	// missing says why a command without setup cannot run yet.
	missing string
	// arg names the flag that the command's one positional argument sets, "" for none:
	// `reelay upload FILE` is `reelay upload --file FILE`.
	arg string
	// verbs are the words that may follow the command's name, before its flags and argument
	// (`reelay admin grant HANDLE`); the runner gets the one given through setVerb.
	verbs []string
}

// verbRunner is a runner of a command with verbs.
type verbRunner interface {
	runner
	setVerb(verb string)
}

// runner validates the loaded config, then runs until ctx is done or the work ends.
type runner interface {
	validate() error
	run(ctx context.Context, env *env) error
}

// env is what a command may touch of the process.
type env struct {
	stdin          io.Reader // nil: empty
	stdout, stderr io.Writer
	getenv         func(string) string
	// afterSample is pipeline.Output.AfterSample of the transcodes that reelay up and reelay
	// transcode (a tree) run in this process: a test hook that holds them. nil: none.
	afterSample pipeline.SampleHook
	// tracerProvider is the TracerProvider of every tier the command runs, in place of the one
	// --otlp-endpoint makes: a test hook that records the spans. nil: the flags'.
	tracerProvider trace.TracerProvider
}

func commands() []command {
	return []command{
		{name: "up", summary: "run every tier in one process on embedded defaults (a local directory and SQLite)", setup: setupUp},
		{name: "api", summary: "run the whole API, every /v1 route (accounts, uploads, videos, feeds, social); several share a database behind a balancer", setup: setupAPI},
		{name: "feed", summary: "run the feed/social half of the API alone: every /v1 route but /v1/uploads/ (reelay api serves both halves)", setup: setupFeed},
		{name: "origin", summary: "serve HLS at /v/{id}/... from the object store", setup: setupOrigin},
		{name: "edge", summary: "run a node of the gossip-clustered edge cache", setup: setupEdge},
		{name: "ingest", summary: "run the tus upload half of the API alone: /v1/uploads/ only, handing finished uploads to reelay transcode --worker (reelay api serves both halves)", setup: setupIngest},
		{name: "transcode", summary: "package a video file into a local HLS ladder (DIR/master.m3u8), or run transcode jobs with --worker", setup: setupTranscode},
		{name: "upload", summary: "upload a video over tus and wait until it is playable", setup: setupUpload, arg: "file"},
		{name: "admin", summary: "make an account an admin, a moderator of reports (grant), or no longer (revoke)", setup: setupAdmin,
			arg: "handle", verbs: []string{"grant", "revoke"}},
		{name: "store", summary: "make the object store ready: create its S3 bucket or directory if missing (init)", setup: setupStore,
			verbs: []string{"init"}},
		{name: "login", summary: "log in to a reelay API and store the token for reelay upload", setup: setupLogin},
		{name: "logout", summary: "end the stored session and forget its token", setup: setupLogout},
		{name: "version", summary: "print the version"},
		{name: "help", summary: "show help for a command"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit status: 0 on success, 1 when the
// command failed, 2 for a bad command line, environment or config file.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return 2
	}
	name, args := args[0], args[1:]
	switch name {
	case "version", "--version", "-version":
		fmt.Fprintln(e.stdout, "reelay", buildVersion())
		return 0
	case "help", "-h", "--help", "-help":
		if len(args) == 0 {
			usage(e.stdout)
			return 0
		}
		return help(e.stdout, e.stderr, args[0])
	}
	cmd, ok := find(name)
	if !ok {
		fmt.Fprintf(e.stderr, "reelay: unknown command %q (see reelay help)\n", name)
		return 2
	}
	if cmd.setup == nil {
		fmt.Fprintf(e.stderr, "reelay %s: %s\n", name, cmd.missing)
		return 1
	}
	verb := ""
	if len(cmd.verbs) > 0 && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if !slices.Contains(cmd.verbs, args[0]) {
			fmt.Fprintf(e.stderr, "reelay %s: %q: want %s first\n", name, args[0], strings.Join(cmd.verbs, " or "))
			return 2
		}
		verb, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("reelay "+name, flag.ContinueOnError)
	r := cmd.setup(fs)
	if vr, ok := r.(verbRunner); ok {
		vr.setVerb(verb)
	}
	if err := loadConfigArg(fs, args, e.getenv, cmd.arg); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printFlags(e.stdout, cmd, fs)
			return 0
		}
		fmt.Fprintf(e.stderr, "reelay %s: %v\n", name, err)
		return 2
	}
	if err := r.validate(); err != nil {
		fmt.Fprintf(e.stderr, "reelay %s: %v\n", name, err)
		return 2
	}
	if err := r.run(ctx, e); err != nil {
		fmt.Fprintf(e.stderr, "reelay %s: %s\n", name, oneLine(err))
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// oneLine folds a multi-line error (pgx lists every address it tried) into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

func find(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprint(w, "reelay delivers short vertical video: upload, transcode, cache at the edge, feed.\n\nUsage: reelay <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'reelay help <command>' for its flags.\n")
}

func help(stdout, stderr io.Writer, name string) int {
	cmd, ok := find(name)
	if !ok {
		fmt.Fprintf(stderr, "reelay: unknown command %q (see reelay help)\n", name)
		return 2
	}
	if cmd.setup == nil {
		fmt.Fprintf(stdout, "Usage: reelay %s\n\n%s.\n", name, cmd.summary)
		if cmd.missing != "" {
			fmt.Fprintf(stdout, "Not available in this build: %s.\n", cmd.missing)
		}
		return 0
	}
	fs := flag.NewFlagSet("reelay "+name, flag.ContinueOnError)
	cmd.setup(fs)
	printFlags(stdout, cmd, fs)
	return 0
}

func printFlags(w io.Writer, cmd command, fs *flag.FlagSet) {
	name, arg := cmd.name, ""
	if len(cmd.verbs) > 0 {
		name += " " + strings.Join(cmd.verbs, "|")
	}
	if cmd.arg != "" {
		arg = " " + strings.ToUpper(cmd.arg)
	}
	fmt.Fprintf(w, "Usage: reelay %s [flags]%s\n\n%s.\n\n", name, arg, strings.ToUpper(cmd.summary[:1])+cmd.summary[1:])
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	// The example names one of the command's own flags.
	example := ""
	for _, n := range append([]string{"api-addr", "addr", "store", "db"}, names...) {
		if fs.Lookup(n) != nil {
			example = n
			break
		}
	}
	if example == "" {
		return
	}
	fmt.Fprintf(w, "Each flag may also be set by a REELAY_<FLAG> environment variable (%s is\n"+
		"%s) or by a key of the YAML file given to --config. Flags beat the\n"+
		"environment, which beats the file, which beats the defaults.\n\nFlags:\n", example, envName(example))
	for _, n := range names {
		f := fs.Lookup(n)
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s\n        %s (default %s)\n", f.Name, f.Usage, def)
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "unknown"
}
