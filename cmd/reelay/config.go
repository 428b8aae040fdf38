package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// usageError is a bad command line, environment or config file: reported in one line, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// envName is the environment variable of a flag: api-addr is REELAY_API_ADDR.
func envName(flagName string) string {
	return "REELAY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// loadConfig fills the flags of fs in layers, each overriding the one before: the flags'
// defaults, the YAML file named by --config (or REELAY_CONFIG), REELAY_* environment
// variables, and the flags given on the command line. Validation is the caller's last step.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	return loadConfigArg(fs, args, getenv, "")
}

// loadConfigArg is loadConfig for a command that takes one positional argument, before, among
// or after its flags, as the value of the flag named arg: `reelay upload FILE` is
// `reelay upload --file FILE`. With arg "", a positional argument is an error.
func loadConfigArg(fs *flag.FlagSet, args []string, getenv func(string) string, arg string) error {
	fs.SetOutput(io.Discard)
	positional, given := "", false
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usagef("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		if arg == "" || given {
			return usagef("unexpected argument %q", fs.Arg(0))
		}
		// Parse stops at the first argument that is not a flag: take it, go on after it.
		positional, given = fs.Arg(0), true
		args = fs.Args()[1:]
	}
	explicit := map[string]string{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })
	if given {
		if _, dup := explicit[arg]; dup {
			return usagef("give the %s once: as the argument or as --%s", arg, arg)
		}
		explicit[arg] = positional
	}

	// Start again from the defaults, then apply the layers in order.
	fs.VisitAll(func(f *flag.Flag) { _ = f.Value.Set(f.DefValue) })
	path := explicit["config"]
	if path == "" {
		path = getenv(envName("config"))
	}
	if path != "" {
		if err := applyYAML(fs, path); err != nil {
			return err
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v, ok := lookup(getenv, name); ok && err == nil && f.Name != "config" {
			if serr := f.Value.Set(v); serr != nil {
				err = usagef("invalid value %q for %s: %v", v, name, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	for name, v := range explicit {
		if serr := fs.Set(name, v); serr != nil {
			return usagef("invalid value %q for --%s: %v", v, name, serr)
		}
	}
	return nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// applyYAML sets flags from a YAML mapping of flag names (api-addr or api_addr) to scalars.
// Unknown keys and non-scalar values are errors.
func applyYAML(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usagef("config: %v", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) || len(bytes.TrimSpace(b)) == 0 {
			return nil // an empty file sets nothing
		}
		return usagef("config %s: %v", path, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return usagef("config %s: line %d: want a mapping of settings", path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := strings.ReplaceAll(k.Value, "_", "-")
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return usagef("config %s: line %d: unknown key %q", path, k.Line, k.Value)
		}
		var val string
		switch v.Kind {
		case yaml.ScalarNode:
			val = v.Value
		case yaml.SequenceNode:
			items := make([]string, 0, len(v.Content))
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return usagef("config %s: line %d: %q: want a list of plain values", path, it.Line, k.Value)
				}
				items = append(items, it.Value)
			}
			val = strings.Join(items, ",")
		default:
			return usagef("config %s: line %d: %q: want a plain value", path, v.Line, k.Value)
		}
		if err := f.Value.Set(val); err != nil {
			return usagef("config %s: line %d: invalid value %q for %q: %v", path, v.Line, val, k.Value, err)
		}
	}
	return nil
}
