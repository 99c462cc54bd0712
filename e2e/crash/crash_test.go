// Package crash kills the real psync binary in the middle of applies and
// runs two at once, against a sandbox served by the test: after every
// kill the remote has no duplicate, the state file loads, and a re-run
// converges; of two concurrent applies one proceeds and the other fails
// fast naming the lock holder.
//
// It is its own package, apart from e2e's chaos test, so that each stays
// well within a minute under -race on a 2-CPU runner.
package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

var (
	buildOnce sync.Once
	psyncBin  string
	buildErr  error
)

// binary builds cmd/psync once per test process, with the go of this
// toolchain.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "psync-crash-")
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
		gocmd := filepath.Join(strings.TrimSpace(string(goroot)), "bin", "go")
		cmd := exec.Command(gocmd, "build", "-o", psyncBin, "./cmd/psync")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/psync: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return psyncBin
}

// env is a sandbox served by the test and a workspace for psync processes.
type env struct {
	t         *testing.T
	tmp       string // the psync processes' TMPDIR
	inst      *sandbox.Instance
	dir       string
	statePath string
	bin       string
	// stateURL, when set, is the --state of every psync run (an S3
	// state), and extraEnv their environment for it.
	stateURL string
	extraEnv []string
}

func newEnv(t *testing.T, faults sandbox.Faults) *env {
	t.Helper()
	bin := binary(t)
	inst, err := sandbox.Start(sandbox.Config{DataDir: t.TempDir(), Faults: faults}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	dir := t.TempDir()
	return &env{t: t, inst: inst, dir: dir, tmp: t.TempDir(), statePath: filepath.Join(dir, state.DefaultFileName), bin: bin}
}

// command is psync with the API pointed at the sandbox and no client rate
// limit (the sandbox's latency is the limit).
func (e *env) command(args ...string) *exec.Cmd {
	flags := []string{"-f", e.dir, "--rate-limit", "0", "--max-retry-time", "30s"}
	if e.stateURL != "" {
		flags = append(flags, "--state", e.stateURL)
	}
	cmd := exec.Command(e.bin, append(flags, args...)...)
	cmd.Env = append(os.Environ(), "PAPERSPACE_API_URL="+e.inst.URL, "PAPERSPACE_API_KEY="+e.inst.Key, "NO_COLOR=1", "TMPDIR="+e.tmp)
	cmd.Env = append(cmd.Env, e.extraEnv...)
	return cmd
}

// run runs psync to the end and returns its exit code and output.
func (e *env) run(args ...string) (int, string) {
	code, out := e.runQuiet(args...)
	if code < 0 {
		e.t.Fatalf("psync %v: %s", args, out)
	}
	return code, out
}

// runQuiet is run without failing the test when psync cannot start (exit
// -1, the error as output), for goroutines other than the test's.
func (e *env) runQuiet(args ...string) (int, string) {
	out, err := e.command(args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	default:
		return -1, err.Error()
	}
}

// desired is one version of the manifest: nScripts scripts with bodies of
// this version, each assigned to 2 or 3 machines.
type desired struct {
	version  int
	nScripts int
}

func (d desired) scriptName(i int) string { return fmt.Sprintf("crash-%03d", i) }

func (d desired) machinesOf(i int) []string {
	n := 2
	if i%3 == 0 {
		n = 3
	}
	var out []string
	for k := range n {
		out = append(out, fmt.Sprintf("psbox%03d", 1+(i+k*3+d.version)%10))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func (d desired) body(i int) string {
	return fmt.Sprintf("#!/bin/sh\necho 'script %d, version %d'\n", i, d.version)
}

func (d desired) write(t *testing.T, dir string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nsettings:\n  maxDeletePercent: 100\nscripts:")
	if d.nScripts == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	for i := range d.nScripts {
		body, _ := json.Marshal(d.body(i))
		fmt.Fprintf(&b, "  - name: %s\n    script: %s\n", d.scriptName(i), body)
	}
	b.WriteString("assignments:")
	if d.nScripts == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	for i := range d.nScripts {
		fmt.Fprintf(&b, "  - script: %s\n    machines: [%s]\n", d.scriptName(i), strings.Join(d.machinesOf(i), ", "))
	}
	if err := os.WriteFile(filepath.Join(dir, "psync.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// changes is how many changes applying d to an empty team makes.
func (d desired) changes() int {
	n := d.nScripts
	for i := range d.nScripts {
		n += len(d.machinesOf(i))
	}
	return n
}

// TestCrashSafety SIGKILLs psync apply at random points of applies of 500
// changes (150 scripts and 350 assignments created into an empty team), at
// least 20 times. After each kill the dump has no duplicate name and the
// state file loads; a re-run then converges (exit 0, and a fresh plan is
// empty and the dump is the manifest).
func TestCrashSafety(t *testing.T) {
	e := newEnv(t, sandbox.Faults{Latency: time.Millisecond, Jitter: time.Millisecond})
	full := desired{nScripts: 150}
	if n := full.changes(); n < 480 || n > 520 {
		t.Fatalf("the full manifest makes %d changes, want about 500", n)
	}
	r := killPoints(t, 1)

	kills, rounds, withJournal := 0, 0, 0
	var points []string
	for kills < 20 && rounds < 40 {
		rounds++
		// Delete everything (150 changes, not killed), then create it all
		// again with new bodies and assignments: 500 changes, killed.
		empty := desired{version: rounds}
		empty.write(t, e.dir)
		if code, out := e.run("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: delete all: exit %d\n%s", rounds, code, out)
		}
		d := desired{version: rounds, nScripts: full.nScripts}
		d.write(t, e.dir)
		before := e.changesLeft(t)

		// Kill when the sandbox has answered a random number of writes:
		// the kill points spread over the apply however fast the machine.
		at := 5 + r.IntN(before-10)
		e.inst.Server.ResetStats()
		out, killed, err := killWhen(t, e.command("apply", "--auto-approve"), func() bool { return e.inst.Server.Stats().Writes() >= at })
		delay := fmt.Sprintf("write %d", at)
		if !killed {
			t.Logf("round %d: apply ended before the kill at %s (%v)", rounds, delay, err)
		} else {
			kills++
		}

		// Right after the kill: no duplicate, and a state file that loads.
		dump := e.dump(t)
		if dup := dump.DuplicateNames(); len(dup) > 0 {
			t.Fatalf("round %d: after a kill at %s, duplicate names: %v\n%s", rounds, delay, dup, out)
		}
		if _, err := state.Load(e.statePath); err != nil {
			t.Fatalf("round %d: after a kill at %s, the state does not load: %v", rounds, delay, err)
		}
		if _, err := os.Stat(state.JournalPath(e.statePath)); err == nil {
			withJournal++ // what the next plan reads is the state file and its journal
		}
		left := e.changesLeft(t)
		points = append(points, fmt.Sprintf("%d/%d", before-left, before))

		if code, out := e.run("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: the re-run after a kill at %s: exit %d\n%s", rounds, delay, code, out)
		}
		e.check(t, d, fmt.Sprintf("round %d (killed at %s)", rounds, delay))
	}
	t.Logf("%d kills in %d rounds (%d left a journal); changes done at each kill: %s", kills, rounds, withJournal, strings.Join(points, ", "))
	if withJournal == 0 {
		t.Errorf("no kill left a journal: the replay of a killed apply's journal was not exercised")
	}
	// Temporary files of interrupted atomic writes stay behind (the state
	// is written through $TMPDIR when it is on the same file system). They
	// are never mistaken for the state, but they hold its content.
	for _, d := range []string{e.dir, e.tmp} {
		entries, _ := os.ReadDir(d)
		var left []string
		for _, de := range entries {
			switch de.Name() {
			case "psync.yaml", state.DefaultFileName, state.DefaultFileName + ".lock":
			default:
				left = append(left, de.Name())
			}
		}
		if len(left) > 0 {
			t.Logf("%d files left in %s by %d killed applies, e.g. %s", len(left), d, kills, left[0])
		}
	}
	if kills < 20 {
		t.Errorf("only %d of %d applies were killed before they ended", kills, rounds)
	}
	if code, out := e.run("plan", "--detailed-exitcode"); code != 0 {
		t.Errorf("final plan: exit %d, want 0 (no changes)\n%s", code, out)
	}
}

// TestConcurrentApplies runs two applies on one state file at once: the
// second fails fast naming the first, the first completes, nothing is lost.
func TestConcurrentApplies(t *testing.T) {
	e := newEnv(t, sandbox.Faults{Latency: 10 * time.Millisecond})
	d := desired{nScripts: 40}
	d.write(t, e.dir)

	first := e.command("apply", "--auto-approve", "--parallelism", "2")
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the first holds the lock (its holder record is written).
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(e.statePath + ".lock")
		if bytes.Contains(data, []byte(fmt.Sprintf(`"pid":%d`, first.Process.Pid))) {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			first.Wait()
			t.Fatalf("the first apply never took the lock\n%s", out1.String())
		}
		time.Sleep(5 * time.Millisecond)
	}

	start := time.Now()
	code, out2 := e.run("apply", "--auto-approve")
	took := time.Since(start)
	if code != 1 {
		t.Errorf("second apply: exit %d, want 1\n%s", code, out2)
	}
	if want := fmt.Sprintf("locked by pid %d", first.Process.Pid); !strings.Contains(out2, want) {
		t.Errorf("second apply does not name the holder (%q):\n%s", want, out2)
	}
	if took > 5*time.Second {
		t.Errorf("second apply took %s to fail; want fast", took)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first apply: %v\n%s", err, out1.String())
	}
	if first.ProcessState.ExitCode() != 0 {
		t.Fatalf("first apply: exit %d", first.ProcessState.ExitCode())
	}
	e.check(t, d, "after the concurrent applies")
	if code, out := e.run("plan", "--detailed-exitcode"); code != 0 {
		t.Errorf("final plan: exit %d, want 0 (no changes)\n%s", code, out)
	}
}

func (e *env) dump(t *testing.T) sandbox.Dump {
	t.Helper()
	d, err := dumpHTTP(e.inst.URL, e.inst.Key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// freshPlan plans the manifest against the sandbox and the state, as psync plan does.
func (e *env) freshPlan(t *testing.T) *plan.Plan {
	t.Helper()
	m, err := manifest.Load(filepath.Join(e.dir, "psync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st := e.loadState(t)
	c, err := remote.New(remote.Config{BaseURL: e.inst.URL, APIKey: e.inst.Key})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compute(m, snap, st, plan.Options{AllowMassDelete: true, APIURL: e.inst.URL, Team: e.inst.TeamID})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) changesLeft(t *testing.T) int {
	return len(e.freshPlan(t).Changes)
}

// check: a fresh plan is empty, the dump is d exactly, and the state owns
// every object with the dump's id.
func (e *env) check(t *testing.T, d desired, when string) {
	t.Helper()
	if p := e.freshPlan(t); !p.Empty() {
		t.Fatalf("%s: a fresh plan has %d changes, e.g. %s %s", when, len(p.Changes), p.Changes[0].Action, p.Changes[0].Key)
	}
	dump := e.dump(t)
	if dup := dump.DuplicateNames(); len(dup) > 0 {
		t.Fatalf("%s: duplicate names: %v", when, dup)
	}
	var want, got []string
	for i := range d.nScripts {
		want = append(want, fmt.Sprintf("%s %q %v", d.scriptName(i), d.body(i), d.machinesOf(i)))
	}
	for _, s := range dump.StartupScripts {
		ms := slices.Clone(s.MachineIDs)
		sort.Strings(ms)
		got = append(got, fmt.Sprintf("%s %q %v", s.Name, s.Script, ms))
	}
	sort.Strings(want)
	if !slices.Equal(want, got) {
		t.Fatalf("%s: the dump is not the manifest:\nwant %d: %.300v\ngot  %d: %.300v", when, len(want), want, len(got), got)
	}
	st := e.loadState(t)
	owned := map[string]string{} // id -> name
	for _, s := range st.Scripts {
		owned[s.ID] = s.Name
	}
	for _, s := range dump.StartupScripts {
		if name, ok := owned[s.ID]; !ok || name != s.Name {
			t.Fatalf("%s: the state does not own %s (%s): lost track of it", when, s.Name, s.ID)
		}
	}
	// The state may still list scripts that a killed apply deleted before
	// it could journal the delete: the planner never forgets an owned
	// object that is gone (TestStateForgetsGoneObjects).
	if phantom := len(st.Scripts) - len(dump.StartupScripts); phantom > 0 {
		t.Logf("%s: the state lists %d scripts that no longer exist", when, phantom)
	}
}

// loadState loads the state psync runs use: the file, or the S3 state.
func (e *env) loadState(t *testing.T) *state.State {
	t.Helper()
	if e.stateURL == "" {
		st, err := state.Load(e.statePath)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	b, err := state.Open(context.Background(), e.stateURL)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := b.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// dumpHTTP reads GET /v1/_sandbox/dump, as an outside observer would.
func dumpHTTP(url, key string) (sandbox.Dump, error) {
	req, _ := http.NewRequest("GET", url+"/_sandbox/dump", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sandbox.Dump{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return sandbox.Dump{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return sandbox.Dump{}, fmt.Errorf("dump: %s: %s", resp.Status, data)
	}
	var d sandbox.Dump
	return d, json.Unmarshal(data, &d)
}

// TestCrashSafetyEmbeddedSandbox kills psync --sandbox DIR, whose sandbox
// runs inside the psync process and dies with it: both the state and the
// sandbox's data must survive the kill. The kill comes when the state file
// has recorded a random number of changes.
func TestCrashSafetyEmbeddedSandbox(t *testing.T) {
	bin := binary(t)
	sbx, dir, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	statePath := filepath.Join(dir, state.DefaultFileName)
	psync := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"-f", dir, "--sandbox", sbx, "--rate-limit", "0"}, args...)...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "TMPDIR="+tmp)
		return cmd
	}
	runToEnd := func(args ...string) (int, string) {
		out, err := psync(args...).CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	dumpNow := func() sandbox.Dump {
		srv, err := sandbox.New(sandbox.Config{DataDir: sbx})
		if err != nil {
			t.Fatalf("reopen the sandbox after a kill: %v", err)
		}
		defer srv.Close()
		d, err := srv.Dump(sandbox.DefaultTeam)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	r := killPoints(t, 2)
	// Few rounds: each psync --sandbox run that completes takes 5 s more
	// to exit today (TestSandboxCloseAfterParallelApply in e2e).
	const kills = 4
	var points []string
	done := 0
	for round := 1; done < kills && round <= 2*kills; round++ {
		desired{version: round}.write(t, dir) // delete all
		if code, out := runToEnd("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: delete all: exit %d\n%s", round, code, out)
		}
		d := desired{version: round, nScripts: 150}
		d.write(t, dir)
		st, err := state.Load(statePath)
		if err != nil {
			t.Fatal(err)
		}
		at := st.Serial + int64(5+r.IntN(d.changes()*4/5))
		_, killed, _ := killWhen(t, psync("apply", "--auto-approve"), func() bool {
			s, err := state.Load(statePath)
			return err == nil && s.Serial >= at
		})
		if killed {
			done++
		} else {
			// The state is written in groups: the serial can jump past the
			// kill point, and the apply end, before a poll sees it.
			t.Logf("round %d: the apply ended before serial %d", round, at)
		}
		if dup := dumpNow().DuplicateNames(); len(dup) > 0 {
			t.Fatalf("round %d: duplicates after a kill at serial %d: %v", round, at, dup)
		}
		if _, err := state.Load(statePath); err != nil {
			t.Fatalf("round %d: the state does not load after a kill: %v", round, err)
		}
		points = append(points, fmt.Sprintf("serial +%d", at-st.Serial))
		if code, out := runToEnd("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: the re-run: exit %d\n%s", round, code, out)
		}
		dump := dumpNow()
		if dup := dump.DuplicateNames(); len(dup) > 0 || len(dump.StartupScripts) != d.nScripts || len(dump.Assignments) != d.changes()-d.nScripts {
			t.Fatalf("round %d: after the re-run the sandbox has %d scripts and %d assignments (duplicates %v), want %d and %d",
				round, len(dump.StartupScripts), len(dump.Assignments), dup, d.nScripts, d.changes()-d.nScripts)
		}
	}
	if code, out := runToEnd("plan", "--detailed-exitcode"); code != 0 {
		t.Errorf("final plan: exit %d, want 0 (no changes)\n%s", code, out)
	}
	if done < kills {
		t.Errorf("only %d applies were killed before they ended", done)
	}
	t.Logf("%d kills of psync --sandbox at %s", done, strings.Join(points, ", "))
}

// killWhen starts cmd and SIGKILLs it once reached (polled every
// millisecond) is true. It returns what cmd printed, whether the kill is
// what ended it (an apply may end first), and cmd's exit error.
func killWhen(t *testing.T, cmd *exec.Cmd, reached func() bool) (out string, killed bool, err error) {
	t.Helper()
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	sent := false
wait:
	for {
		select {
		case err = <-exited:
			break wait
		case <-time.After(time.Millisecond):
			if reached() {
				sent = cmd.Process.Signal(syscall.SIGKILL) == nil
				err = <-exited
				break wait
			}
		}
	}
	var exit *exec.ExitError
	killed = sent && errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	return buf.String(), killed, err
}

// killPoints is the random source of a test's kill points: seeded from
// PSYNC_CRASH_SEED to rerun a failure, else from the clock (and logged).
func killPoints(t *testing.T, stream uint64) *rand.Rand {
	seed := time.Now().UnixNano()
	if s := os.Getenv("PSYNC_CRASH_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("kill points drawn with PSYNC_CRASH_SEED=%d", seed)
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// The first interrupt lets the changes in flight finish; a second exits
// at once, with 130, and what the state and its journal hold still loads
// and converges.
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	// Slow answers: the first interrupt alone would take about a second
	// to drain the changes in flight.
	e := newEnv(t, sandbox.Faults{Latency: 800 * time.Millisecond})
	d := desired{nScripts: 12}
	d.write(t, e.dir)
	cmd := e.command("apply", "--auto-approve", "--parallelism", "8")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput := func(want string) {
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), want); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("psync never printed %q:\n%s", want, out.String())
			}
		}
	}
	waitOutput("Plan:")
	time.Sleep(100 * time.Millisecond) // changes in flight, most of their 800ms to go
	cmd.Process.Signal(os.Interrupt)
	waitOutput("interrupted: finishing the changes in flight")
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130\n%s", err, out.String())
	}
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Errorf("the second interrupt took %s to exit: it waited for the changes in flight", took)
	}
	if !strings.Contains(out.String(), "interrupted again: exiting at once") {
		t.Errorf("no notice of the second interrupt:\n%s", out.String())
	}
	if _, err := state.Load(e.statePath); err != nil {
		t.Fatalf("the state does not load: %v", err)
	}
	if code, out := e.run("apply", "--auto-approve", "--parallelism", "8"); code != 0 {
		t.Fatalf("the re-run: exit %d\n%s", code, out)
	}
	e.check(t, d, "after a second interrupt")
}
