package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/psync-dev/psync/pkg/render"
)

// shellWords splits a command line the way a POSIX shell splits what
// applyCommand prints: words, single-quoted strings in which '"'"'
// is a quote, and a backslash outside quotes escaping the next byte.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	in, quote, open := false, byte(0), false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			in = true
		case c == ' ':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
		open = quote != 0
	}
	if open {
		t.Fatalf("unterminated quote in %q", line)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// plan --out prints the exact command that applies the saved plan, with
// the global flags it was planned with, quoted for a shell; run as
// printed, it applies the plan.
func TestPlanOutPrintsTheApplyCommand(t *testing.T) {
	t.Setenv("PSYNC_SANDBOX_DIALECT", "")
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll("team conf", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("team conf", "psync.yaml"), []byte(twoScripts), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runPsync(t, "-f", "team conf/psync.yaml", "--state", "it's.state.json", "--sandbox", "sb", "plan", "--out", "p.plan")
	if code != 0 {
		t.Fatalf("plan exited %d: %s", code, stderr)
	}
	_, cmd, ok := strings.Cut(stderr, "Apply exactly it with:\n  ")
	if !ok {
		t.Fatalf("no apply command in stderr:\n%s", stderr)
	}
	cmd, _, _ = strings.Cut(cmd, "\n")
	want := `psync -f 'team conf/psync.yaml' --state 'it'"'"'s.state.json' --sandbox sb apply p.plan`
	if cmd != want {
		t.Errorf("apply command:\n got %s\nwant %s", cmd, want)
	}
	args := shellWords(t, cmd)
	code, stdout, stderr := runPsync(t, args[1:]...)
	if code != 0 || !strings.Contains(stdout, "Apply complete: 5 done") {
		t.Fatalf("the printed command exited %d:\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat("it's.state.json"); err != nil {
		t.Errorf("the apply did not write the state the plan was made with: %v", err)
	}
}

// The printed apply command means the same in bash, zsh and fish, and
// copied as printed it applies the plan: a backslash is never inside
// single quotes (fish reads \' there as a quote, so the rest of the line
// would be another command), and a value or plan file that starts with
// "-" is never read as a flag (a plan saved to ./--prune must not print
// 'psync apply --prune', a fresh apply that deletes unmanaged objects).
func TestPlanOutApplyCommandIsOneMeaning(t *testing.T) {
	t.Setenv("PSYNC_SANDBOX_DIALECT", "")
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll("-conf", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("-conf", "psync.yaml"), []byte(twoScripts), 0o644); err != nil {
		t.Fatal(err)
	}
	state := `x\';touch pwned;#.json`
	code, _, stderr := runPsync(t, "--file=-conf/psync.yaml", "--state", state, "--sandbox", "sb", "plan", "--out=--prune")
	if code != 0 {
		t.Fatalf("plan exited %d: %s", code, stderr)
	}
	_, cmd, ok := strings.Cut(stderr, "Apply exactly it with:\n  ")
	if !ok {
		t.Fatalf("no apply command in stderr:\n%s", stderr)
	}
	cmd, _, _ = strings.Cut(cmd, "\n")
	want := `psync --file=-conf/psync.yaml --state 'x'\\''"'"';touch pwned;#.json' --sandbox sb apply ./--prune`
	if cmd != want {
		t.Errorf("apply command:\n got %s\nwant %s", cmd, want)
	}
	for _, quoted := range regexp.MustCompile(`'[^']*'`).FindAllString(cmd, -1) {
		if strings.Contains(quoted, `\`) {
			t.Errorf("a backslash inside single quotes (%s): fish reads it as an escape", quoted)
		}
	}
	args := shellWords(t, cmd)
	if args[3] != state {
		t.Errorf("--state reads back as %q, want %q", args[3], state)
	}
	code, stdout, stderr := runPsync(t, args[1:]...)
	if code != 0 || !strings.Contains(stdout, "Apply complete: 5 done") {
		t.Fatalf("the printed command exited %d:\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("the apply did not write the state the plan was made with: %v", err)
	}
}

// Every JSON document the commands print, on success and on failure,
// matches its schema in schema/ (generated from the render types).
func TestJSONOutputMatchesTheSchemas(t *testing.T) {
	t.Setenv("PSYNC_SANDBOX_DIALECT", "")
	schemas, err := render.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	compile := func(file string) *jsonschema.Schema {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas[file]))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(render.SchemaBaseURL+file, doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(render.SchemaBaseURL + file)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	planSchema, applySchema, validateSchema := compile(render.PlanSchemaFile), compile(render.ApplySchemaFile), compile(render.ValidateSchemaFile)
	dir := t.TempDir()
	t.Chdir(dir)
	write := func(body string) {
		if err := os.WriteFile("psync.yaml", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *jsonschema.Schema, wantCode int, args ...string) {
		t.Helper()
		code, stdout, stderr := runPsync(t, args...)
		if code != wantCode {
			t.Fatalf("psync %v exited %d, want %d:\n%s\n%s", args, code, wantCode, stdout, stderr)
		}
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(stdout))
		if err != nil {
			t.Fatalf("psync %v: stdout is not one JSON document: %v\n%s", args, err, stdout)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("psync %v: output does not match its schema: %v\n%s", args, err, stdout)
		}
	}
	write(twoScripts)
	check(validateSchema, 0, "validate", "-o", "json")
	check(planSchema, 0, "--sandbox", "sb", "plan", "-o", "json", "--out", "p.plan")
	check(planSchema, 0, "show", "-o", "json", "p.plan")
	check(applySchema, 0, "--sandbox", "sb", "apply", "-o", "json", "p.plan")
	check(applySchema, 0, "--sandbox", "sb", "apply", "-o", "json", "--auto-approve")
	// Drift, a delete with machines, a template replace.
	write(strings.Replace(strings.Replace(twoScripts, "psbox001\n", "psbox002\n", 1), "  - name: b\n    script: \"echo b\\n\"\n", "", 1))
	check(planSchema, 0, "--sandbox", "sb", "plan", "-o", "json")
	check(applySchema, 0, "--sandbox", "sb", "apply", "-o", "json", "--auto-approve", "--dry-run")
	// Failures.
	write("version: 1\nscripts:\n  - name: a\n   script: x\n")
	check(validateSchema, 1, "validate", "-o", "json")
	check(planSchema, 1, "--sandbox", "sb", "plan", "-o", "json")
	check(applySchema, 1, "--sandbox", "sb", "apply", "-o", "json", "--auto-approve")
	check(planSchema, 1, "show", "-o", "json", "missing.plan")
}

// A bug that panics is a failure too: with -o json, stdout still holds one
// failure document (a CI policy reading it gets errors, not nothing), and
// the panic goes on to main's handler, which reports it and exits 1.
func TestJSONOutputOnPanic(t *testing.T) {
	var stdout bytes.Buffer
	streams := &IO{Stdout: &stdout, Stderr: io.Discard}
	o, err := parseOutput("json")
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the command's panic to go on", r)
			}
		}()
		_ = o.run(streams, render.PlanFormatVersion, func(*IO) error { panic("boom") })
	}()
	var doc render.JSONErrors
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout.String())
	}
	if doc.FormatVersion != render.PlanFormatVersion || len(doc.Errors) != 1 || !strings.Contains(doc.Errors[0].Message, "internal error") {
		t.Errorf("failure document %+v, want one internal error", doc)
	}
}
