// Package cli is the gintoki command line: it parses a subcommand's
// settings and runs the fx application made of that subcommand's modules.
package cli

import (
	"go.uber.org/dig"

	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/gintoki/gintoki/infrastructure/buildinfo"
	"github.com/gintoki/gintoki/infrastructure/config"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// command is one subcommand: its flags and the fx options it runs.
type command struct {
	summary string
	// setup registers the flags on s and returns a function building the
	// app's options once the flags are parsed.
	setup func(s *config.Set, env Env) func() ([]fx.Option, error)
	// oneShot commands stop by themselves once their invokes have run.
	oneShot bool
}

// Env is what a run sees of the outside world.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Signals ends a long-running command; nil means SIGINT/SIGTERM.
	Signals <-chan os.Signal
}

func commands() map[string]command {
	return map[string]command{
		"serve":   serveCommand(),
		"gateway": gatewayCommand(),
		"demo":    demoCommand(),
		"migrate": migrateCommand(),
		"seed":    seedCommand(),
		"flush":   flushCommand(),
		"relay":   relayCommand(),
	}
}

// Main runs gintoki with args (without the program name) and returns the
// process exit code.
func Main(args []string, env Env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stderr, cmds)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	name := args[0]
	if name == "version" || name == "--version" {
		return printVersion(args[1:], env)
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(env.Stderr, "gintoki: unknown command %q (try: gintoki help)\n", name)
		return ExitUsage
	}
	set := config.NewSet(name, cmd.summary)
	build := cmd.setup(set, env)
	if err := set.Parse(args[1:], env.Getenv); err != nil {
		if errors.Is(err, config.ErrHelp) {
			set.Usage(env.Stdout)
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "gintoki %s: %v\n", name, err)
		return ExitUsage
	}
	opts, err := build()
	if err != nil {
		fmt.Fprintf(env.Stderr, "gintoki %s: %v\n", name, err)
		return ExitUsage
	}
	return run(name, opts, cmd.oneShot, env)
}

func run(name string, opts []fx.Option, oneShot bool, env Env) int {
	opts = append(opts, fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }))
	app := fx.New(opts...)
	if err := app.Err(); err != nil {
		fmt.Fprintf(env.Stderr, "gintoki %s: %v\n", name, rootCause(err))
		return ExitFailed
	}
	startCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		fmt.Fprintf(env.Stderr, "gintoki %s: start: %v\n", name, rootCause(err))
		return ExitFailed
	}
	code := ExitOK
	if !oneShot {
		sigs := env.Signals
		if sigs == nil {
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(ch)
			sigs = ch
		}
		select {
		case <-sigs:
		case sig := <-app.Wait():
			code = sig.ExitCode
		}
	}
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		fmt.Fprintf(env.Stderr, "gintoki %s: stop: %v\n", name, err)
		if code == ExitOK {
			code = ExitFailed
		}
	}
	return code
}

// rootCause trims fx's long dependency chains ("could not build arguments
// for function ...") down to the error the failing constructor or start
// hook returned, which says what failed and what to check.
func rootCause(err error) error { return dig.RootCause(err) }

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "gintoki: product inventory reads from an in-process cache kept fresh by database change events.")
	fmt.Fprintln(w, "\nUsage: gintoki <command> [flags]   (gintoki <command> --help lists its flags)")
	fmt.Fprintln(w, "\nCommands:")
	var names []string
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, firstLine(cmds[n].summary))
	}
	fmt.Fprintf(w, "  %-8s %s\n", "version", versionSummary)
}

const versionSummary = "Print the version, VCS revision and Go version of this binary (as gintoki_build_info reports them)."

// printVersion takes no flags: anything after it is a usage error, except a
// request for help.
func printVersion(args []string, env Env) int {
	if len(args) > 0 {
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(env.Stdout, "Usage: gintoki version\n\n%s\n", versionSummary)
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "gintoki version: takes no arguments, got %q\n", args)
		return ExitUsage
	}
	fmt.Fprintln(env.Stdout, buildinfo.Get())
	return ExitOK
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
