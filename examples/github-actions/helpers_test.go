package githubactions

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/psync-dev/psync/pkg/sandbox"
)

// repoRoot is the repository's root, where action.yml and action/ are.
const repoRoot = "../.."

var (
	buildOnce sync.Once
	psyncBin  string
	buildErr  error
)

// psyncBinary builds cmd/psync once per test process.
func psyncBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "psync-action-test-")
		if err != nil {
			buildErr = err
			return
		}
		psyncBin = filepath.Join(dir, "psync")
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOROOT: %w", err)
			return
		}
		cmd := exec.Command(filepath.Join(strings.TrimSpace(string(goroot)), "bin", "go"), "build", "-o", psyncBin, "./cmd/psync")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/psync: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return psyncBin
}

// needTools skips the test when a tool the action's scripts call is
// missing (every GitHub runner has them). .ci/run installs them and sets
// PSYNC_REQUIRE_TOOLS, which turns the skip into a failure.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("PSYNC_REQUIRE_TOOLS") != "" {
				t.Fatalf("%s is not installed (PSYNC_REQUIRE_TOOLS is set)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
}

// world is a team's repository as GitHub holds it (a bare origin), a
// developer's clone that merges into main, the embedded sandbox's data
// directory, and a PATH whose psync is the one built from this checkout.
type world struct {
	t       *testing.T
	root    string
	origin  string
	dev     string
	sandbox string
	bin     string // the directory of the psync wrapper
	gitEnv  []string
	// afterApply, when the file exists, is run by the psync wrapper once,
	// right after the next `psync apply` exits: a merge landing while psync
	// ran.
	afterApply string
	runs       int // runs started by githubRunner, to name their checkouts
}

// psyncWrapper runs the real psync, then the after-apply hook once. With
// PSYNC_TEST_KILL_JOURNAL set, an apply is killed with SIGKILL once that
// journal holds two changes (a runner that died mid-apply). Not at the
// first: its line is in the file while psync still syncs it, before psync
// reports it done, and a kill in that moment would leave the test nothing
// reported done to check; the second change's record comes only after the
// API's latency, by when the first has been reported.
const psyncWrapper = `#!/bin/sh
case " $* " in
  *" apply "*)
    if [ -n "$PSYNC_TEST_KILL_JOURNAL" ]; then
      "$PSYNC_TEST_REAL" "$@" &
      pid=$!
      while kill -0 "$pid" 2>/dev/null; do
        if [ -f "$PSYNC_TEST_KILL_JOURNAL" ] && [ "$(wc -l <"$PSYNC_TEST_KILL_JOURNAL")" -ge 3 ]; then
          kill -9 "$pid"
          break
        fi
        sleep 0.02
      done
      wait "$pid"
      exit $?
    fi
    ;;
esac
"$PSYNC_TEST_REAL" "$@"
code=$?
case " $* " in
  *" apply "*)
    if [ -f "$PSYNC_TEST_AFTER_APPLY" ]; then
      sh "$PSYNC_TEST_AFTER_APPLY" >&2 || exit 99
      rm -f "$PSYNC_TEST_AFTER_APPLY"
    fi
    ;;
esac
exit $code
`

func newWorld(t *testing.T) *world {
	t.Helper()
	needTools(t, "git", "bash", "jq")
	real := psyncBinary(t)
	root := t.TempDir()
	w := &world{
		t:          t,
		root:       root,
		origin:     filepath.Join(root, "origin.git"),
		dev:        filepath.Join(root, "dev"),
		sandbox:    filepath.Join(root, "sandbox"),
		bin:        filepath.Join(root, "bin"),
		afterApply: filepath.Join(root, "after-apply.sh"),
	}
	if err := os.MkdirAll(w.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.bin, "psync"), []byte(psyncWrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	// No user or system git configuration: the scripts must set what they
	// need (the state commit's author) themselves.
	globalConfig := filepath.Join(root, "gitconfig")
	if err := os.WriteFile(globalConfig, []byte("[init]\n\tdefaultBranch = main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// HOME is the world's, so Go's caches are named: the install step
	// builds with the same cache as the test.
	goEnv, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	goVars := strings.Split(strings.TrimSpace(string(goEnv)), "\n")
	if len(goVars) != 3 {
		t.Fatalf("go env GOCACHE GOMODCACHE GOPATH: %q", goEnv)
	}
	w.gitEnv = []string{
		"GOCACHE=" + goVars[0], "GOMODCACHE=" + goVars[1], "GOPATH=" + goVars[2],
		"GIT_CONFIG_GLOBAL=" + globalConfig, "GIT_CONFIG_NOSYSTEM=1",
		"PSYNC_TEST_REAL=" + real, "PSYNC_TEST_AFTER_APPLY=" + w.afterApply,
		"NO_COLOR=1", "HOME=" + root,
	}
	w.git(root, "init", "--quiet", "--bare", w.origin)
	// GitHub serves any commit by id (actions/checkout fetches by id).
	w.git(w.origin, "config", "uploadpack.allowAnySHA1InWant", "true")
	w.git(root, "clone", "--quiet", w.origin, w.dev)
	w.git(w.dev, "config", "user.name", "Dev")
	w.git(w.dev, "config", "user.email", "dev@example.com")
	return w
}

// environ is the environment of every process the test starts.
func (w *world) environ(extra ...string) []string {
	env := []string{"PATH=" + w.bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "PATH" || strings.HasPrefix(k, "GIT_") || strings.HasPrefix(k, "GITHUB_") ||
			strings.HasPrefix(k, "PSYNC_") || strings.HasPrefix(k, "RUNNER_") || k == "PAPERSPACE_API_KEY" || k == "PAPERSPACE_API_URL" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, w.gitEnv...)
	return append(env, extra...)
}

// git runs git in dir and returns its trimmed output.
func (w *world) git(dir string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = w.environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeManifest writes psync.yaml in dir with one script per name (its body
// is "echo NAME"), and its preventDestroy names protected.
func writeManifest(t *testing.T, dir string, names []string, protected ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("version: 1\nscripts:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    file: scripts/%s.sh\n", n, n)
		for _, p := range protected {
			if p == n {
				b.WriteString("    preventDestroy: true\n")
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "scripts", n+".sh"), []byte("#!/bin/bash\necho "+n+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "psync.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// merge commits a manifest of names in the developer's clone and pushes it
// to main (a pull request merged), returning the commit.
func (w *world) merge(msg string, names []string, protected ...string) string {
	w.t.Helper()
	writeManifest(w.t, w.dev, names, protected...)
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", msg)
	w.git(w.dev, "push", "--quiet", "origin", "HEAD:main")
	return w.git(w.dev, "rev-parse", "HEAD")
}

// shallowFetch makes dir a repository with origin and fetches commit sha
// into ref, depth commits deep, as actions/checkout does (fetch-depth).
func (w *world) shallowFetch(dir string, depth int, sha, ref string) {
	w.t.Helper()
	w.git(w.root, "init", "--quiet", dir)
	w.git(dir, "remote", "add", "origin", "file://"+w.origin)
	w.git(dir, "fetch", "--quiet", "--no-tags", "--depth="+strconv.Itoa(depth), "origin", "+"+sha+":"+ref)
}

// runner is one workflow run: a checkout of the commit that triggered it,
// as actions/checkout makes, and the files GitHub gives a step.
type runner struct {
	w       *world
	dir     string
	temp    string // RUNNER_TEMP
	out     string // PSYNC_ACTION_OUT, the action's files between steps
	summary string // GITHUB_STEP_SUMMARY
	output  string // GITHUB_OUTPUT
	// env is what GitHub sets for every step; scriptEnv is what action.yml
	// would pass a script, for the tests that call a script directly.
	env       []string
	scriptEnv []string
	// event is the github.* values the action reads (the event's fields).
	event map[string]string
}

// newRunner makes the directories of a run: its checkout (empty) and its
// RUNNER_TEMP.
func (w *world) newRunner(name string) *runner {
	w.t.Helper()
	r := &runner{w: w, dir: filepath.Join(w.root, "runs", name), temp: filepath.Join(w.root, "runs", name+".temp")}
	r.out = filepath.Join(r.temp, "psync-action")
	r.summary = filepath.Join(r.temp, "summary.md")
	r.output = filepath.Join(r.temp, "output.txt")
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		w.t.Fatal(err)
	}
	r.env = []string{
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=team/infra", "RUNNER_TEMP=" + r.temp,
		"GITHUB_STEP_SUMMARY=" + r.summary, "GITHUB_API_URL=http://127.0.0.1:1",
	}
	r.scriptEnv = []string{
		"PSYNC_ACTION_OUT=" + r.out, "GITHUB_OUTPUT=" + r.output,
		"PSYNC_ACTION_MANIFEST=psync.yaml", "PSYNC_ACTION_BRANCH=main",
		"PSYNC_ACTION_ARGS=--sandbox " + w.sandbox,
	}
	// A push event has no pull request: GitHub reads its fields as "".
	r.event = map[string]string{
		"event.pull_request.base.sha": "", "event.pull_request.head.repo.full_name": "", "event.pull_request.number": "",
	}
	return r
}

// checkout starts a run triggered by commit sha on main.
func (w *world) checkout(name, sha string) *runner {
	w.t.Helper()
	r := w.newRunner(name)
	// As actions/checkout does it for a push: the one commit, shallow.
	w.shallowFetch(r.dir, 1, sha, "refs/remotes/origin/main")
	w.git(r.dir, "checkout", "--quiet", "--force", "-B", "main", "refs/remotes/origin/main")
	r.env = append(r.env, "GITHUB_REF=refs/heads/main", "GITHUB_SHA="+sha)
	return r
}

// script runs action/NAME with the run's environment (plus env), in the
// checkout, and returns its exit code and output.
func (r *runner) script(name string, env ...string) (int, string) {
	r.w.t.Helper()
	abs, err := filepath.Abs(filepath.Join(repoRoot, "action", name))
	if err != nil {
		r.w.t.Fatal(err)
	}
	cmd := exec.Command("bash", abs)
	cmd.Dir = r.dir
	cmd.Env = r.w.environ(append(append(append([]string{}, r.env...), r.scriptEnv...), env...)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	r.w.t.Fatalf("action/%s: %v", name, err)
	return -1, ""
}

// apply runs action.yml with command apply and commit-state, as apply.yml
// does, against the sandbox. It returns psync's exit code (-1 when psync
// did not run), the state commit step's (0 success, 1 failure, -1 not
// run), and the output.
func (r *runner) apply() (applyCode, commitCode int, output string) {
	r.w.t.Helper()
	res, out := r.runAction(map[string]string{"command": "apply", "commit-state": "true", "state": "psync.state.json", "args": "--sandbox " + r.w.sandbox})
	return exitCode(res["psync"]), exitCode(res["commit-state"]), out
}

// plan runs action.yml with command plan, as plan.yml does, against the
// sandbox, and returns whether the check passed and the output.
func (r *runner) plan(inputs map[string]string) (bool, string) {
	r.w.t.Helper()
	in := map[string]string{"command": "plan", "state": "psync.state.json", "args": "--sandbox " + r.w.sandbox}
	for k, v := range inputs {
		in[k] = v
	}
	res, out := r.runAction(in)
	return !failed(res), out
}

// exitCode is a step's exit code: psync's for the psync step, else 0 or 1;
// -1 when the step did not run.
func exitCode(s stepResult) int {
	switch {
	case s.outcome == "skipped" || s.outcome == "":
		return -1
	case s.outputs["exitcode"] != "":
		n, _ := strconv.Atoi(s.outputs["exitcode"])
		return n
	case s.outcome == "failure":
		return 1
	}
	return 0
}

func failed(res map[string]stepResult) bool {
	for _, s := range res {
		if s.outcome == "failure" {
			return true
		}
	}
	return false
}

// outputs reads the step outputs the scripts set (the last of each name).
func (r *runner) outputs() map[string]string {
	r.w.t.Helper()
	b, err := os.ReadFile(r.output)
	if err != nil && !os.IsNotExist(err) {
		r.w.t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// read returns a file the scripts wrote ("" when there is none).
func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// stateScripts is what a state file owns: script name → id.
func stateScripts(t *testing.T, data string) map[string]string {
	t.Helper()
	var st struct {
		Scripts []struct {
			ID, Name string
		}
	}
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		t.Fatalf("the state is not JSON: %v\n%s", err, data)
	}
	m := map[string]string{}
	for _, s := range st.Scripts {
		if _, dup := m[s.Name]; dup {
			t.Errorf("the state owns script %q twice", s.Name)
		}
		m[s.Name] = s.ID
	}
	return m
}

// sandboxScripts is what the sandbox's team has: script name → id, failing
// the test on a duplicate name.
func (w *world) sandboxScripts() map[string]string {
	w.t.Helper()
	s, err := sandbox.New(sandbox.Config{DataDir: w.sandbox})
	if err != nil {
		w.t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Dump(sandbox.DefaultTeam)
	if err != nil {
		w.t.Fatal(err)
	}
	if dup := d.DuplicateNames(); len(dup) > 0 {
		w.t.Errorf("the sandbox has duplicates: %v", dup)
	}
	m := map[string]string{}
	for _, sc := range d.StartupScripts {
		m[sc.Name] = sc.ID
	}
	return m
}

// psync runs the real psync in dir against the world's sandbox.
func (w *world) psync(dir string, args ...string) (int, string) {
	w.t.Helper()
	cmd := exec.Command(filepath.Join(w.bin, "psync"), append([]string{"--sandbox", w.sandbox, "--no-color"}, args...)...)
	cmd.Dir = dir
	cmd.Env = w.environ()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	w.t.Fatalf("psync %v: %v", args, err)
	return -1, ""
}

func keys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// countLines counts the lines of s that contain sub.
func countLines(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
