package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/render"
)

// output is an --output value: a render format, or github (the text view
// for the log, then GitHub Actions workflow commands that annotate the
// pull request).
type output struct {
	format render.Format
	github bool
}

const outputGitHub = "github"

// parseOutput reads --output; kong's enum has already limited it to what
// the command accepts.
func parseOutput(s string) (output, error) {
	if s == outputGitHub {
		return output{format: render.Text, github: true}, nil
	}
	f, err := render.ParseFormat(s)
	return output{format: f}, err
}

// run runs a command whose output is o, so that a failure is still a
// document of that format: with json, {"formatVersion", "errors": [...]}
// on stdout unless the command already wrote its document; with github,
// an ::error workflow command per problem (one per manifest problem, on
// its line). The exit code is the command's in every format.
func (o output) run(streams *IO, formatVersion int, f func(*IO) error) error {
	out := streams.Stdout
	counted := &countingWriter{w: out}
	if o.format == render.JSON {
		streams.Stdout = counted
		defer func() { streams.Stdout = out }()
		// A bug that panics still leaves a failure document; main's
		// handler then reports the panic and exits 1.
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if _, ok := r.(kongExit); !ok && counted.n == 0 {
				_ = render.WriteJSON(out, render.NewJSONErrors(formatVersion, fmt.Errorf("internal error: %v (a bug in psync)", r)))
			}
			panic(r)
		}()
	}
	err := f(streams)
	var ee *exitError
	if err == nil || errors.As(err, &ee) && ee.Err == nil {
		return err // success, or a failure the command has reported
	}
	switch {
	case o.format == render.JSON && counted.n == 0:
		if werr := render.WriteJSON(out, render.NewJSONErrors(formatVersion, err)); werr != nil {
			return errors.Join(err, werr)
		}
	case o.github:
		if werr := render.WriteAnnotations(streams.Stdout, errorAnnotations(err)); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

// errorAnnotations is err as ::error commands, one per error the JSON view
// lists: a manifest problem (the planner's unknown machine ids too) at its
// line and column, anything else on its own.
func errorAnnotations(err error) []render.Annotation {
	var r *refusal
	if errors.As(err, &r) {
		// Its findings are warnings on their lines already.
		return []render.Annotation{{Level: "error", Title: "psync", Message: r.Error()}}
	}
	var out []render.Annotation
	for _, e := range render.NewJSONErrors(0, err).Errors {
		title := "psync"
		if e.File != "" {
			title = "psync: manifest"
		}
		out = append(out, render.Annotation{Level: "error", File: e.File, Line: e.Line, Col: e.Column, Title: title, Message: e.Message})
	}
	return out
}

// fenced writes what f writes between ::stop-commands:: and its resume
// token, so that nothing in the text view (a script body, a hostile name)
// is read by GitHub Actions as a workflow command.
func fenced(w io.Writer, f func(io.Writer) error) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	token := "psync-" + hex.EncodeToString(b[:])
	if _, err := fmt.Fprintf(w, "::stop-commands::%s\n", token); err != nil {
		return err
	}
	ferr := f(w)
	_, err := fmt.Fprintf(w, "::%s::\n", token)
	return errors.Join(ferr, err)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// invalidManifest is a manifest that failed to load: its problems were
// printed one per line; the error says how many, and unwraps to them for
// the JSON and GitHub views.
type invalidManifest struct{ errs *manifest.Errors }

func (e *invalidManifest) Error() string {
	return "manifest invalid: " + nounCount(len(e.errs.Diagnostics), "problem")
}

func (e *invalidManifest) Unwrap() error { return e.errs }

// argQuote quotes s for a shell when it needs it, so that bash, zsh and
// fish read it alike: single quotes, with a quote as '"'"' and a
// backslash as '\\' (fish reads \' and \\ inside single quotes as
// escapes, so a backslash there would end the quoting early); a plain
// word stays as it is.
func argQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r))
	}) < 0 {
		return s
	}
	return "'" + strings.NewReplacer("'", `'"'"'`, `\`, `'\\'`).Replace(s) + "'"
}

// applyCommand is the command that applies a saved plan exactly as it was
// planned: the global flags that chose the manifest, the state and the
// API, then the overrides its safety findings need.
func (g *Globals) applyCommand(overrides []string, file string) string {
	args := []string{"psync"}
	// flag adds a flag and its value; a value that starts with "-" is
	// joined to it with "=", or the parser would take it for a flag.
	flag := func(name, long, value string) {
		if strings.HasPrefix(value, "-") {
			args = append(args, long+"="+value)
			return
		}
		args = append(args, name, value)
	}
	if g.File != defaultManifest {
		flag("-f", "--file", g.File)
	}
	if g.State != "" {
		flag("--state", "--state", g.State)
	}
	switch {
	case g.Sandbox != "":
		flag("--sandbox", "--sandbox", g.Sandbox)
		if g.SandboxDialect != "" {
			flag("--sandbox-dialect", "--sandbox-dialect", g.SandboxDialect)
		}
	case g.APIURL != defaultAPIURL:
		flag("--api-url", "--api-url", g.APIURL)
	}
	if g.InsecureHTTP {
		args = append(args, "--insecure-http")
	}
	args = append(args, "apply")
	for _, o := range overrides {
		if !slices.Contains(args, o) {
			args = append(args, o)
		}
	}
	// A plan file named like a flag (--out=--prune) would otherwise make
	// the command a fresh apply with that flag.
	if strings.HasPrefix(file, "-") {
		file = "./" + file
	}
	args = append(args, file)
	for i, a := range args {
		args[i] = argQuote(a)
	}
	return strings.Join(args, " ")
}
