package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// runPsync runs the CLI in-process and returns its exit code and output.
func runPsync(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Interrupts: make(chan os.Signal)})
	return code, out.String(), errOut.String()
}

// startSandbox starts a sandbox the CLI reaches through the environment,
// as it would reach Paperspace.
func startSandbox(t *testing.T) *sandbox.Instance {
	t.Helper()
	inst, err := sandbox.Start(sandbox.Config{Keys: map[string]string{"psk_live_0123456789abcdef": "team-a"}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	t.Setenv("PAPERSPACE_API_URL", inst.URL)
	t.Setenv("PAPERSPACE_API_KEY", inst.Key)
	return inst
}

func writeManifest(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "psync.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const twoScripts = `version: 1
scripts:
  - name: a
    script: "echo a\n"
  - name: b
    script: "echo b\n"
templates:
  - name: t
    machineId: psbox001
assignments:
  - script: a
    machines: [psbox001, psbox002]
`

// Planning only reads: every request psync plan makes is a GET, even when
// the plan has creates, updates and deletes in it.
func TestPlanMakesOnlyGETs(t *testing.T) {
	inst := startSandbox(t)
	manifest := writeManifest(t, twoScripts)
	if code, _, stderr := runPsync(t, "-f", manifest, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	// Now change everything: a body, a flag, a deletion, a new script,
	// a reassignment.
	os.WriteFile(manifest, []byte(strings.NewReplacer(
		`echo a`, `echo a2`, "  - name: b\n    script: \"echo b\\n\"\n", "  - name: c\n    script: \"echo c\\n\"\n",
		"psbox002", "psbox003").Replace(twoScripts)), 0o644)
	inst.Server.ResetStats()
	code, stdout, stderr := runPsync(t, "-f", manifest, "plan", "--detailed-exitcode")
	if code != ExitChanges {
		t.Fatalf("plan: exit %d, want %d\n%s%s", code, ExitChanges, stdout, stderr)
	}
	stats := inst.Server.Stats()
	if stats.Total == 0 {
		t.Fatal("plan made no requests")
	}
	for method, n := range stats.ByMethod {
		if method != "GET" {
			t.Errorf("plan made %d %s requests; planning must only read", n, method)
		}
	}
}

// The API key appears in no output, no error and no debug line, whatever
// happens: success, an API error, a connection failure.
func TestKeyNeverPrinted(t *testing.T) {
	inst := startSandbox(t)
	key := inst.Key
	manifest := writeManifest(t, twoScripts)
	bad := writeManifest(t, strings.Replace(twoScripts, "psbox001, psbox002", "psbox999", 1))
	runs := [][]string{
		{"--debug", "-f", manifest, "plan"},
		{"--debug", "-f", manifest, "apply", "--auto-approve"},
		{"--debug", "-f", bad, "apply", "--auto-approve"}, // 404: no such machine
		{"--debug", "--api-url", "http://127.0.0.1:1/v1", "--max-attempts", "1", "-f", manifest, "plan"},
		{"--debug", "--api-url", "http://example.invalid/v1", "-f", manifest, "plan"}, // refused: plain http
	}
	for _, args := range runs {
		_, stdout, stderr := runPsync(t, args...)
		if !strings.Contains(stderr, "GET") && args[1] == "-f" {
			t.Errorf("%v: --debug logged no request:\n%s", args, stderr)
		}
		if strings.Contains(stdout+stderr, key) {
			t.Errorf("%v: the API key appears in the output:\n%s\n%s", args, stdout, stderr)
		}
	}
}

// A saved plan made with one team's key is refused with another's, even
// with no state file to say whose it is. (The live API says whose a key is,
// GET /auth/session; the spec's API has no way to tell for an empty team.)
func TestSavedPlanRefusedForAnotherTeam(t *testing.T) {
	inst, err := sandbox.Start(sandbox.Config{Dialect: sandbox.DialectPaperspace1, Keys: map[string]string{"key-of-team-a": "team-a", "key-of-team-b": "team-b"}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	t.Setenv("PAPERSPACE_API_URL", inst.URL)
	manifest := writeManifest(t, twoScripts)
	planFile := filepath.Join(t.TempDir(), "a.plan")

	t.Setenv("PAPERSPACE_API_KEY", "key-of-team-a")
	if code, _, stderr := runPsync(t, "-f", manifest, "--state", filepath.Join(t.TempDir(), "a.json"), "plan", "--out", planFile); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	t.Setenv("PAPERSPACE_API_KEY", "key-of-team-b")
	code, _, stderr := runPsync(t, "-f", manifest, "--state", filepath.Join(t.TempDir(), "b.json"), "apply", planFile)
	if code != ExitRefused || !strings.Contains(stderr, "was made for team team-a, but the API key belongs to team team-b") {
		t.Errorf("apply with team b's key: exit %d, want %d naming both teams\n%s", code, ExitRefused, stderr)
	}
	if d, err := inst.Server.Dump("team-b"); err != nil || len(d.StartupScripts) != 0 {
		t.Errorf("team b has %d scripts after the refused apply (err %v), want 0", len(d.StartupScripts), err)
	}
}

// Ctrl-C during an apply: no new change starts, the ones in flight finish
// and are recorded, psync exits 130, and a re-run does exactly the rest.
func TestApplyInterrupted(t *testing.T) {
	inst, err := sandbox.Start(sandbox.Config{Faults: sandbox.Faults{Latency: 40 * time.Millisecond}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	t.Setenv("PAPERSPACE_API_URL", inst.URL)
	t.Setenv("PAPERSPACE_API_KEY", inst.Key)
	var m strings.Builder
	m.WriteString("version: 1\nscripts:\n")
	for i := range 60 {
		fmt.Fprintf(&m, "  - name: s%02d\n    script: \"echo %d\\n\"\n", i, i)
	}
	manifest := writeManifest(t, m.String())
	statePath := filepath.Join(filepath.Dir(manifest), "psync.state.json")

	interrupts := make(chan os.Signal, 1)
	var out, errOut bytes.Buffer
	go func() {
		time.Sleep(300 * time.Millisecond)
		interrupts <- os.Interrupt
	}()
	code := run([]string{"-f", manifest, "--rate-limit", "0", "apply", "--auto-approve", "--parallelism", "2"},
		&IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Interrupts: interrupts})
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitInterrupted, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "finishing the changes in flight") || !strings.Contains(out.String(), "not started") {
		t.Errorf("the output does not say what happened:\n%s%s", out.String(), errOut.String())
	}

	st, err := state.Load(statePath)
	if err != nil {
		t.Fatalf("state after the interrupt: %v", err)
	}
	dump, err := inst.Server.Dump(inst.TeamID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Scripts) == 0 || len(st.Scripts) == 60 {
		t.Fatalf("%d scripts recorded: the interrupt came before or after the apply, not during it", len(st.Scripts))
	}
	// Everything made was recorded: in-flight changes finished and were journaled.
	if len(dump.StartupScripts) != len(st.Scripts) {
		t.Errorf("the team has %d scripts, the state records %d", len(dump.StartupScripts), len(st.Scripts))
	}
	// What was not started is one line of counts, not one per change,
	// with the way to finish.
	left := 60 - len(st.Scripts)
	if want := fmt.Sprintf(", %d not started (%d create) in ", left, left); strings.Count(out.String(), "not started") != 1 || !strings.Contains(out.String(), want) {
		t.Errorf("the report does not say %q once:\n%s", want, out.String())
	}
	if !strings.Contains(out.String()+errOut.String(), "Run 'psync apply' again to finish") {
		t.Errorf("the output does not say to run apply again:\n%s%s", out.String(), errOut.String())
	}

	if code, stdout, stderr := runPsync(t, "-f", manifest, "--rate-limit", "0", "apply", "--auto-approve"); code != 0 {
		t.Fatalf("re-run: exit %d\n%s%s", code, stdout, stderr)
	} else if want := fmt.Sprintf("Apply complete: %d done", 60-len(st.Scripts)); !strings.Contains(stdout, want) {
		t.Errorf("re-run did not do exactly the rest (%q):\n%s", want, stdout)
	}
	dump, _ = inst.Server.Dump(inst.TeamID)
	names := map[string]bool{}
	for _, s := range dump.StartupScripts {
		names[s.Name] = true
	}
	if len(dump.StartupScripts) != 60 || len(names) != 60 {
		t.Errorf("after the re-run: %d scripts, %d names; want 60 and 60", len(dump.StartupScripts), len(names))
	}
}

// When the API cannot be reached, or refuses the key, the error says which
// setting to check.
func TestConnectionErrorsNameTheSetting(t *testing.T) {
	startSandbox(t)
	manifest := writeManifest(t, twoScripts)
	t.Setenv("PAPERSPACE_API_KEY", "psk_live_not_a_key_of_this_sandbox")
	code, _, stderr := runPsync(t, "-f", manifest, "plan")
	if code != ExitError || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "check the key in PAPERSPACE_API_KEY") {
		t.Errorf("a wrong key: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runPsync(t, "--api-url", "http://127.0.0.1:1/v1", "--max-attempts", "1", "-f", manifest, "plan")
	if code != ExitError || !strings.Contains(stderr, "check the API URL (--api-url or PAPERSPACE_API_URL)") {
		t.Errorf("an unreachable URL: exit %d\n%s", code, stderr)
	}
}

// With the spec's API, which cannot say whose a key is, a state is still
// never used against another team: the team comes from the objects'
// teamId once there are any, and a team where none of the state's objects
// is (an empty one) makes the plan unsafe. (Found by a design audit: the
// state silently forgot team-a's objects and took team-b's.)
func TestStateOfAnotherTeamSpecDialect(t *testing.T) {
	inst, err := sandbox.Start(sandbox.Config{Keys: map[string]string{"psk_a_0123456789": "team-a", "psk_b_0123456789": "team-b"}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	t.Setenv("PAPERSPACE_API_URL", inst.URL)
	manifest := writeManifest(t, `version: 1
scripts:
  - {name: one, script: "echo 1"}
  - {name: two, script: "echo 2"}
  - {name: three, script: "echo 3"}
`)
	t.Setenv("PAPERSPACE_API_KEY", "psk_a_0123456789")
	if code, out, errOut := runPsync(t, "-f", manifest, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply for team-a: exit %d\n%s%s", code, out, errOut)
	}
	// A run that changes nothing still records the team it learnt.
	if code, out, errOut := runPsync(t, "-f", manifest, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("second apply for team-a: exit %d\n%s%s", code, out, errOut)
	}

	t.Setenv("PAPERSPACE_API_KEY", "psk_b_0123456789")
	code, out, errOut := runPsync(t, "-f", manifest, "plan")
	if code != ExitRefused || !strings.Contains(out+errOut, "none of the 3 objects the state owns is in the team") {
		t.Errorf("team-b, empty: exit %d, want 3 naming the gone objects\n%s%s", code, out, errOut)
	}
	// Once team-b has objects, their teamId says whose the key is.
	if code, out, errOut := runPsync(t, "-f", manifest, "apply", "--auto-approve", "--state", filepath.Join(t.TempDir(), "b.json")); code != 0 {
		t.Fatalf("apply for team-b with its own state: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runPsync(t, "-f", manifest, "plan")
	if code != ExitRefused || !strings.Contains(errOut, "the state belongs to") || !strings.Contains(errOut, "team team-a") {
		t.Errorf("team-b: exit %d, want 3 naming team-a\n%s%s", code, out, errOut)
	}
}

// An apply with nothing to do still folds the journal a killed apply left
// behind into the state file.
func TestApplyWithNothingToDoFoldsTheJournal(t *testing.T) {
	startSandbox(t)
	manifest := writeManifest(t, twoScripts)
	if code, out, errOut := runPsync(t, "-f", manifest, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	statePath := filepath.Join(filepath.Dir(manifest), "psync.state.json")
	st, err := state.Load(statePath)
	if err != nil {
		t.Fatal(err)
	}
	// What a killed apply leaves: a checkpoint and a journal after it.
	j := state.NewJournal(statePath, st)
	for range 2 {
		if err := j.Update(func(*state.State) {}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(state.JournalPath(statePath)); err != nil {
		t.Fatalf("no journal to fold: %v", err)
	}
	if code, out, errOut := runPsync(t, "-f", manifest, "apply", "--auto-approve", "--dry-run"); code != 0 || !strings.Contains(out, "No changes") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(state.JournalPath(statePath)); err != nil {
		t.Errorf("a dry run folded the journal: %v", err)
	}
	if code, out, errOut := runPsync(t, "-f", manifest, "apply", "--auto-approve"); code != 0 || !strings.Contains(out, "No changes") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(state.JournalPath(statePath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal is still there after an apply: %v", err)
	}
	if _, err := state.Load(statePath); err != nil {
		t.Errorf("the folded state does not load: %v", err)
	}
}

// Against an API that rate-limits, apply learns the limit from the 429s
// (no client limit by default), finishes, and says so once at the end:
// without a terminal there is no status line to show it.
func TestApplyLearnsTheAPIsRateLimit(t *testing.T) {
	inst, err := sandbox.Start(sandbox.Config{Faults: sandbox.Faults{RPS: 20}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	t.Setenv("PAPERSPACE_API_URL", inst.URL)
	t.Setenv("PAPERSPACE_API_KEY", inst.Key)
	var m strings.Builder
	m.WriteString("version: 1\nscripts:\n")
	for i := range 60 {
		fmt.Fprintf(&m, "  - name: s%02d\n    script: \"echo %d\\n\"\n", i, i)
	}
	manifest := writeManifest(t, m.String())
	code, stdout, stderr := runPsync(t, "-f", manifest, "apply", "--auto-approve")
	if code != 0 || !strings.Contains(stdout, "Apply complete: 60 done") {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`psync: note: the API rate-limited this apply: psync held to about \d+ requests/s after \d+ 429 answers?`).MatchString(stderr) {
		t.Errorf("stderr does not say the API's limit held the apply back:\n%s", stderr)
	}
	// Without 429s, nothing is said.
	free, err := sandbox.Start(sandbox.Config{}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { free.Close() })
	t.Setenv("PAPERSPACE_API_URL", free.URL)
	t.Setenv("PAPERSPACE_API_KEY", free.Key)
	code, _, stderr = runPsync(t, "-f", manifest, "--state", filepath.Join(t.TempDir(), "s.json"), "apply", "--auto-approve")
	if code != 0 || strings.Contains(stderr, "rate-limited") {
		t.Errorf("a small apply: exit %d, and stderr:\n%s", code, stderr)
	}
}
