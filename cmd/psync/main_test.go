package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/psync-dev/psync/pkg/sandbox"
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
			// machine DIR add|set|rm ...: machines coming and going in the
			// sandbox data DIR, through its admin routes.
			"machine": machineCmd,
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

// machineCmd is the scripts' machine command, which changes the machines of
// the sandbox whose data is in DIR (no psync may be running on it) through
// the sandbox's own admin routes:
//
//	machine DIR add NAME MACHINETYPE REGION   prints the new machine's id
//	machine DIR set ID FIELD=VALUE...         name, machineType, region, state
//	machine DIR rm ID
func machineCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: machine DIR add NAME TYPE REGION | set ID FIELD=VALUE... | rm ID")
	}
	srv, err := sandbox.New(sandbox.Config{DataDir: ts.MkAbs(args[0]), Dialect: ts.Getenv("PSYNC_SANDBOX_DIALECT")})
	ts.Check(err)
	defer srv.Close()
	key := srv.Keys()[sandbox.DefaultTeam]
	var method, path string
	body := map[string]string{}
	switch op := args[1]; {
	case op == "add" && len(args) == 5:
		method, path = "POST", "/v1/_sandbox/machines"
		body["name"], body["machineType"], body["region"] = args[2], args[3], args[4]
	case op == "set" && len(args) >= 4:
		method, path = "PUT", "/v1/_sandbox/machines/"+args[2]
		for _, kv := range args[3:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				ts.Fatalf("machine set: %q is not FIELD=VALUE", kv)
			}
			body[k] = v
		}
	case op == "rm" && len(args) == 3:
		method, path = "DELETE", "/v1/_sandbox/machines/"+args[2]
	default:
		ts.Fatalf("usage: machine DIR add NAME TYPE REGION | set ID FIELD=VALUE... | rm ID")
	}
	var rd io.Reader
	if method != "DELETE" {
		data, err := json.Marshal(body)
		ts.Check(err)
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code >= 300 {
		ts.Fatalf("machine %s: %d %s", args[1], rec.Code, rec.Body)
	}
	var m struct{ ID string }
	ts.Check(json.Unmarshal(rec.Body.Bytes(), &m))
	fmt.Fprintln(ts.Stdout(), m.ID)
}
