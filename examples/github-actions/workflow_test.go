package githubactions

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/sandbox"
)

// TestActionRunsTheTestedScripts keeps these tests honest: the steps of
// action.yml must call the scripts the tests run, in the order the tests
// run them, with the state committed also after a failed apply.
func TestActionRunsTheTestedScripts(t *testing.T) {
	steps := actionSteps(t)
	find := func(id, name string) actionStep {
		t.Helper()
		for _, s := range steps {
			if (id != "" && s.ID == id) || (name != "" && s.Name == name) {
				return s
			}
		}
		t.Fatalf("action.yml has no step %q%q", id, name)
		return actionStep{}
	}
	psync := find("psync", "")
	for _, want := range []string{
		`plan | drift) exec "$GITHUB_ACTION_PATH/action/plan.sh"`,
		`apply) exec "$GITHUB_ACTION_PATH/action/apply.sh"`,
	} {
		if !strings.Contains(psync.Run, want) {
			t.Errorf("the psync step does not run %s:\n%s", want, psync.Run)
		}
	}
	for _, c := range []struct{ name, script, ifHas string }{
		{"Commit the state", "commit-state.sh", "always() && inputs.command == 'apply'"},
		{"Post or update the plan comment", "comment.sh", "always() && inputs.command == 'plan'"},
		{"Open, update or close the drift issue", "drift-issue.sh", "always() && inputs.command == 'drift'"},
	} {
		s := find("", c.name)
		if strings.TrimSpace(s.Run) != `"$GITHUB_ACTION_PATH/action/`+c.script+`"` {
			t.Errorf("step %q runs %q, want action/%s", c.name, s.Run, c.script)
		}
		if !strings.Contains(s.If, c.ifHas) {
			t.Errorf("step %q runs if %q, want it to contain %q", c.name, s.If, c.ifHas)
		}
	}
	var order []string
	for _, s := range steps {
		if s.ID != "" {
			order = append(order, s.ID)
		} else {
			order = append(order, s.Name)
		}
	}
	if i, j := indexOf(order, "psync"), indexOf(order, "commit-state"); i < 0 || j < i {
		t.Errorf("the state is not committed after psync ran: steps %q", order)
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// TestOverlappingMergesConverge runs the apply of a state kept in git the
// way overlapping merges run it: two merges land, their runs queue in the
// concurrency group, and each run's checkout is the commit that triggered
// it. The first run applies while a third merge lands (its push of the
// state then has to rebase); the second run starts from a commit older
// than main, which lacks the state the first committed. That order used to
// re-adopt everything and lose the second state commit to a conflict.
// Here both succeed, the state on main owns exactly what the sandbox has,
// with no duplicate, and the next plan is a no-op.
func TestOverlappingMergesConverge(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a and b", []string{"a", "b"})
	run1 := w.checkout("run1", c1) // triggered by c1
	c2 := w.merge("add c", []string{"a", "b", "c"})
	run2 := w.checkout("run2", c2) // triggered by c2, queued behind run1

	// While run1's psync runs, a third pull request (adding d) is merged.
	w.git(w.dev, "checkout", "--quiet", "-b", "add-d")
	writeManifest(t, w.dev, []string{"a", "b", "c", "d"})
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "add d")
	c3 := w.git(w.dev, "rev-parse", "HEAD")
	hook := "set -e\ngit -C '" + w.dev + "' push --quiet origin add-d:main\n"
	if err := os.WriteFile(w.afterApply, []byte(hook), 0o644); err != nil {
		t.Fatal(err)
	}

	applyCode, commitCode, out := run1.apply()
	if applyCode != 0 || commitCode != 0 {
		t.Fatalf("run 1: apply exit %d, state commit exit %d:\n%s", applyCode, commitCode, out)
	}
	if _, err := os.Stat(w.afterApply); !os.IsNotExist(err) {
		t.Fatalf("the merge during run 1's apply did not happen (%v):\n%s", err, out)
	}
	// run1 applied the newest main when it started (c2), not c1.
	if got := run1.outputs()["commit"]; got != c2 {
		t.Errorf("run 1 applied %s, want the newest main %s (not the triggering %s)", got, c2, c1)
	}
	if !strings.Contains(out, "rebasing the state commit") {
		t.Errorf("run 1's state push did not meet the merge that landed during the apply:\n%s", out)
	}
	// The state commit sits on top of the merge that landed meanwhile.
	if parent := w.git(w.origin, "rev-parse", "main^"); parent != c3 {
		t.Errorf("main^ = %s, want the state commit on top of %s", parent, c3)
	}
	afterRun1 := stateScripts(t, w.git(w.origin, "show", "main:psync.state.json"))
	if diff := cmp.Diff([]string{"a", "b", "c"}, keys(afterRun1)); diff != "" {
		t.Errorf("the state on main after run 1 (-want +got):\n%s", diff)
	}

	// run2's checkout is c2: older than main, without run1's state.
	applyCode, commitCode, out = run2.apply()
	if applyCode != 0 || commitCode != 0 {
		t.Fatalf("run 2: apply exit %d, state commit exit %d:\n%s", applyCode, commitCode, out)
	}
	if strings.Contains(out, "<= script") {
		t.Errorf("run 2 adopted objects run 1 made (it did not read run 1's state):\n%s", out)
	}
	if n := countLines(out, "done      + script"); n != 1 {
		t.Errorf("run 2 created %d scripts, want 1 (d, merged during run 1):\n%s", n, out)
	}

	// A third run, from the oldest commit, has nothing to do and commits
	// nothing.
	before := w.git(w.origin, "rev-parse", "main")
	run3 := w.checkout("run3", c1)
	applyCode, commitCode, out = run3.apply()
	if applyCode != 0 || commitCode != 0 {
		t.Fatalf("run 3: apply exit %d, state commit exit %d:\n%s", applyCode, commitCode, out)
	}
	if after := w.git(w.origin, "rev-parse", "main"); after != before {
		t.Errorf("run 3 (nothing to do) moved main from %s to %s:\n%s", before, after, out)
	}

	// Nothing lost: the state on main owns exactly what the team has.
	owned := stateScripts(t, w.git(w.origin, "show", "main:psync.state.json"))
	remote := w.sandboxScripts()
	if diff := cmp.Diff(remote, owned); diff != "" {
		t.Errorf("the state on main (+) differs from the sandbox's scripts (-):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, keys(remote)); diff != "" {
		t.Errorf("the sandbox's scripts (-want +got):\n%s", diff)
	}
	if n := w.git(w.origin, "rev-list", "--count", "--grep", `\[skip ci\]`, "main"); n != "2" {
		t.Errorf("main has %s state commits, want 2 (runs 1 and 2)", n)
	}
	// A fresh clone of main plans nothing.
	fresh := filepath.Join(w.root, "fresh")
	w.git(w.root, "clone", "--quiet", w.origin, fresh)
	if code, out := w.psync(fresh, "plan", "--detailed-exitcode"); code != 0 {
		t.Errorf("the plan after both runs exits %d, want 0 (no changes):\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(fresh, "psync.state.json.journal")); !os.IsNotExist(err) {
		t.Errorf("main holds a journal after applies that finished: %v", err)
	}
}

// TestApplyRefusesOtherRefs: workflow_dispatch on a branch applies
// nothing, and the summary says why.
func TestApplyRefusesOtherRefs(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a", []string{"a"})
	r := w.checkout("dispatch", c1)
	r.env = append(r.env, "GITHUB_REF=refs/heads/try-it")
	applyCode, commitCode, out := r.apply()
	if applyCode != 1 || commitCode != 0 {
		t.Fatalf("apply exit %d, state commit exit %d, want 1 and 0:\n%s", applyCode, commitCode, out)
	}
	summary := read(t, r.summary)
	if !strings.Contains(summary, "psync apply applies main only, and this run is for refs/heads/try-it") {
		t.Errorf("the summary does not say why nothing was applied:\n%s", summary)
	}
	if _, err := os.Stat(w.sandbox); !os.IsNotExist(err) {
		t.Errorf("psync ran (the sandbox exists): %v", err)
	}
	if n := w.git(w.origin, "rev-list", "--count", "main"); n != "1" {
		t.Errorf("main has %s commits, want 1", n)
	}
}

// TestApplySummaryOnFailure: when psync fails, the job summary still shows
// what it printed, and the state of what was done is committed.
func TestApplySummaryOnFailure(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a", []string{"a"})
	r := w.checkout("run", c1)
	applyCode, commitCode, out := r.apply()
	if applyCode != 0 || commitCode != 0 {
		t.Fatalf("apply exit %d, state commit exit %d:\n%s", applyCode, commitCode, out)
	}
	// A manifest that names a script file that is not there.
	if err := os.WriteFile(filepath.Join(w.dev, "psync.yaml"), []byte("version: 1\nscripts:\n  - name: a\n    file: scripts/missing.sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.git(w.dev, "commit", "--quiet", "-am", "break it")
	w.git(w.dev, "pull", "--quiet", "--rebase", "origin", "main")
	w.git(w.dev, "push", "--quiet", "origin", "HEAD:main")
	r = w.checkout("broken", w.git(w.dev, "rev-parse", "HEAD"))
	applyCode, commitCode, out = r.apply()
	if applyCode != 1 || commitCode != 0 {
		t.Fatalf("apply exit %d, state commit exit %d, want 1 and 0:\n%s", applyCode, commitCode, out)
	}
	summary := read(t, r.summary)
	if !strings.Contains(summary, "### psync apply: failed (exit 1)") || !strings.Contains(summary, "missing.sh") {
		t.Errorf("the summary does not show the failure:\n%s", summary)
	}
	if got := r.outputs()["exitcode"]; got != "1" {
		t.Errorf("output exitcode = %q, want 1", got)
	}
}

// prRun is a pull_request run: GitHub merges the pull request's branch
// into the base as refs/pull/7/merge, and the checkout is that merge
// commit, two commits deep (plan.yml's fetch-depth).
func (w *world) prRun(name, base, head string) *runner {
	w.t.Helper()
	return w.prRunDepth(name, base, head, 2)
}

// prRunDepth is prRun with a checkout depth commits deep.
func (w *world) prRunDepth(name, base, head string, depth int) *runner {
	w.t.Helper()
	w.git(w.dev, "checkout", "--quiet", "--detach", base)
	w.git(w.dev, "merge", "--quiet", "--no-ff", "-m", "Merge pull request", "origin/"+head)
	merge := w.git(w.dev, "rev-parse", "HEAD")
	w.git(w.dev, "push", "--quiet", "--force", "origin", "HEAD:refs/pull/7/merge")
	r := w.newRunner(name)
	w.shallowFetch(r.dir, depth, merge, "refs/remotes/pull/7/merge")
	w.git(r.dir, "checkout", "--quiet", "--force", "refs/remotes/pull/7/merge")
	r.env = append(r.env, "GITHUB_REF=refs/pull/7/merge", "GITHUB_SHA="+merge)
	r.scriptEnv = append(r.scriptEnv, "PSYNC_ACTION_COMMAND=plan", "PSYNC_ACTION_BASE_SHA="+base, "PSYNC_ACTION_HEAD_REPO=team/infra")
	r.event["event.pull_request.base.sha"] = base
	r.event["event.pull_request.head.repo.full_name"] = "team/infra"
	r.event["event.pull_request.number"] = "7"
	return r
}

// TestPlanFailsWhenPullRequestEditsState: a pull request that removes a
// protected script from the manifest and, in the same change, drops its
// protection from the state file would plan a plain delete. The plan check
// fails, names the file and the reason, and the plan it shows is made with
// the base's state, where psync refuses the delete (exit 3). A pull request
// that leaves the state alone passes.
func TestPlanFailsWhenPullRequestEditsState(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a and b", []string{"a", "b"}, "a")
	r := w.checkout("apply", c1)
	if applyCode, commitCode, out := r.apply(); applyCode != 0 || commitCode != 0 {
		t.Fatalf("apply exit %d, state commit exit %d:\n%s", applyCode, commitCode, out)
	}
	w.git(w.dev, "pull", "--quiet", "origin", "main")
	base := w.git(w.dev, "rev-parse", "HEAD")
	stateFile := filepath.Join(w.dev, "psync.state.json")
	st := read(t, stateFile)
	if !strings.Contains(st, `"preventDestroy": true`) {
		t.Fatalf("the state does not record a's protection:\n%s", st)
	}

	// The honest pull request: a new script.
	w.git(w.dev, "checkout", "--quiet", "-b", "honest")
	writeManifest(t, w.dev, []string{"a", "b", "c"}, "a")
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "add c")
	w.git(w.dev, "push", "--quiet", "origin", "honest")
	g, api := newFakeGitHub(t)
	for range 7 {
		g.addIssue("a pull request", "", human, true) // #7 is the one planned
	}
	r = w.prRun("honest", base, "honest")
	r.env = append(r.env, "GITHUB_API_URL="+api)
	passed, out := r.plan(map[string]string{"github-token": "write-token"})
	if !passed {
		t.Fatalf("the plan of a pull request that adds a script failed its check:\n%s", out)
	}
	if got := r.outputs(); got["exitcode"] != "2" || got["passed"] != "true" {
		t.Errorf("outputs %v, want exitcode 2 and passed true", got)
	}
	comment := read(t, filepath.Join(r.out, "comment.md"))
	if !strings.HasPrefix(comment, "<!-- psync-action plan psync.yaml -->\n") || strings.Contains(comment, "edits the state file") {
		t.Errorf("the comment of the honest pull request:\n%s", comment)
	}
	if summary := read(t, r.summary); summary != comment {
		t.Errorf("the job summary is not the comment:\n%s", summary)
	}
	if cs := g.bodies(7); len(cs) != 1 || cs[0] != comment {
		t.Errorf("the pull request's comments are %q, want the plan once:\n%s", cs, out)
	}

	// The pull request that also edits the state.
	w.git(w.dev, "checkout", "--quiet", "-b", "sneaky", base)
	writeManifest(t, w.dev, []string{"b"})
	if err := os.WriteFile(stateFile, []byte(strings.Replace(st, `"preventDestroy": true`, `"preventDestroy": false`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "tidy up")
	w.git(w.dev, "push", "--quiet", "origin", "sneaky")
	// Its own state would have made the plan a plain delete.
	if code, out := w.psync(w.dev, "plan", "--detailed-exitcode"); code != 2 {
		t.Fatalf("with the edited state the plan exits %d, want 2 (an unprotected delete):\n%s", code, out)
	}
	r = w.prRun("sneaky", base, "sneaky")
	r.env = append(r.env, "GITHUB_API_URL="+api)
	passed, out = r.plan(map[string]string{"github-token": "write-token"})
	if passed {
		t.Fatalf("the plan of a pull request that edits the state passed its check:\n%s", out)
	}
	if !strings.Contains(out, "::error::this pull request edits the state file (psync.state.json)") {
		t.Errorf("no error annotation names the state file:\n%s", out)
	}
	if got := r.outputs(); got["exitcode"] != "3" || got["passed"] != "false" {
		t.Errorf("outputs %v, want exitcode 3 (the base's state protects a) and passed false", got)
	}
	comment = read(t, filepath.Join(r.out, "comment.md"))
	for _, want := range []string{"### This pull request edits the state file", "psync.state.json", "Only `psync apply` writes the state", "made with the base branch's state", "preventDestroy"} {
		if !strings.Contains(comment, want) {
			t.Errorf("the comment lacks %q:\n%s", want, comment)
		}
	}
	// Posted, as an update of the comment the first push made (the fake
	// GitHub serves both branches as pull request 7).
	if cs := g.bodies(7); len(cs) != 1 || cs[0] != comment {
		t.Errorf("the pull request's comments are %q, want the failure once", cs)
	}
	// Nothing was written: the base's copy is the run's, not the repo's.
	if got := read(t, filepath.Join(r.dir, "psync.state.json")); !strings.Contains(got, `"preventDestroy": false`) {
		t.Errorf("the checkout's state file changed:\n%s", got)
	}

	// A state added elsewhere (for settings.state to point to) is found by
	// its content, and so is a journal.
	w.git(w.dev, "checkout", "--quiet", "-b", "elsewhere", base)
	if err := os.MkdirAll(filepath.Join(w.dev, "backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dev, "backup", "old.json"), []byte(strings.Replace(st, `"preventDestroy": true`, `"preventDestroy": false`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dev, "backup", "j"), []byte(`{"psyncJournal":1,"lineage":"x","serial":1,"stateSha256":"00"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dev, "backup", "other.json"), []byte(`{"formatVersion": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "keep a backup")
	w.git(w.dev, "push", "--quiet", "origin", "elsewhere")
	r = w.prRun("elsewhere", base, "elsewhere")
	passed, out = r.plan(nil)
	if passed || !strings.Contains(out, "::error::this pull request edits the state file (backup/j backup/old.json)") {
		t.Errorf("a pull request that adds a state and a journal elsewhere: passed %v, want a failure naming both (and not other.json):\n%s", passed, out)
	}
}

// TestPlanFailsWhenPullRequestMovesTheState: without the state input (the
// manifest's settings.state decides, as the action allows), a pull request
// can leave every state file as it is and point settings.state at another
// one: here a copy kept in the repository from before a was protected. Its
// plan would delete a with no safety finding. The check compares the state
// psync reads for the pull request with the one it reads for the base,
// fails, and plans with the base's.
func TestPlanFailsWhenPullRequestMovesTheState(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a and b", []string{"a", "b"}, "a")
	if applyCode, commitCode, out := w.checkout("apply", c1).apply(); applyCode != 0 || commitCode != 0 {
		t.Fatalf("apply exit %d, state commit exit %d:\n%s", applyCode, commitCode, out)
	}
	w.git(w.dev, "pull", "--quiet", "origin", "main")
	st := read(t, filepath.Join(w.dev, "psync.state.json"))
	if err := os.MkdirAll(filepath.Join(w.dev, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dev, "old", "s.json"), []byte(strings.Replace(st, `"preventDestroy": true`, `"preventDestroy": false`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "an old copy of the state")
	w.git(w.dev, "push", "--quiet", "origin", "HEAD:main")
	base := w.git(w.dev, "rev-parse", "HEAD")

	// An honest pull request passes without the state input.
	w.git(w.dev, "checkout", "--quiet", "-b", "honest")
	writeManifest(t, w.dev, []string{"a", "b", "c"}, "a")
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "add c")
	w.git(w.dev, "push", "--quiet", "origin", "honest")
	r := w.prRun("honest", base, "honest")
	if passed, out := r.plan(map[string]string{"state": ""}); !passed {
		t.Fatalf("the plan of a pull request that leaves the state alone failed:\n%s", out)
	}

	w.git(w.dev, "checkout", "--quiet", "-b", "moved", base)
	writeManifest(t, w.dev, []string{"b"})
	m := filepath.Join(w.dev, "psync.yaml")
	if err := os.WriteFile(m, []byte(strings.Replace(read(t, m), "version: 1\n", "version: 1\nsettings:\n  state: old/s.json\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	w.git(w.dev, "commit", "--quiet", "-am", "tidy up")
	w.git(w.dev, "push", "--quiet", "origin", "moved")
	if code, out := w.psync(w.dev, "plan", "--detailed-exitcode"); code != 2 || !strings.Contains(out, "delete") {
		t.Fatalf("with the moved state the plan exits %d, want 2 (an unprotected delete):\n%s", code, out)
	}
	r = w.prRun("moved", base, "moved")
	passed, out := r.plan(map[string]string{"state": ""})
	if passed || !strings.Contains(out, "::error::this pull request edits the state file (settings.state") {
		t.Fatalf("a pull request that points settings.state at another state: passed %v, want a failure naming settings.state:\n%s", passed, out)
	}
	if got := r.outputs(); got["exitcode"] != "3" {
		t.Errorf("outputs %v, want exitcode 3 (planned with the base's state, which protects a)", got)
	}
	comment := read(t, filepath.Join(r.out, "comment.md"))
	if !strings.Contains(comment, "### This pull request edits the state file") || !strings.Contains(comment, "settings.state") {
		t.Errorf("the comment does not say the state moved:\n%s", comment)
	}
}

// TestPlanFindsStatesAsPsyncReadsThem: the check that a pull request adds
// no state elsewhere (for settings.state to point to) finds a state as
// psync's decoder reads it, not as it is usually spelt: Go's JSON matches
// keys case-insensitively (with Unicode folding: "ſ" is "s"), a state
// needs no lineage, and a journal may be larger than a state. Each file
// below is first shown to be a state psync reads, owning a script with no
// protection.
func TestPlanFindsStatesAsPsyncReadsThem(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a", []string{"a"}, "a")
	r := w.checkout("apply", c1)
	if applyCode, commitCode, out := r.apply(); applyCode != 0 || commitCode != 0 {
		t.Fatalf("apply exit %d, state commit exit %d:\n%s", applyCode, commitCode, out)
	}
	w.git(w.dev, "pull", "--quiet", "origin", "main")
	base := w.git(w.dev, "rev-parse", "HEAD")
	st := strings.Replace(read(t, filepath.Join(w.dev, "psync.state.json")), `"preventDestroy": true`, `"preventDestroy": false`, 1)
	var noLineage []string
	for _, l := range strings.Split(st, "\n") {
		if !strings.Contains(l, `"lineage"`) {
			noLineage = append(noLineage, l)
		}
	}
	states := map[string]string{
		"backup/upper.json":     strings.NewReplacer(`"formatVersion"`, `"FormatVersion"`, `"lineage"`, `"LINEAGE"`, `"scripts"`, `"Scripts"`).Replace(st),
		"backup/longs.json":     strings.Replace(st, `"formatVersion"`, `"formatVerſion"`, 1),
		"backup/escaped.json":   strings.Replace(st, `"formatVersion"`, `"formatVersio\u006e"`, 1),
		"backup/nolineage.json": strings.Join(noLineage, "\n"),
	}
	w.git(w.dev, "checkout", "--quiet", "-b", "disguised", base)
	if err := os.MkdirAll(filepath.Join(w.dev, "backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	var want []string
	for name, data := range states {
		if err := os.WriteFile(filepath.Join(w.dev, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := w.psync(w.dev, "--state", name, "state", "list")
		if code != 0 || !strings.Contains(out, "script/a") {
			t.Fatalf("psync does not read %s as a state owning a (exit %d):\n%s", name, code, out)
		}
		want = append(want, name)
	}
	// Journals: a header with its key in capitals, and one larger than a
	// state may be (psync reads journals up to 256 MiB).
	journals := map[string]string{
		"backup/upper.journal": `{"PSYNCJOURNAL":1,"lineage":"x","serial":1,"stateSha256":"00"}` + "\n",
		"backup/big.journal":   `{"psyncJournal":1,` + strings.Repeat(" ", 65<<20) + `"lineage":"x","serial":1,"stateSha256":"00"}` + "\n",
	}
	for name, data := range journals {
		if err := os.WriteFile(filepath.Join(w.dev, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	sort.Strings(want)
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "keep backups")
	w.git(w.dev, "push", "--quiet", "origin", "disguised")
	r = w.prRun("disguised", base, "disguised")
	passed, out := r.plan(nil)
	if passed || !strings.Contains(out, "::error::this pull request edits the state file ("+strings.Join(want, " ")+")") {
		t.Errorf("a pull request that adds disguised states: passed %v, want a failure naming %v:\n%s", passed, want, out)
	}
}

// TestPlanForkWithoutSecrets: a fork's pull request has no API key; the
// check fails with "no secrets for forks" and the manifest is validated.
func TestPlanForkWithoutSecrets(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a", []string{"a"})
	w.git(w.dev, "checkout", "--quiet", "-b", "fork")
	writeManifest(t, w.dev, []string{"a", "b"})
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "add b")
	w.git(w.dev, "push", "--quiet", "origin", "fork")
	r := w.prRun("fork", c1, "fork")
	r.event["event.pull_request.head.repo.full_name"] = "someone/infra"
	// No api-key (GitHub gives a fork none) and no --sandbox.
	passed, out := r.plan(map[string]string{"args": ""})
	if passed {
		t.Fatalf("the check passed:\n%s", out)
	}
	if !strings.Contains(out, "::warning::could not comment on the pull request") {
		t.Errorf("the comment step did not try (and fail, as a fork's token does):\n%s", out)
	}
	if !strings.Contains(out, "::error::no secrets for forks") {
		t.Errorf("no error annotation says why:\n%s", out)
	}
	comment := read(t, filepath.Join(r.out, "comment.md"))
	for _, want := range []string{"no secrets for forks", "someone/infra", "pull_request_target", "found the manifest valid"} {
		if !strings.Contains(comment, want) {
			t.Errorf("the summary lacks %q:\n%s", want, comment)
		}
	}
	if read(t, r.summary) != comment {
		t.Errorf("the job summary is not the comment")
	}

	// The same pull request from a branch of the repository, with the
	// secret missing: the summary says which secret to add.
	r = w.prRun("no-secret", c1, "fork")
	passed, out = r.plan(map[string]string{"args": ""})
	if passed || !strings.Contains(out, "::error::the api-key input is empty") {
		t.Errorf("without a key: passed %v, want a failure naming the input:\n%s", passed, out)
	}
	if summary := read(t, r.summary); !strings.Contains(summary, "Add the repository secret `PAPERSPACE_API_KEY`") {
		t.Errorf("the summary does not say which secret to add:\n%s", summary)
	}
}

// TestPlanAnnotationsInATeamDirectory: for a team in its own directory
// (working-directory, as teams-plan.yml runs it), psync's annotations name
// the manifest's lines relative to the repository, where GitHub shows
// them; a script line that looks like a workflow command stays text.
func TestPlanAnnotationsInATeamDirectory(t *testing.T) {
	w := newWorld(t)
	team := filepath.Join(w.dev, "teams", "ml")
	writeManifest(t, team, []string{"a"})
	forged := "#!/bin/bash\n::error file=README.md,line=1::forged by a script\n````\n"
	if err := os.WriteFile(filepath.Join(team, "scripts", "a.sh"), []byte(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "team ml")
	w.git(w.dev, "push", "--quiet", "origin", "HEAD:main")
	base := w.git(w.dev, "rev-parse", "HEAD")

	// A valid plan: the forged line is in the log as text only.
	w.git(w.dev, "checkout", "--quiet", "-b", "valid")
	w.git(w.dev, "commit", "--quiet", "--allow-empty", "-m", "nothing")
	w.git(w.dev, "push", "--quiet", "origin", "valid")
	r := w.prRun("valid", base, "valid")
	passed, out := r.plan(map[string]string{"working-directory": "teams/ml", "state": ""})
	if !passed {
		t.Fatalf("the plan failed:\n%s", out)
	}
	live := liveCommands(out)
	for _, l := range live {
		if strings.Contains(l, "forged") {
			t.Errorf("a script's line became a workflow command: %q\n%s", l, out)
		}
	}
	comment := read(t, filepath.Join(r.out, "comment.md"))
	if !strings.HasPrefix(comment, "<!-- psync-action plan teams/ml/psync.yaml -->\n") || !strings.Contains(comment, "forged by a script") {
		t.Errorf("the comment:\n%s", comment)
	}

	// An invalid manifest: errors on its lines, named from the root.
	w.git(w.dev, "checkout", "--quiet", "-b", "invalid", base)
	if err := os.WriteFile(filepath.Join(team, "psync.yaml"), []byte("version: 1\nscripts:\n  - name: a\n    fil: scripts/a.sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.git(w.dev, "commit", "--quiet", "-am", "typo")
	w.git(w.dev, "push", "--quiet", "origin", "invalid")
	r = w.prRun("invalid", base, "invalid")
	passed, out = r.plan(map[string]string{"working-directory": "teams/ml", "state": ""})
	if passed {
		t.Fatalf("the plan of an invalid manifest passed:\n%s", out)
	}
	want := "::error file=teams/ml/psync.yaml,line=4,col=5,"
	found := false
	for _, l := range liveCommands(out) {
		found = found || strings.HasPrefix(l, want)
	}
	if !found {
		t.Errorf("no annotation starts with %q:\n%s", want, out)
	}
	comment = read(t, filepath.Join(r.out, "comment.md"))
	if !strings.Contains(comment, "### psync plan failed (exit 1)") || !strings.Contains(comment, `unknown field "fil"`) {
		t.Errorf("the comment does not show the error:\n%s", comment)
	}
	if strings.Contains(comment, "edits the state file") {
		t.Errorf("an invalid manifest is taken for a moved state:\n%s", comment)
	}
}

// liveCommands are the lines of a step's log that GitHub reads as workflow
// commands: those starting with "::" outside ::stop-commands::TOKEN ...
// ::TOKEN:: blocks.
func liveCommands(log string) []string {
	var live []string
	token := ""
	for _, l := range strings.Split(log, "\n") {
		switch {
		case token != "":
			if l == "::"+token+"::" {
				token = ""
			}
		case strings.HasPrefix(l, "::stop-commands::"):
			token = strings.TrimPrefix(l, "::stop-commands::")
		case strings.HasPrefix(l, "::"):
			live = append(live, l)
		}
	}
	return live
}

// TestPlanWithoutHistorySaysWhy: a checkout one commit deep, whose base
// cannot be fetched (a private repository without the checkout's token),
// cannot be compared with the base; the check fails and says what to set.
func TestPlanWithoutHistorySaysWhy(t *testing.T) {
	w := newWorld(t)
	base := w.merge("add a", []string{"a"})
	w.git(w.dev, "checkout", "--quiet", "-b", "shallow")
	writeManifest(t, w.dev, []string{"a", "b"})
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "add b")
	w.git(w.dev, "push", "--quiet", "origin", "shallow")
	r := w.prRunDepth("shallow", base, "shallow", 1)
	w.git(r.dir, "remote", "set-url", "origin", "file://"+filepath.Join(w.root, "unreachable.git"))
	passed, out := r.plan(nil)
	if passed || !strings.Contains(out, "::error::cannot find where this pull request forks from") {
		t.Fatalf("passed %v, want a failure that says why:\n%s", passed, out)
	}
	if summary := read(t, r.summary); !strings.Contains(summary, "fetch-depth: 2") {
		t.Errorf("the summary does not say what to set:\n%s", summary)
	}
	// With its token (the origin reachable), the same checkout fetches what
	// it needs and plans.
	w.git(r.dir, "remote", "set-url", "origin", "file://"+w.origin)
	if passed, out := r.plan(nil); !passed {
		t.Errorf("with the origin reachable the plan failed:\n%s", out)
	}
}

// TestProtectedMainSaysHow: when main refuses the state commit as GitHub
// does for a protected branch, the run fails at once (no retries), says
// which token to give, and the apply's changes are still done.
func TestProtectedMainSaysHow(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a", []string{"a"})
	hook := filepath.Join(w.origin, "hooks", "pre-receive")
	rule := "#!/bin/sh\necho 'error: GH006: Protected branch update failed for refs/heads/main.' >&2\necho 'error: Changes must be made through a pull request.' >&2\nexit 1\n"
	if err := os.WriteFile(hook, []byte(rule), 0o755); err != nil {
		t.Fatal(err)
	}
	r := w.checkout("protected", c1)
	applyCode, commitCode, out := r.apply()
	if applyCode != 0 || commitCode != 1 {
		t.Fatalf("apply exit %d, state commit exit %d, want 0 and 1:\n%s", applyCode, commitCode, out)
	}
	if !strings.Contains(out, "::error::main is protected and this token may not push to it") || !strings.Contains(out, `"Protected main"`) {
		t.Errorf("the failure does not say which token to give:\n%s", out)
	}
	if strings.Contains(out, "push attempt") {
		t.Errorf("a protected branch was retried:\n%s", out)
	}
	if got := keys(w.sandboxScripts()); len(got) != 1 || got[0] != "a" {
		t.Errorf("the sandbox has %v, want a", got)
	}
}

// TestKilledApplyCommitsItsJournal: a runner killed mid-apply (psync gets
// SIGKILL after its first recorded change) still commits the state with
// its journal, so the next run knows what the killed one made: it
// converges with no duplicate, and commits the folded state and the
// journal's deletion.
func TestKilledApplyCommitsItsJournal(t *testing.T) {
	w := newWorld(t)
	var names []string
	for i := range 30 {
		names = append(names, fmt.Sprintf("s%02d", i))
	}
	c1 := w.merge("thirty scripts", names)
	inst, err := sandbox.Start(sandbox.Config{DataDir: t.TempDir(), Faults: sandbox.Faults{Latency: 100 * time.Millisecond}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	apply := func(r *runner) (map[string]stepResult, string) {
		r.env = append(r.env, "PAPERSPACE_API_URL="+inst.URL)
		return r.runAction(map[string]string{"command": "apply", "commit-state": "true", "state": "psync.state.json",
			"api-key": inst.Key, "args": "--parallelism 1 --rate-limit 0"})
	}

	killed := w.checkout("killed", c1)
	killed.env = append(killed.env, "PSYNC_TEST_KILL_JOURNAL="+filepath.Join(killed.dir, "psync.state.json.journal"))
	res, killedOut := apply(killed)
	out := killedOut
	if code := exitCode(res["psync"]); code != 137 {
		t.Fatalf("the killed apply exited %d, want 137 (SIGKILL):\n%s", code, out)
	}
	if res["commit-state"].outcome != "success" {
		t.Fatalf("the state was not committed after the kill (%v):\n%s", res["commit-state"], out)
	}
	tree := w.git(w.origin, "ls-tree", "--name-only", "main")
	if !strings.Contains(tree, "psync.state.json.journal") {
		t.Fatalf("main lacks the killed apply's journal:\n%s\n%s", tree, out)
	}
	if !strings.Contains(read(t, killed.summary), "### psync apply: failed (exit 137)") {
		t.Errorf("the summary does not report the kill:\n%s", read(t, killed.summary))
	}

	next := w.checkout("next", c1) // also triggered by c1: a re-run
	res, out = apply(next)
	if failed(res) {
		t.Fatalf("the next apply failed (%v):\n%s", res, out)
	}
	// What the killed apply reported done was recorded: the next one
	// neither creates nor adopts it. Only the change in flight at the kill
	// (one, at --parallelism 1) may be adopted by name.
	done := reportedDone(killedOut)
	if len(done) == 0 {
		t.Fatalf("the killed apply reported nothing done:\n%s", killedOut)
	}
	for _, name := range done {
		if strings.Contains(out, `+ script "`+name+`"`) || strings.Contains(out, `<= script "`+name+`"`) {
			t.Errorf("the next apply redoes %s, which the killed one reported done:\n%s", name, out)
		}
	}
	if n := countLines(out, "done     <= script"); n > 1 {
		t.Errorf("the next apply adopted %d scripts, want at most the one in flight:\n%s", n, out)
	}
	tree = w.git(w.origin, "ls-tree", "--name-only", "main")
	if strings.Contains(tree, "journal") {
		t.Errorf("main still holds a journal after an apply that finished:\n%s", tree)
	}
	d, err := inst.Server.Dump(inst.TeamID)
	if err != nil {
		t.Fatal(err)
	}
	if dup := d.DuplicateNames(); len(dup) > 0 {
		t.Errorf("duplicates: %v", dup)
	}
	remote := map[string]string{}
	for _, s := range d.StartupScripts {
		remote[s.Name] = s.ID
	}
	if diff := cmp.Diff(remote, stateScripts(t, w.git(w.origin, "show", "main:psync.state.json"))); diff != "" {
		t.Errorf("the state on main (+) differs from the team (-):\n%s", diff)
	}
	if len(remote) != len(names) {
		t.Errorf("the team has %d scripts, want %d", len(remote), len(names))
	}
}

// reportedDone lists the scripts an apply's output reports created.
func reportedDone(out string) []string {
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(l, `done      + script "`); ok {
			if name, _, ok := strings.Cut(rest, `"`); ok {
				names = append(names, name)
			}
		}
	}
	return names
}

// TestDriftChecksTheBranchOnly: the drift check run by workflow_dispatch
// on another branch plans nothing, and leaves the drift issue alone: that
// branch's manifest is not what the team should match, and its verdict
// would open or close the issue about main.
func TestDriftChecksTheBranchOnly(t *testing.T) {
	w := newWorld(t)
	c1 := w.merge("add a", []string{"a"})
	r := w.checkout("dispatch", c1)
	r.env = append(r.env, "GITHUB_REF=refs/heads/try-it")
	res, out := r.runAction(map[string]string{"command": "drift", "state": "psync.state.json", "args": "--sandbox " + w.sandbox})
	if code := exitCode(res["psync"]); code != 1 {
		t.Fatalf("the drift check on a branch: exit %d, want 1:\n%s", code, out)
	}
	if strings.Contains(out, "Plan:") || strings.Contains(out, "No changes") {
		t.Errorf("psync planned the branch:\n%s", out)
	}
	if !strings.Contains(read(t, r.summary), "checks main only, and this run is for refs/heads/try-it") {
		t.Errorf("the summary does not say why:\n%s", read(t, r.summary))
	}
	if !strings.Contains(out, "the drift issue is left as it is") {
		t.Errorf("the drift issue step did not leave the issue alone:\n%s", out)
	}
}

// TestApplyCommitsTheStateSettingsNames: with no state input (the action
// allows it, and psync then takes the manifest's settings.state), the state
// commit holds the file psync wrote, the one settings.state names, and the
// next run reads it: nothing is adopted again.
func TestApplyCommitsTheStateSettingsNames(t *testing.T) {
	w := newWorld(t)
	writeManifest(t, w.dev, []string{"a"})
	m := filepath.Join(w.dev, "psync.yaml")
	if err := os.WriteFile(m, []byte(strings.Replace(read(t, m), "version: 1\n", "version: 1\nsettings:\n  state: states/team.json\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(w.dev, "states"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dev, "states", ".gitkeep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w.git(w.dev, "add", "-A")
	w.git(w.dev, "commit", "--quiet", "-m", "add a")
	w.git(w.dev, "push", "--quiet", "origin", "HEAD:main")
	for i, want := range []string{"done      + script", ""} {
		r := w.checkout(fmt.Sprintf("run%d", i+1), w.git(w.origin, "rev-parse", "main"))
		res, out := r.runAction(map[string]string{"command": "apply", "commit-state": "true", "args": "--sandbox " + w.sandbox})
		if failed(res) {
			t.Fatalf("run %d failed (%v):\n%s", i+1, res, out)
		}
		if want != "" && !strings.Contains(out, want) {
			t.Fatalf("run %d did not create a:\n%s", i+1, out)
		}
		if strings.Contains(out, "<= script") {
			t.Errorf("run %d adopted what run 1 made: its state was not committed:\n%s", i+1, out)
		}
	}
	if diff := cmp.Diff(w.sandboxScripts(), stateScripts(t, w.git(w.origin, "show", "main:states/team.json"))); diff != "" {
		t.Errorf("the state on main (+) differs from the sandbox's scripts (-):\n%s", diff)
	}
}
