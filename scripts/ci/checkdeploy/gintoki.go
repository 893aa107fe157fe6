package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// gintoki is the binary whose flags the deployment files must use.
type gintoki interface {
	// Help is the output of `gintoki <sub> --help`; an error for an
	// unknown subcommand.
	Help(sub string) (string, error)
	// Try runs `gintoki <sub> <args...> --help` with env as its only
	// environment: the flags and variables are parsed (types checked),
	// then the help stops it. The error carries what the binary said.
	Try(sub string, args []string, env map[string]string) error
}

type execGintoki struct{ path string }

func newExecGintoki(path string) execGintoki { return execGintoki{path: path} }

func (g execGintoki) Help(sub string) (string, error) {
	return g.run(append([]string{sub}, "--help"), nil)
}

func (g execGintoki) Try(sub string, args []string, env map[string]string) error {
	_, err := g.run(append(append([]string{sub}, args...), "--help"), env)
	return err
}

func (g execGintoki) run(args []string, env map[string]string) (string, error) {
	cmd := exec.Command(g.path, args...)
	cmd.Env = []string{} // nothing from this shell may fill in a flag
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// helpLine matches one flag of --help: "  --name  (GINTOKI_NAME, default x)".
var helpLine = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)  \((GINTOKI_[A-Z0-9_]+), default `)

// surface is what one subcommand accepts.
type surface struct {
	flags map[string]bool
	envs  map[string]bool
}

func parseHelp(help string) surface {
	s := surface{flags: map[string]bool{"help": true, "h": true}, envs: map[string]bool{}}
	for _, m := range helpLine.FindAllStringSubmatch(help, -1) {
		s.flags[m[1]] = true
		s.envs[m[2]] = true
	}
	return s
}

// invocation is one place that runs gintoki.
type invocation struct {
	where string
	sub   string
	// args are the arguments after the subcommand.
	args []string
	// env holds the GINTOKI_* variables with literal values; envNames
	// every GINTOKI_* variable set, also those from secrets.
	env      map[string]string
	envNames []string
	// exact: args and env are what runs (manifests), so values are
	// checked too; prose examples are checked by name only.
	exact bool
}

// flagNames returns the names of the flags in args (-x, --x, --x=v).
func flagNames(args []string) []string {
	var names []string
	for _, a := range args {
		if len(a) < 2 || a[0] != '-' || !isLetter(strings.TrimLeft(a, "-")) {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		names = append(names, name)
	}
	return names
}

func isLetter(s string) bool { return s != "" && s[0] >= 'a' && s[0] <= 'z' }

// flagValue returns the value given to --name in args, and whether it is.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		n := strings.TrimLeft(a, "-")
		if n == a {
			continue
		}
		if k, v, ok := strings.Cut(n, "="); ok && k == name {
			return v, true
		}
		if n == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// setting is what an invocation sets for a flag, by argument or variable.
func (inv invocation) setting(flagName string) (string, bool) {
	if v, ok := flagValue(inv.args, flagName); ok {
		return v, true
	}
	v, ok := inv.env[envName(flagName)]
	return v, ok
}

func envName(flagName string) string {
	return "GINTOKI_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// checkInvocations compares every invocation with the binary's help.
func (c *checker) checkInvocations(invs []invocation) {
	surfaces := map[string]*surface{}
	for _, inv := range invs {
		c.stats.invocations++
		s, ok := surfaces[inv.sub]
		if !ok {
			if help, err := c.gintoki.Help(inv.sub); err == nil {
				parsed := parseHelp(help)
				s = &parsed
			}
			surfaces[inv.sub] = s
		}
		if s == nil {
			c.problem("%s: `gintoki %s`: no such subcommand", inv.where, inv.sub)
			continue
		}
		bad := false
		for _, f := range flagNames(inv.args) {
			if !s.flags[f] {
				c.problem("%s: `gintoki %s` has no flag --%s", inv.where, inv.sub, f)
				bad = true
			}
		}
		for _, e := range inv.envNames {
			if !s.envs[e] {
				c.problem("%s: `gintoki %s` reads no variable %s (it would be ignored)", inv.where, inv.sub, e)
				bad = true
			}
		}
		if inv.exact && !bad {
			if err := c.gintoki.Try(inv.sub, inv.args, inv.env); err != nil {
				c.problem("%s: `gintoki %s` refuses its settings: %v", inv.where, inv.sub, err)
			}
		}
	}
}

// knownEnvs is every GINTOKI_* variable of every subcommand named.
func (c *checker) knownEnvs(subs []string) map[string]bool {
	all := map[string]bool{}
	for _, sub := range subs {
		help, err := c.gintoki.Help(sub)
		if err != nil {
			continue
		}
		for e := range parseHelp(help).envs {
			all[e] = true
		}
	}
	return all
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
