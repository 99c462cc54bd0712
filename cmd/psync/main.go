// Command psync manages a Paperspace team's startup scripts, custom
// templates and script assignments declaratively, from a psync.yaml
// manifest: `psync plan` shows what would change, `psync apply` makes it so.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/psync-dev/psync/internal/procs"
	"github.com/psync-dev/psync/internal/textsafe"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/render"
)

// CLI is the whole command line. Each command lives in its own file.
type CLI struct {
	Globals

	Validate ValidateCmd `cmd:"" help:"Check the manifest and its scripts without contacting the API."`
	Plan     PlanCmd     `cmd:"" help:"Show what apply would change."`
	Apply    ApplyCmd    `cmd:"" help:"Make the team match the manifest (or a saved plan)."`
	Show     ShowCmd     `cmd:"" help:"Show a saved plan (text, json or markdown) without contacting the API."`
	Import   ImportCmd   `cmd:"" help:"Write a manifest describing the team as it is (the first apply adopts it by name)."`
	State    StateCmd    `cmd:"" help:"Inspect and change the state: list, show, rm, pull, push, migrate, unlock."`
	Schema   SchemaCmd   `cmd:"" help:"Print the manifest's JSON Schema."`
	Sandbox  SandboxCmd  `cmd:"" help:"Run the embedded API sandbox."`
	Version  VersionCmd  `cmd:"" help:"Print psync's version."`

	VersionFlag versionFlag `name:"version" help:"Print psync's version and exit."`

	Completion CompletionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
}

// IO is the process's standard streams, bound into every command so tests
// can run commands in-process.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Interrupts delivers SIGINT/SIGTERM. run turns the first into the
	// cancellation of every command's context (apply then starts no new
	// change and lets those in flight finish) and exits at once on the
	// second.
	Interrupts <-chan os.Signal
	// Secrets redacts the API key (connect registers it) from all that is
	// written to Stdout and Stderr, in any encoding: a last line of
	// defence behind the client's own redaction. run creates it.
	Secrets *remote.Redactor

	// clearLive holds the live status line on screen, if any: the exit on
	// a second interrupt clears it before saying why it exits.
	clearLive atomic.Pointer[render.Progress]
}

func main() {
	procs.Raise()
	os.Exit(run(os.Args[1:], &IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}

// run parses args, runs the command and returns the process exit code. A
// panic is turned into an error message and exit 1: it never reaches the
// user as a stack dump unless --debug is given.
func run(args []string, streams *IO) (code int) {
	// Progress, the interrupt notice and --debug's request log all write
	// to stderr from different goroutines: one lock keeps lines whole.
	if streams.Secrets == nil {
		streams.Secrets = remote.NewRedactor()
	}
	if _, ok := streams.Stdout.(*redactingWriter); !ok {
		streams.Stdout = &redactingWriter{w: streams.Stdout, secrets: streams.Secrets}
	}
	if _, ok := streams.Stderr.(*syncWriter); !ok {
		streams.Stderr = &syncWriter{w: &redactingWriter{w: streams.Stderr, secrets: streams.Secrets}}
	}
	var cli CLI
	defer func() {
		if r := recover(); r != nil {
			if exit, ok := r.(kongExit); ok {
				code = int(exit)
				return
			}
			fmt.Fprintf(streams.Stderr, "psync: internal error: %v\n", r)
			if cli.Debug {
				fmt.Fprintf(streams.Stderr, "%s\n", debug.Stack())
			}
			fmt.Fprintln(streams.Stderr, "psync: this is a bug; please report it with the command you ran.")
			code = ExitError
		}
	}()
	parser, err := kong.New(&cli,
		kong.Name("psync"),
		kong.Description("Manage a Paperspace team's startup scripts, custom templates and script assignments from a manifest."),
		kong.UsageOnError(),
		kong.Help(helpPrinter),
		kong.Writers(streams.Stdout, streams.Stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.Vars{"defaultManifest": defaultManifest, "defaultAPIURL": defaultAPIURL},
	)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "psync: %v\n", err)
		return ExitError
	}
	if err := singleDashLongFlag(parser.Model.Node, args); err != nil {
		fmt.Fprintf(streams.Stderr, "psync: %v\n", err)
		return ExitError
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "psync: %v\n", err)
		return ExitError
	}

	if streams.Interrupts == nil {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		streams.Interrupts = sigs
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go handleInterrupts(streams, cancel, done)

	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(&cli.Globals, streams)
	return exitCode(err, streams.Stderr)
}

// singleDashLongFlag refuses a long flag written with one dash, as
// Terraform spells its flags (-out=FILE, -auto-approve): kong would read
// it as short flags, "-out=x" as -o "ut=x" and "-auto-approve" as -a,
// and say something that puzzles.
func singleDashLongFlag(root *kong.Node, args []string) error {
	long := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			long[f.Name] = true
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(root)
	for _, arg := range args {
		if arg == "--" {
			return nil
		}
		if len(arg) < 3 || arg[0] != '-' || arg[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(arg[1:], "=")
		if long[name] {
			return fmt.Errorf("%s: psync's long flags take two dashes: -%s", textsafe.Text(arg), textsafe.Text(arg))
		}
	}
	return nil
}

// handleInterrupts cancels the commands' context on the first interrupt, so
// that every command stops waiting (on the API, its retries, a prompt) and
// exits 130, and exits at once on the second. Until done is closed.
func handleInterrupts(streams *IO, cancel context.CancelFunc, done <-chan struct{}) {
	select {
	case <-done:
		return
	case <-streams.Interrupts:
	}
	cancel()
	select {
	case <-done:
		return
	case <-streams.Interrupts:
	}
	if p := streams.clearLive.Load(); p != nil {
		p.Close()
	}
	fmt.Fprintln(streams.Stderr, "psync: interrupted again: exiting at once (a local state's journal already records every change that completed; a remote state misses those of its last half second, which the next plan adopts by name)")
	os.Exit(ExitInterrupted)
}

// helpPrinter is kong's, except that commands that take none of the
// global flags (the sandbox server: no manifest, no state, no API to call)
// list only their own, and --debug and --help.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	if keep, ok := globalsInHelp(ctx.Selected()); ok {
		for _, f := range ctx.Model.Flags {
			if !f.Hidden && f.Name != "help" && !slices.Contains(keep, f.Name) {
				f.Hidden = true
				defer func() { f.Hidden = false }()
			}
		}
	}
	return kong.DefaultHelpPrinter(options, ctx)
}

// globalsInHelp says which global flags the help of cmd shows, for the
// commands that do not use them all: ok is false for those that do.
func globalsInHelp(cmd *kong.Node) (keep []string, ok bool) {
	if cmd == nil {
		return nil, false
	}
	path := cmd.FullPath()
	if keep, ok := ownGlobals[path]; ok {
		return keep, true
	}
	if path == "psync state" || strings.HasPrefix(path, "psync state ") {
		// They never call the API: only where the state is matters.
		return []string{"file", "state", "no-color"}, true
	}
	return nil, false
}

// ownGlobals are commands whose help shows only these global flags (the
// others do not apply to them).
var ownGlobals = map[string][]string{
	"psync sandbox serve": {"debug"},
	"psync show":          {"no-color"},
	"psync schema":        nil,
	"psync version":       nil,
	"psync completion":    nil,
}

// kongExit carries kong's requested exit code (after --help) out of Parse.
type kongExit int

// Exit codes, as documented in the README.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitChanges     = 2
	ExitRefused     = 3
	ExitInterrupted = 130
)

// exitError is an error with a specific exit code. A nil Err means the
// command already reported everything and only the code matters.
type exitError struct {
	Code int
	Err  error
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *exitError) Unwrap() error { return e.Err }

// withCode gives err the exit code code. withCode(code, nil) exits quietly.
func withCode(code int, err error) error { return &exitError{Code: code, Err: err} }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(stderr, "psync: %s%s\n", textsafe.Text(ee.Err.Error()), hint(ee.Err))
		}
		return ee.Code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "psync: interrupted")
		return ExitInterrupted
	}
	// An error may quote the API, the state file or the manifest: nothing
	// in it may move the cursor or forge a line.
	fmt.Fprintf(stderr, "psync: %s%s\n", textsafe.Text(err.Error()), hint(err))
	return ExitError
}

// hint names the setting to check when the API refused the key or could
// not be reached at all.
func hint(err error) string {
	var re *remote.Error
	if !errors.As(err, &re) {
		return ""
	}
	var netErr net.Error
	switch {
	case re.Status == http.StatusUnauthorized || re.Status == http.StatusForbidden:
		return "; check the key in " + keyEnv
	case re.Status == 0 && errors.As(re.Err, &netErr):
		return "; check the API URL (--api-url or PAPERSPACE_API_URL)"
	}
	return ""
}

// redactingWriter writes to w with every secret redacted. Each Write is
// redacted whole: psync formats a value within one write, so a secret is
// never split across two.
type redactingWriter struct {
	w       io.Writer
	secrets *remote.Redactor
}

func (r *redactingWriter) Write(p []byte) (int, error) {
	if _, err := r.w.Write(r.secrets.RedactBytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// syncWriter serialises writes to w; isTerminal looks through it.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
