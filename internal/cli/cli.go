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
	// Args names the positional arguments for the synopsis ("HOOK:UNIT...");
	// empty when the command takes none, and then parseFlags refuses any.
	Args string
	// Help, when set, follows the summary in -h: what goes in and comes out.
	Help string
	// Run parses args with its own FlagSet and does the work. Returning
	// errUsage prints the command's usage.
	Run func(args []string) error
}

// Synopsis is the command's one-line usage: "glia atlas show [flags] HOOK:UNIT...".
func (c *Command) Synopsis() string {
	s := "glia " + c.Name + " [flags]"
	if c.Args != "" {
		s += " " + c.Args
	}
	return s
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

// errUsage asks Main to exit 2: the command has already printed its usage
// (or the flag package printed the error and the synopsis).
var errUsage = errors.New("usage")

// usageError is a mistake in how a command was called: Main prints it with
// the command's synopsis, as git does, and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef reports a usage mistake: what is missing or wrong, in words.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// Main runs the command named by args and returns the process exit code.
func Main(args []string) int {
	warnIfSlowBuild()
	// The command owns its process, so it may put glia's kernels under
	// GoMLX's backend (a library importing engine gets the stock ones). It
	// fails only where a test built the backend before calling Main.
	_ = engine.UseCPUKernels(true)
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version" || args[0] == "-v") {
		args = []string{"version"}
	}
	// Longest match: "atlas build" before "atlas".
	for n := min(len(args), 2); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		if c, ok := commands[name]; ok {
			if n == 1 && len(args) > 1 && !strings.HasPrefix(args[1], "-") && isGroup(name) {
				// "glia atlas biuld": a typo in a sub-command, not an argument.
				if _, ok := commands[name+" "+args[1]]; !ok && c.Args == "" {
					return unknownCommand(args[:2])
				}
			}
			return finish(c, c.Run(args[n:]))
		}
	}
	if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
		return unknownCommand(args)
	}
	if len(args) > 1 { // glia help CMD
		if c, ok := commands[strings.Join(args[1:min(len(args), 3)], " ")]; ok {
			return finish(c, c.Run([]string{"-h"}))
		}
	}
	usage(Stdout)
	return 0
}

// finish turns a command's error into output and an exit code.
func finish(c *Command, err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &ue):
		fmt.Fprintf(Stderr, "glia %s: %s\nusage: %s\nRun 'glia %s -h' for its flags.\n", c.Name, ue.msg, c.Synopsis(), c.Name)
		return 2
	default:
		fmt.Fprintf(Stderr, "glia %s: %s\n", c.Name, withFlags(err))
		return 1
	}
}

// isGroup says whether name has sub-commands ("atlas" has "atlas build").
func isGroup(name string) bool {
	for n := range commands {
		if strings.HasPrefix(n, name+" ") {
			return true
		}
	}
	return false
}

// unknownCommand says so, suggests the nearest command, and lists them.
func unknownCommand(args []string) int {
	typed := args[0]
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		typed = args[0] + " " + args[1]
	}
	fmt.Fprintf(Stderr, "glia: %q is not a glia command.\n", typed)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	// Compare like with like: "atals build" against two-word commands,
	// "expain" against one-word ones.
	var best []string
	if strings.Contains(typed, " ") {
		best = nearest(typed, names)
	}
	if len(best) == 0 {
		best = nearest(args[0], names)
	}
	if len(best) > 0 {
		fmt.Fprintf(Stderr, "\nThe most similar command is\n")
		if len(best) > 1 {
			fmt.Fprintf(Stderr, "\nThe most similar commands are\n")
		}
		for _, b := range best {
			fmt.Fprintf(Stderr, "\tglia %s\n", b)
		}
	}
	fmt.Fprintln(Stderr, "\nRun 'glia help' for the list of commands.")
	return 2
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

// newFlags makes a FlagSet that reports errors instead of exiting. A flag
// error prints one line, a "did you mean", and the synopsis; -h prints the
// synopsis, the summary and every flag.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("glia "+name, flag.ContinueOnError)
	out := &flagOutput{fs: fs, w: Stderr}
	fs.SetOutput(out)
	fs.Usage = func() {
		c := commands[name]
		if c == nil {
			c = &Command{Name: name}
		}
		if out.failed {
			out.failed = false
			fmt.Fprintf(Stderr, "usage: %s\nRun 'glia %s -h' for its flags.\n", c.Synopsis(), name)
			return
		}
		fmt.Fprintf(Stderr, "usage: %s\n\n", c.Synopsis())
		if c.Summary != "" {
			fmt.Fprintf(Stderr, "%s.\n\n", strings.ToUpper(c.Summary[:1])+c.Summary[1:])
		}
		if c.Help != "" {
			fmt.Fprintf(Stderr, "%s\n\n", c.Help)
		}
		fmt.Fprintln(Stderr, "Flags:")
		out.usage = true
		fs.PrintDefaults()
		out.usage = false
	}
	return fs
}

// flagOutput is a FlagSet's output. The flag package writes an error line and
// then calls Usage; the line marks the usage as brief and gets a suggestion
// when it names an unknown flag.
type flagOutput struct {
	fs     *flag.FlagSet
	w      io.Writer
	usage  bool // inside PrintDefaults
	failed bool // an error line was written since the last usage
}

func (o *flagOutput) Write(p []byte) (int, error) {
	if o.usage {
		return o.w.Write(p)
	}
	o.failed = true
	msg := strings.TrimSpace(string(p))
	if bad, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		bad = strings.TrimLeft(bad, "-")
		msg = "unknown flag --" + bad
		var names []string
		o.fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if best := nearest(bad, names); len(best) > 0 {
			msg += "; did you mean --" + strings.Join(best, " or --") + "?"
		}
	}
	fmt.Fprintf(o.w, "%s: %s\n", o.fs.Name(), msg)
	return len(p), nil
}

// parseFlags parses a command's flags, interleaved with positional arguments
// as git allows, and refuses positional arguments when the command takes none.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(fs.Name(), "glia ")
	if c := commands[name]; c != nil && c.Args == "" && len(pos) > 0 {
		return nil, usagef("unexpected argument %q (this command takes flags only; quote text that has spaces)", pos[0])
	}
	return pos, nil
}

// parseInterleaved parses flags that may come before or after positional
// arguments, returning the positional ones. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage // already printed, with the synopsis
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// isSet says whether the flag was given on the command line (even empty).
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// nearest returns the candidates closest to s by edit distance, when close
// enough to be a typo: at most 2 edits, and fewer than half of s.
func nearest(s string, candidates []string) []string {
	best, bestD := []string(nil), 3
	for _, c := range candidates {
		d := editDistance(s, c)
		if d*2 >= len(s) || d > bestD {
			continue
		}
		if d < bestD {
			best, bestD = nil, d
		}
		best = append(best, c)
	}
	sort.Strings(best)
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours ("atals") cost one each.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// stringList is a repeatable string flag (--hook A --hook B).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
