package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shellWords splits a command line the way a POSIX shell splits what
// applyCommand prints: words, and single-quoted strings in which '"'"'
// is a quote.
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
