package main

import (
	"flag"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite testscript files whose cmp fails")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"psync": func() {
			os.Exit(run(os.Args[1:], &IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
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
			return nil
		},
	})
}
