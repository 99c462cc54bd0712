package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/psync-dev/psync/internal/textsafe"
	"github.com/psync-dev/psync/pkg/manifest"
)

// ValidateCmd checks the manifest, its script files and their shell syntax
// without contacting the API.
type ValidateCmd struct{}

// Run loads the manifest and runs `bash -n` on its shell scripts. Every
// problem goes to stderr as file:line:column: message and the exit code is
// 1; a valid manifest prints a one-line summary to stdout.
func (c *ValidateCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	m, err := loadManifest(g.File, streams)
	if err != nil {
		return err
	}
	diags, err := manifest.CheckShell(ctx, m)
	switch {
	case errors.Is(err, manifest.ErrNoBash):
		fmt.Fprintf(streams.Stderr, "psync: note: %v\n", err)
	case err != nil:
		return err
	}
	if len(diags) > 0 {
		manifest.SortDiagnostics(diags)
		for _, d := range diags {
			fmt.Fprintln(streams.Stderr, textsafe.Text(d.String()))
		}
		fmt.Fprintf(streams.Stderr, "psync: shell scripts invalid: %s\n", nounCount(len(diags), "syntax error"))
		return withCode(ExitError, nil)
	}
	machines := map[string]bool{}
	for _, a := range m.Assignments {
		for _, id := range a.Machines {
			machines[id] = true
		}
	}
	fmt.Fprintf(streams.Stdout, "%s: OK (%s, %s, %s to %s)\n", g.File,
		nounCount(len(m.Scripts), "script"), nounCount(len(m.Templates), "template"),
		nounCount(len(m.Assignments), "assignment"), nounCount(len(machines), "machine"))
	return nil
}

// loadManifest loads the manifest; when it is invalid, every problem is
// printed on a line of its own, as file:line:column: message.
func loadManifest(path string, streams *IO) (*manifest.Manifest, error) {
	m, err := manifest.Load(path)
	var invalid *manifest.Errors
	if errors.As(err, &invalid) {
		for _, d := range invalid.Diagnostics {
			fmt.Fprintln(streams.Stderr, textsafe.Text(d.String()))
		}
		return nil, withCode(ExitError, fmt.Errorf("manifest invalid: %s", nounCount(len(invalid.Diagnostics), "problem")))
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			// Most often psync was run in the wrong directory, or before
			// any manifest was written.
			return nil, fmt.Errorf("%w (name the manifest with -f FILE|DIR, or write one describing the team with 'psync import')", err)
		}
	}
	return m, err
}

// nounCount is "1 script", "2 scripts".
func nounCount(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
