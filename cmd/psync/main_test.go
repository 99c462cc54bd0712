package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite testscript files whose cmp fails")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"psync": func() {
			code := run(os.Args[1:], &IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
			// Record the exit code for the scripts' `status` command.
			if f := os.Getenv("PSYNC_EXIT_FILE"); f != "" {
				os.WriteFile(f, []byte(strconv.Itoa(code)), 0o644)
			}
			os.Exit(code)
		},
	})
}

// dialects are the API dialects every script runs against: the spec's and
// the live Paperspace API's, both served by the sandbox.
var dialects = []string{"spec", "paperspace-v1"}

// TestScripts runs the CLI end to end: testdata/script/*.txtar, each in a
// fresh directory, against sandboxes the scripts start with --sandbox.
func TestScripts(t *testing.T) {
	// $REPO lets scripts copy the repository's examples into $WORK.
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) { runScripts(t, repo, dialect) })
	}
}

// runScripts runs every script with --sandbox speaking dialect. A script
// that only makes sense in one dialect says so with [dialect:NAME].
func runScripts(t *testing.T, repo, dialect string) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Condition: func(cond string) (bool, error) {
			if name, ok := strings.CutPrefix(cond, "dialect:"); ok {
				return name == dialect, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("PSYNC_SANDBOX_DIALECT", dialect)
			// A developer's real key must never reach a test.
			env.Setenv("PAPERSPACE_API_KEY", "")
			env.Setenv("PAPERSPACE_API_URL", "")
			env.Setenv("PSYNC_STATE", "")
			env.Setenv("NO_COLOR", "")
			env.Setenv("PSYNC_EXIT_FILE", filepath.Join(env.WorkDir, ".psync-exit"))
			env.Setenv("REPO", repo)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// copydir SRC DST: copy a directory tree (testscript's cp copies files).
			"copydir": copyDir,
			// status N: the last psync run exited with code N.
			"status": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: status CODE")
				}
				got := strings.TrimSpace(ts.ReadFile(ts.Getenv("PSYNC_EXIT_FILE"))) // absolute: scripts may cd
				if (got == args[0]) == neg {
					ts.Fatalf("psync exited with %s, want %s%s", got, map[bool]string{true: "not ", false: ""}[neg], args[0])
				}
			},
		},
	})
}

// copyDir is the scripts' copydir command: copydir SRC DST copies the tree
// at SRC to DST (created; must not exist), keeping file modes.
func copyDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: copydir SRC DST")
	}
	src, dst := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	if _, err := os.Stat(dst); err == nil {
		ts.Fatalf("copydir: %s already exists", args[1])
	}
	ts.Check(os.CopyFS(dst, os.DirFS(src)))
}
