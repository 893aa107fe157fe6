// Package config turns flags and GINTOKI_* environment variables into typed
// settings. Every flag has an environment twin; a flag given on the command
// line wins over the environment, which wins over the default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// ErrHelp is returned when the user asked for --help; the caller prints the
// usage and exits 0.
var ErrHelp = flag.ErrHelp

// Set is the flags of one subcommand.
type Set struct {
	name    string
	summary string
	fs      *flag.FlagSet
	checks  []func() error
	secrets map[string]bool
}

// NewSet starts the flags of subcommand name.
func NewSet(name, summary string) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage printed by the caller
	return &Set{name: name, summary: summary, fs: fs}
}

// EnvName is the environment variable of a flag: GINTOKI_ + upper snake case.
func EnvName(flagName string) string {
	return "GINTOKI_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// String registers a string flag.
func (s *Set) String(p *string, name, def, usage string) { s.fs.StringVar(p, name, def, usage) }

// Secret registers a string flag that may hold a secret: no message ever
// repeats its value.
func (s *Set) Secret(p *string, name, def, usage string) {
	s.fs.StringVar(p, name, def, usage)
	if s.secrets == nil {
		s.secrets = map[string]bool{}
	}
	s.secrets[name] = true
}

// Int registers an int flag.
func (s *Set) Int(p *int, name string, def int, usage string) { s.fs.IntVar(p, name, def, usage) }

// Float registers a float flag.
func (s *Set) Float(p *float64, name string, def float64, usage string) {
	s.fs.Float64Var(p, name, def, usage)
}

// Bool registers a bool flag.
func (s *Set) Bool(p *bool, name string, def bool, usage string) { s.fs.BoolVar(p, name, def, usage) }

// Duration registers a duration flag.
func (s *Set) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	s.fs.DurationVar(p, name, def, usage)
}

// List registers a comma-separated list flag.
func (s *Set) List(p *[]string, name, def, usage string) {
	*p = splitList(def)
	s.fs.Func(name, usage+" (comma-separated)", func(v string) error {
		*p = splitList(v)
		return nil
	})
	s.fs.Lookup(name).DefValue = def
}

// Check adds a validation run after parsing.
func (s *Set) Check(f func() error) { s.checks = append(s.checks, f) }

// Parse reads env (through getenv) and then args. Errors name the flag or
// variable at fault in one line.
//
// A variable may also be given as a file: when GINTOKI_X is unset and
// GINTOKI_X_FILE names a file, the file's contents (less a trailing
// newline) are the value, as container platforms mount secrets. A flag
// named x-file of its own (--db-password-file) takes its variable instead.
func (s *Set) Parse(args []string, getenv func(string) string) error {
	var envErr error
	s.fs.VisitAll(func(f *flag.Flag) {
		if envErr != nil {
			return
		}
		env := EnvName(f.Name)
		v := getenv(env)
		if v == "" && s.fs.Lookup(f.Name+"-file") == nil {
			if path := getenv(env + "_FILE"); path != "" {
				fv, err := ReadSecretFile(path)
				if err != nil {
					envErr = fmt.Errorf("%s_FILE: %v", env, err)
					return
				}
				env, v = env+"_FILE", fv
			}
		}
		if v != "" {
			if err := f.Value.Set(v); err != nil {
				shown := fmt.Sprintf("%q", v)
				if s.secrets[f.Name] {
					shown = "(secret)"
				}
				envErr = fmt.Errorf("%s=%s: %v", env, shown, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return err
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", s.fs.Arg(0))
	}
	for _, c := range s.checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// Usage writes the subcommand's help: every flag, its variable and default.
func (s *Set) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: gintoki %s [flags]\n\n%s\n\nFlags (each also read from its environment variable):\n", s.name, s.summary)
	var flags []*flag.Flag
	s.fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s  (%s, default %s)\n      %s\n", f.Name, EnvName(f.Name), def, f.Usage)
	}
}

// Rows returns (flag, env, default, usage) of every flag, for docs.
func (s *Set) Rows() [][4]string {
	var rows [][4]string
	s.fs.VisitAll(func(f *flag.Flag) {
		rows = append(rows, [4]string{"--" + f.Name, EnvName(f.Name), f.DefValue, f.Usage})
	})
	return rows
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
