package manifest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// ErrNoBash is returned by CheckShell when bash is not on the PATH: shell
// syntax is then not checked, which is worth a note but not a failure.
var ErrNoBash = errors.New("bash is not on the PATH; shell syntax was not checked")

// posixShells are the interpreters whose scripts `bash -n` can judge.
var posixShells = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true}

// IsShell reports whether body is a POSIX shell script: its shebang names
// sh, bash, dash or ash (directly or through env), or it has no shebang,
// which Paperspace runs with sh.
func IsShell(body string) bool {
	first, _, _ := strings.Cut(body, "\n")
	if !strings.HasPrefix(first, "#!") {
		return true
	}
	fields := strings.Fields(strings.TrimPrefix(first, "#!"))
	if len(fields) == 0 {
		return true
	}
	interp := path.Base(fields[0])
	if interp == "env" {
		interp = ""
		for _, f := range fields[1:] {
			// Skip env's options and VAR=value assignments.
			if strings.HasPrefix(f, "-") || strings.Contains(f, "=") {
				continue
			}
			interp = path.Base(f)
			break
		}
	}
	return posixShells[interp]
}

// CheckShell runs `bash -n` (parse only, never execute) on every script
// that IsShell, and returns a diagnostic per syntax error, positioned at
// the script's own line: in its file, or in the manifest for an inline
// "|" block. The messages of sensitive scripts are withheld, since bash
// quotes the offending source. Scripts are checked concurrently, results
// are in script order. It returns ErrNoBash (and no diagnostics) when
// bash is missing, and ctx's error when cancelled.
func CheckShell(ctx context.Context, m *Manifest) ([]Diagnostic, error) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		return nil, ErrNoBash
	}
	results := make([][]Diagnostic, len(m.Scripts))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range m.Scripts {
		s := &m.Scripts[i]
		if !IsShell(s.Body) {
			continue
		}
		g.Go(func() error {
			ds, err := checkOne(ctx, bash, s)
			results[i] = ds
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []Diagnostic
	for _, ds := range results {
		out = append(out, ds...)
	}
	return out, nil
}

// bashError matches one line of `bash -n /dev/stdin`'s complaints.
var bashError = regexp.MustCompile(`^/dev/stdin: line (\d+): (.*)$`)

func checkOne(ctx context.Context, bash string, s *Script) ([]Diagnostic, error) {
	// A clean environment: no BASH_ENV or ENV to source, stable messages.
	cmd := exec.CommandContext(ctx, bash, "--norc", "--noprofile", "-n", "/dev/stdin")
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(s.Body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var exit *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exit) {
		return nil, fmt.Errorf("check script %q: run bash: %w", s.Name, runErr)
	}
	var out []Diagnostic
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		line := sc.Text()
		n, msg := 0, line
		if m := bashError.FindStringSubmatch(line); m != nil {
			n, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		if strings.HasPrefix(msg, "`") && strings.HasSuffix(msg, "'") {
			continue // bash echoing the offending source line
		}
		if s.Sensitive {
			msg = "shell syntax error (details withheld: the script is sensitive)"
		}
		msg = printable(msg)
		out = append(out, shellDiagnostic(s, n, msg))
	}
	if len(out) == 0 && runErr != nil {
		// bash failed without saying where; still report it.
		out = append(out, shellDiagnostic(s, 0, "bash -n failed: "+runErr.Error()))
	}
	return out, nil
}

// shellDiagnostic positions a complaint about line n (0: unknown) of s.
func shellDiagnostic(s *Script, n int, msg string) Diagnostic {
	at := s.BodyPos
	if s.File == "" {
		msg = fmt.Sprintf("script %q: %s", s.Name, msg)
	}
	switch {
	case n == 0:
	case at.Column == 0 && at.Line > 0:
		at.Line += n - 1
	default:
		msg = fmt.Sprintf("%s (line %d of the script)", msg, n)
	}
	return Diagnostic{Pos: at, Message: msg}
}

// printable escapes control characters bash may echo from the script, so
// a script cannot send terminal escape sequences to whoever reads the
// output (a CI log, a terminal).
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 }
