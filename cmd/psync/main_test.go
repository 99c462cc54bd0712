package main

import (
	"flag"
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

// TestScripts runs the CLI end to end: testdata/script/*.txtar, each in a
// fresh directory, against sandboxes the scripts start with --sandbox.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			// A developer's real key must never reach a test.
			env.Setenv("PAPERSPACE_API_KEY", "")
			env.Setenv("PAPERSPACE_API_URL", "")
			env.Setenv("NO_COLOR", "")
			env.Setenv("PSYNC_EXIT_FILE", filepath.Join(env.WorkDir, ".psync-exit"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// status N: the last psync run exited with code N.
			"status": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: status CODE")
				}
				got := strings.TrimSpace(ts.ReadFile(ts.MkAbs(".psync-exit")))
				if (got == args[0]) == neg {
					ts.Fatalf("psync exited with %s, want %s%s", got, map[bool]string{true: "not ", false: ""}[neg], args[0])
				}
			},
		},
	})
}
