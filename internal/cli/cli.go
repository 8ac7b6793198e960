// Package cli implements glia's subcommands. Each subcommand lives in its own
// file and registers itself from init; main only calls Main.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/glia-dev/glia/engine"
)

// Command is one subcommand ("run") or one sub-subcommand ("atlas build").
type Command struct {
	Name    string // space-separated path, e.g. "atlas build"
	Summary string // one line for the command list
	// Run parses args with its own FlagSet and does the work. Returning
	// errUsage prints the command's usage.
	Run func(args []string) error
}

var commands = map[string]*Command{}

// Register adds a command; registering a name twice is a programming error.
func Register(c *Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

// Stdout and Stderr are variables so tests can capture output.
var (
	Stdout io.Writer = os.Stdout
	Stderr io.Writer = os.Stderr
	Stdin  io.Reader = os.Stdin
)

// errUsage asks Main to print the command's flag usage.
var errUsage = errors.New("usage")

// Main runs the command named by args and returns the process exit code.
func Main(args []string) int {
	warnIfSlowBuild()
	// The command owns its process, so it may put glia's kernels under
	// GoMLX's backend (a library importing engine gets the stock ones). It
	// fails only where a test built the backend before calling Main.
	_ = engine.UseCPUKernels(true)
	// Longest match: "atlas build" before "atlas".
	for n := min(len(args), 2); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		if c, ok := commands[name]; ok {
			err := c.Run(args[n:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			default:
				fmt.Fprintf(Stderr, "glia %s: %v\n", name, err)
				return 1
			}
		}
	}
	if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
		fmt.Fprintf(Stderr, "glia: unknown command %q\n\n", strings.Join(args, " "))
		usage(Stderr)
		return 2
	}
	usage(Stdout)
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "glia: a neuron-level interpretability engine for transformer models")
	fmt.Fprintln(w, "\nUsage: glia <command> [flags]   (glia <command> -h for its flags)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, commands[n].Summary)
	}
}

// newFlags makes a FlagSet that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("glia "+name, flag.ContinueOnError)
	fs.SetOutput(Stderr)
	return fs
}

// stringList is a repeatable string flag (--hook A --hook B).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
