package githubactions

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// This file runs action.yml itself, as the runner runs a composite action:
// each step's if:, env:, working-directory: and run:, with the ${{ }}
// expressions the action uses evaluated, step outputs passed on, and the
// uses: step (actions/setup-go: Go is already here) left out. So the tests
// check the action's wiring too (an input that does not reach its script, a
// misspelt output, a step that does not run after a failure), not only its
// scripts.

// actionInput is one input of action.yml.
type actionInput struct {
	Default string `yaml:"default"`
}

// actionFile is action.yml.
type actionFile struct {
	Inputs map[string]actionInput `yaml:"inputs"`
	Runs   struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

// actionStep is one step of action.yml.
type actionStep struct {
	ID               string            `yaml:"id"`
	Name             string            `yaml:"name"`
	If               string            `yaml:"if"`
	Uses             string            `yaml:"uses"`
	Run              string            `yaml:"run"`
	Shell            string            `yaml:"shell"`
	WorkingDirectory string            `yaml:"working-directory"`
	Env              map[string]string `yaml:"env"`
}

func loadAction(t *testing.T) actionFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a actionFile
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if a.Runs.Using != "composite" || len(a.Runs.Steps) == 0 {
		t.Fatalf("action.yml is not a composite action with steps")
	}
	return a
}

func actionSteps(t *testing.T) []actionStep { return loadAction(t).Runs.Steps }

// stepResult is what a step left: its outcome and outputs.
type stepResult struct {
	outcome string // success, failure, skipped
	outputs map[string]string
}

// actionRun is one use of the action in a job.
type actionRun struct {
	r       *runner
	inputs  map[string]string
	github  map[string]string // github.* the action reads
	steps   map[string]stepResult
	failed  bool
	path    []string // GITHUB_PATH entries, newest first
	log     strings.Builder
	install bool // run the install step (else psync is the world's)
}

var (
	reExpr = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)
	reCmp  = regexp.MustCompile(`^([a-z][a-z0-9_.-]*)\s*(==|!=)\s*'([^']*)'$`)
)

// value is a context reference the action uses: inputs.X, github.X,
// steps.ID.outputs.X, steps.ID.outcome. Anything else fails the test, so
// that a misspelt reference is caught.
func (a *actionRun) value(t *testing.T, ref string) string {
	t.Helper()
	switch parts := strings.Split(ref, "."); {
	case parts[0] == "inputs" && len(parts) == 2:
		if v, ok := a.inputs[parts[1]]; ok {
			return v
		}
		in, ok := loadAction(t).Inputs[parts[1]]
		if !ok {
			t.Fatalf("action.yml uses the undeclared input %q", parts[1])
		}
		return a.expand(t, in.Default)
	case parts[0] == "github":
		v, ok := a.github[strings.TrimPrefix(ref, "github.")]
		if !ok {
			t.Fatalf("action.yml uses %s, which these tests do not provide", ref)
		}
		return v
	case parts[0] == "steps" && len(parts) == 4 && parts[2] == "outputs":
		return a.steps[parts[1]].outputs[parts[3]]
	case parts[0] == "steps" && len(parts) == 3 && parts[2] == "outcome":
		return a.steps[parts[1]].outcome
	}
	t.Fatalf("action.yml uses the expression %q, which these tests cannot evaluate", ref)
	return ""
}

// expand replaces every ${{ reference }} in s.
func (a *actionRun) expand(t *testing.T, s string) string {
	t.Helper()
	return reExpr.ReplaceAllStringFunc(s, func(m string) string {
		return a.value(t, reExpr.FindStringSubmatch(m)[1])
	})
}

// cond evaluates an if: made of terms joined by &&: always(), success(),
// failure(), or a reference compared with == or != to a quoted string.
func (a *actionRun) cond(t *testing.T, s string) bool {
	t.Helper()
	s = strings.TrimSpace(s)
	if s == "" {
		return !a.failed
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "${{"), "}}")
	statusCheck, ok := false, true
	for _, term := range strings.Split(s, "&&") {
		term = strings.TrimSpace(term)
		switch term {
		case "always()":
			statusCheck = true
		case "success()":
			statusCheck = true
			ok = ok && !a.failed
		case "failure()":
			statusCheck = true
			ok = ok && a.failed
		default:
			m := reCmp.FindStringSubmatch(term)
			if m == nil {
				t.Fatalf("action.yml: if: %q has a term these tests cannot evaluate: %q", s, term)
			}
			eq := a.value(t, m[1]) == m[3]
			ok = ok && (eq == (m[2] == "=="))
		}
	}
	if !statusCheck {
		ok = ok && !a.failed // GitHub adds success() when no status function is named
	}
	return ok
}

// runAction runs action.yml with inputs in the run's checkout, with the
// world's psync, and returns each step's result (by id) and everything the
// steps printed.
func (r *runner) runAction(inputs map[string]string) (map[string]stepResult, string) {
	r.w.t.Helper()
	return r.actionWith(inputs, false)
}

// actionWith is runAction; with install, the install step runs for real.
func (r *runner) actionWith(inputs map[string]string, install bool) (map[string]stepResult, string) {
	t := r.w.t
	t.Helper()
	actionPath, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	a := &actionRun{r: r, inputs: inputs, steps: map[string]stepResult{}, install: install}
	a.github = map[string]string{
		"action_path": actionPath,
		"token":       "the-job-token",
	}
	for k, v := range r.event {
		a.github[k] = v
	}
	for i, s := range actionSteps(t) {
		id := s.ID
		if id == "" {
			id = "step" + string(rune('a'+i))
		}
		if s.Uses != "" {
			continue // actions/setup-go
		}
		if !a.cond(t, s.If) {
			a.steps[id] = stepResult{outcome: "skipped"}
			continue
		}
		if id == "install" && !install {
			// psync is the world's wrapper; the step's other duty is the
			// directory the next steps share.
			a.steps[id] = stepResult{outcome: "success", outputs: map[string]string{"out": r.out}}
			continue
		}
		code, outputs := a.runStep(s, actionPath)
		res := stepResult{outcome: "success", outputs: outputs}
		if code != 0 {
			res.outcome = "failure"
			a.failed = true
		}
		a.steps[id] = res
	}
	return a.steps, a.log.String()
}

// runStep runs one run: step as the runner does: bash --noprofile --norc
// -eo pipefail on the script, with the step's env, in its
// working-directory, with fresh GITHUB_OUTPUT and the job's PATH.
func (a *actionRun) runStep(s actionStep, actionPath string) (int, map[string]string) {
	t := a.r.w.t
	t.Helper()
	if s.Shell != "bash" {
		t.Fatalf("action.yml: step %q has shell %q, want bash", s.ID+s.Name, s.Shell)
	}
	if strings.Contains(s.Run, "${{") {
		t.Fatalf("action.yml: step %q pastes an expression into its script", s.ID+s.Name)
	}
	dir := a.r.dir
	if wd := a.expand(t, s.WorkingDirectory); wd != "" {
		dir = filepath.Join(dir, wd)
	}
	script := filepath.Join(a.r.temp, "step.sh")
	if err := os.WriteFile(script, []byte(s.Run), 0o644); err != nil {
		t.Fatal(err)
	}
	output := filepath.Join(a.r.temp, "step-output.txt")
	pathFile := filepath.Join(a.r.temp, "step-path.txt")
	for _, f := range []string{output, pathFile} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append([]string{}, a.r.env...)
	env = append(env, "GITHUB_ACTION_PATH="+actionPath, "GITHUB_OUTPUT="+output, "GITHUB_PATH="+pathFile)
	for k, v := range s.Env {
		env = append(env, k+"="+a.expand(t, v))
	}
	environ := a.r.w.environ(env...)
	if len(a.path) > 0 {
		for i, kv := range environ {
			if strings.HasPrefix(kv, "PATH=") {
				environ[i] = "PATH=" + strings.Join(a.path, string(os.PathListSeparator)) + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
			}
		}
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Dir = dir
	cmd.Env = environ
	out, err := cmd.CombinedOutput()
	a.log.Write(out)
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("step %q: %v", s.ID+s.Name, err)
	}
	outputs := map[string]string{}
	b, _ := os.ReadFile(output)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			outputs[k] = v
		}
	}
	// The job-wide outputs file the tests read is the union.
	f, err := os.OpenFile(a.r.output, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
	p, _ := os.ReadFile(pathFile)
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if line != "" {
			a.path = append([]string{line}, a.path...)
		}
	}
	return code, outputs
}

// TestActionInstallsPsync runs the install step for real: it builds psync
// from the action's own checkout, puts it on the next steps' PATH, and
// refuses a version that is not a tag, a commit or "latest".
func TestActionInstallsPsync(t *testing.T) {
	needTools(t, "go")
	w := newWorld(t)
	c1 := w.merge("add a", []string{"a"})
	r := w.checkout("install", c1)
	res, out := r.actionWith(map[string]string{"command": "plan", "args": "--sandbox " + w.sandbox}, true)
	if failed(res) {
		t.Fatalf("the action failed:\n%s", out)
	}
	bin := filepath.Join(r.temp, "psync-bin", "psync")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no psync at %s: %v\n%s", bin, err, out)
	}
	if !strings.Contains(out, "Building psync from the action's checkout") || !strings.Contains(out, "Plan: 1 to create") && !strings.Contains(read(t, r.summary), "1 to create") {
		t.Errorf("the action did not build and run psync:\n%s\nsummary:\n%s", out, read(t, r.summary))
	}

	for _, bad := range []string{"--help", "v1; touch /tmp/x", "../../x", "@v1"} {
		r := w.checkout("bad-version-"+strings.NewReplacer("/", "", " ", "", ";", "").Replace(bad), c1)
		res, out := r.actionWith(map[string]string{"command": "plan", "version": bad}, true)
		if res["install"].outcome != "failure" || res["psync"].outcome != "skipped" || !strings.Contains(out, "is not a release tag, a commit or") {
			t.Errorf("version %q: install %s, psync %s; want a refusal:\n%s", bad, res["install"].outcome, res["psync"].outcome, out)
		}
	}
}
