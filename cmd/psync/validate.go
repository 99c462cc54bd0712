package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/psync-dev/psync/internal/textsafe"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/render"
)

// ValidateCmd checks the manifest, its script files and their shell syntax
// without contacting the API.
type ValidateCmd struct {
	Output string `name:"output" short:"o" enum:"text,json,github" default:"text" help:"Output format: text, json ({\"valid\", \"errors\"}) or github (annotations for GitHub Actions)."`
}

// Run loads the manifest and runs `bash -n` on its shell scripts. Every
// problem goes to stderr as file:line:column: message and the exit code is
// 1; a valid manifest prints a one-line summary to stdout. With json, the
// problems are one document on stdout; with github, one ::error workflow
// command each, on its line.
func (c *ValidateCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	o, err := parseOutput(c.Output)
	if err != nil {
		return err
	}
	m, diags, err := validate(ctx, g.File, streams)
	var invalid *manifest.Errors
	if errors.As(err, &invalid) {
		diags = invalid.Diagnostics // printed to stderr by loadManifest
	}
	switch {
	case o.format == render.JSON:
		doc := render.NewJSONValidation(diags)
		if err != nil && invalid == nil {
			// The manifest could not be read at all.
			doc.Valid, doc.Errors = false, render.NewJSONErrors(render.ValidationFormatVersion, err).Errors
		}
		if werr := render.WriteJSON(streams.Stdout, doc); werr != nil {
			return errors.Join(err, werr)
		}
	case o.github && err != nil:
		if werr := render.WriteAnnotations(streams.Stdout, errorAnnotations(err)); werr != nil {
			return errors.Join(err, werr)
		}
	case o.github:
		if werr := render.WriteAnnotations(streams.Stdout, render.DiagnosticAnnotations(diags)); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if len(diags) > 0 {
		if o.format == render.Text {
			for _, d := range diags {
				fmt.Fprintln(streams.Stderr, textsafe.Text(d.String()))
			}
		}
		return withCode(ExitError, fmt.Errorf("shell scripts invalid: %s", nounCount(len(diags), "syntax error")))
	}
	if o.format == render.Text {
		machines := map[string]bool{}
		selectors := 0
		for _, a := range m.Assignments {
			for _, id := range a.Machines {
				machines[id] = true
			}
			selectors += len(a.Select)
		}
		to := nounCount(len(machines), "machine")
		if selectors > 0 {
			// Resolved at plan time, against the team's machines.
			to += " and " + nounCount(selectors, "selector")
		}
		fmt.Fprintf(streams.Stdout, "%s: OK (%s, %s, %s to %s)\n", g.File,
			nounCount(len(m.Scripts), "script"), nounCount(len(m.Templates), "template"),
			nounCount(len(m.Assignments), "assignment"), to)
	}
	return nil
}

// validate loads the manifest and checks its shell scripts: it returns
// the shell syntax errors, or loadManifest's error.
func validate(ctx context.Context, path string, streams *IO) (*manifest.Manifest, []manifest.Diagnostic, error) {
	m, err := loadManifest(path, streams)
	if err != nil {
		return nil, nil, err
	}
	diags, err := manifest.CheckShell(ctx, m)
	switch {
	case errors.Is(err, manifest.ErrNoBash):
		fmt.Fprintf(streams.Stderr, "psync: note: %v\n", err)
	case err != nil:
		return nil, nil, err
	}
	manifest.SortDiagnostics(diags)
	return m, diags, nil
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
		return nil, withCode(ExitError, &invalidManifest{errs: invalid})
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
