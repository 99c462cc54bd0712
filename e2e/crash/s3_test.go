package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/psync-dev/psync/internal/s3test"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// newS3Env is newEnv with the state in a new bucket of a real S3 server
// (versitygw), which the psync processes reach through the environment.
func newS3Env(t *testing.T, faults sandbox.Faults) (*env, *s3test.Server, string) {
	t.Helper()
	e := newEnv(t, faults)
	srv := s3test.Start(t)
	srv.Setenv(t) // the psync processes inherit it
	bucket := srv.Bucket(t)
	e.stateURL = "s3://" + bucket + "/teams/a/psync.state.json"
	return e, srv, bucket
}

var unlockCommand = regexp.MustCompile(`psync state unlock ([-0-9a-f]{36})`)

// lockHeld reports whether the lock object of the state exists.
func lockHeld(srv *s3test.Server, bucket string) bool {
	_, err := srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("teams/a/psync.state.json.lock")})
	return err == nil
}

// TestS3TwoRunners is two CI runners: two working directories with the
// same manifest and one S3 state. While the first applies, the second
// fails at once (exit 1) naming the holder and the lock id; once the first
// is done, the second finds nothing to do.
func TestS3TwoRunners(t *testing.T) {
	e, srv, bucket := newS3Env(t, sandbox.Faults{Latency: 30 * time.Millisecond})
	d := desired{nScripts: 40}
	d.write(t, e.dir)
	second := *e
	second.dir = t.TempDir()
	d.write(t, second.dir)

	first := e.command("apply", "--auto-approve", "--parallelism", "2")
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !lockHeld(srv, bucket) {
		if time.Now().After(deadline) {
			first.Process.Kill()
			first.Wait()
			t.Fatalf("the first apply never took the lock\n%s", out1.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, out2 := second.run("apply", "--auto-approve")
	if code != 1 {
		t.Errorf("second runner: exit %d, want 1\n%s", code, out2)
	}
	m := unlockCommand.FindStringSubmatch(out2)
	if m == nil || !strings.Contains(out2, "is locked by ") || !strings.Contains(out2, fmt.Sprintf("(pid %d)", first.Process.Pid)) {
		t.Errorf("second runner's error does not name the holder, its pid %d and the lock id:\n%s", first.Process.Pid, out2)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first runner: %v\n%s", err, out1.String())
	}
	if lockHeld(srv, bucket) {
		t.Error("the lock is still there after the first apply ended")
	}
	if code, out := second.run("plan", "--detailed-exitcode"); code != 0 {
		t.Fatalf("second runner's plan after the first apply: exit %d, want 0\n%s", code, out)
	}
	e.check(t, d, "after two runners")
}

// TestS3KillThenUnlock SIGKILLs applies to an S3 state mid-way. The kill
// leaves the lock: the next apply names it and the command that removes
// it, state unlock refuses another id and removes this one, and the re-run
// converges with no duplicate (what the kill lost is adopted by name).
func TestS3KillThenUnlock(t *testing.T) {
	e, srv, bucket := newS3Env(t, sandbox.Faults{Latency: time.Millisecond, Jitter: time.Millisecond})
	r := killPoints(t, 7)
	kills := 0
	for round := 1; kills < 3 && round <= 8; round++ {
		empty := desired{version: round}
		empty.write(t, e.dir)
		if code, out := e.run("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: delete all: exit %d\n%s", round, code, out)
		}
		d := desired{version: round, nScripts: 60}
		d.write(t, e.dir)
		at := 20 + r.IntN(d.changes()-30)
		e.inst.Server.ResetStats()
		_, killed, err := killWhen(t, e.command("apply", "--auto-approve"), func() bool { return e.inst.Server.Stats().Writes() >= at })
		if !killed {
			t.Logf("round %d: apply ended before the kill at write %d (%v)", round, at, err)
			continue
		}
		kills++
		if dup := e.dump(t).DuplicateNames(); len(dup) > 0 {
			t.Fatalf("round %d: duplicate names after the kill: %v", round, dup)
		}
		e.loadState(t) // it loads
		if !lockHeld(srv, bucket) {
			t.Fatalf("round %d: the killed apply left no lock", round)
		}

		code, msg := e.run("apply", "--auto-approve")
		m := unlockCommand.FindStringSubmatch(msg)
		if code != 1 || m == nil || !strings.Contains(msg, " ago)") {
			t.Fatalf("round %d: apply with the killed one's lock: exit %d, want 1 naming the lock's age and 'psync state unlock ID'\n%s", round, code, msg)
		}
		if code, msg := e.run("state", "unlock", "00000000-0000-4000-8000-000000000000"); code != 1 || !strings.Contains(msg, m[1]) {
			t.Fatalf("round %d: state unlock of a wrong id: exit %d, want 1 naming the real id\n%s", round, code, msg)
		}
		if !lockHeld(srv, bucket) {
			t.Fatalf("round %d: a wrong id removed the lock", round)
		}
		if code, msg := e.run("state", "unlock", m[1]); code != 0 {
			t.Fatalf("round %d: state unlock %s: exit %d\n%s", round, m[1], code, msg)
		}
		if code, msg := e.run("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: the re-run after the kill: exit %d\n%s", round, code, msg)
		}
		e.check(t, d, fmt.Sprintf("round %d (killed at write %d)", round, at))
	}
	t.Logf("%d kills, each followed by state unlock and a converging re-run", kills)
	if kills < 2 {
		t.Errorf("only %d applies were killed before they ended", kills)
	}
}

// TestS3InterruptKeepsReportedChanges interrupts applies to an S3 state
// (SIGINT, as Ctrl-C): apply finishes what is in flight, exits 130, and
// every change it printed as done is in the S3 state; the lock is gone.
func TestS3InterruptKeepsReportedChanges(t *testing.T) {
	e, srv, bucket := newS3Env(t, sandbox.Faults{Latency: 5 * time.Millisecond})
	checked, interrupted := 0, 0
	for round := 1; round <= 4 && interrupted < 2; round++ {
		empty := desired{version: round}
		empty.write(t, e.dir)
		if code, out := e.run("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: delete all: exit %d\n%s", round, code, out)
		}
		d := desired{version: round, nScripts: 60}
		d.write(t, e.dir)
		e.inst.Server.ResetStats()
		// At parallelism 2 the 130 changes left after the interrupt
		// point take a third of a second: time for the signal.
		cmd := e.command("apply", "--auto-approve", "--parallelism", "2")
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		at := 40 + 15*round
		deadline := time.Now().Add(time.Minute)
		for e.inst.Server.Stats().Writes() < at && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
			t.Logf("round %d: apply ended before the interrupt at write %d", round, at)
		case !errors.As(err, &exit) || exit.ExitCode() != 130:
			t.Fatalf("round %d: interrupted apply: %v, want exit 130\n%s", round, err, out.String())
		default:
			interrupted++
		}
		if lockHeld(srv, bucket) {
			t.Fatalf("round %d: the interrupted apply left its lock", round)
		}
		st := e.loadState(t)
		owned := map[string][]string{}
		for _, s := range st.Scripts {
			if s.Body != nil && *s.Body == d.body(nameIndex(t, s.Name)) {
				owned[s.Name] = s.Assignments
			}
		}
		for _, m := range doneLine.FindAllStringSubmatch(out.String(), -1) {
			checked++
			as, ok := owned[m[1]]
			switch {
			case !ok:
				t.Errorf("round %d: script %s was reported done but the S3 state does not own it with its new body", round, m[1])
			case m[2] != "" && !slices.Contains(as, m[2]):
				t.Errorf("round %d: %s on %s was reported done but the S3 state does not record it", round, m[1], m[2])
			}
		}
		if code, msg := e.run("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: the re-run: exit %d\n%s", round, code, msg)
		}
		e.check(t, d, fmt.Sprintf("round %d (interrupted)", round))
	}
	t.Logf("%d interrupted applies; %d changes reported done, each found in the S3 state", interrupted, checked)
	if interrupted == 0 {
		t.Error("no apply was interrupted before it ended")
	}
	if checked == 0 {
		t.Error("no change was reported done before the interrupt: the check checked nothing")
	}
}

// The state file of the other tests is not touched by an S3 run.
func TestS3LeavesNoLocalState(t *testing.T) {
	e, _, _ := newS3Env(t, sandbox.Faults{})
	d := desired{nScripts: 3}
	d.write(t, e.dir)
	if code, out := e.run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	entries, _ := os.ReadDir(e.dir)
	for _, de := range entries {
		if de.Name() != "psync.yaml" {
			t.Errorf("an apply to an S3 state left %s in the manifest's directory", filepath.Join(e.dir, de.Name()))
		}
	}
	e.check(t, d, "after an apply to S3")
}

// TestS3LostLockCannotOverwrite removes a running apply's lock by force
// and writes the state from another process, as an operator who unlocked
// the wrong lock would: the first apply's next write fails the
// compare-and-swap, overwrites nothing, and keeps its state in
// psync-errored.state.json, which state push then restores. (The apply
// also starts nothing more once its write failed: the log shows "not
// started", unless the machine was too slow for it to have any left.)
func TestS3LostLockCannotOverwrite(t *testing.T) {
	e, srv, bucket := newS3Env(t, sandbox.Faults{Latency: 10 * time.Millisecond})
	d := desired{nScripts: 40}
	d.write(t, e.dir)
	first := e.command("apply", "--auto-approve", "--parallelism", "2")
	var out1 lockedBuffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var lock struct{ ID string }
	deadline := time.Now().Add(30 * time.Second)
	for e.inst.Server.Stats().Writes() < 20 || lock.ID == "" {
		if time.Now().After(deadline) {
			first.Process.Kill()
			first.Wait()
			t.Fatalf("the apply never got going\n%s", out1.String())
		}
		if obj, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("teams/a/psync.state.json.lock")}); err == nil {
			json.NewDecoder(obj.Body).Decode(&lock)
			obj.Body.Close()
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, msg := e.run("state", "unlock", lock.ID); code != 0 {
		t.Fatalf("state unlock: exit %d\n%s", code, msg)
	}
	other := filepath.Join(t.TempDir(), "other.json")
	os.WriteFile(other, []byte(`{"formatVersion":1,"lineage":"00000000-0000-4000-8000-000000000000","serial":1000,"apiUrl":"`+e.inst.URL+`","scripts":[],"templates":[]}`), 0o644)
	if code, msg := e.run("state", "push", "--force", other); code != 0 {
		t.Fatalf("state push: exit %d\n%s", code, msg)
	}
	err := first.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the apply that lost its lock: %v, want exit 1\n%s", err, out1.String())
	}
	t.Logf("the apply that lost its lock said:\n%s", lastLines(out1.String(), 3))
	for _, want := range []string{"the state changed since psync read it", "nothing was overwritten", "psync-errored.state.json"} {
		if !strings.Contains(out1.String(), want) {
			t.Errorf("the apply's output does not say %q:\n%s", want, out1.String())
		}
	}
	if st := e.loadState(t); st.Lineage != "00000000-0000-4000-8000-000000000000" || st.Serial != 1001 {
		t.Fatalf("the pushed state was overwritten: lineage %s serial %d", st.Lineage, st.Serial)
	}
	rescued := filepath.Join(e.dir, "psync-errored.state.json")
	if code, msg := e.run("state", "push", rescued); code != 3 || !strings.Contains(msg, "lineage") {
		t.Fatalf("push of the rescued state over another lineage: exit %d, want 3\n%s", code, msg)
	}
	if code, msg := e.run("state", "push", "--force", rescued); code != 0 {
		t.Fatalf("push --force of the rescued state: exit %d\n%s", code, msg)
	}
	if code, msg := e.run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply after the rescue: exit %d\n%s", code, msg)
	}
	e.check(t, d, "after the lost lock and the rescue")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestS3FailedChangesKeepTheDoneOnes applies with API errors and no
// retries, so that some changes fail: apply exits 1, and every change it
// printed as done is in the S3 state; a re-run without faults converges.
func TestS3FailedChangesKeepTheDoneOnes(t *testing.T) {
	e, _, _ := newS3Env(t, sandbox.Faults{Latency: time.Millisecond, ErrorRate: 0.15, Seed: 13})
	d := desired{nScripts: 40}
	d.write(t, e.dir)
	code, out := e.run("apply", "--auto-approve", "--max-attempts", "1")
	if code != 1 || !strings.Contains(out, "Apply failed") {
		t.Fatalf("apply with errors: exit %d, want 1 with failures\n%s", code, out)
	}
	st := e.loadState(t)
	owned := map[string][]string{}
	for _, s := range st.Scripts {
		owned[s.Name] = s.Assignments
	}
	checked := 0
	for _, m := range doneLine.FindAllStringSubmatch(out, -1) {
		checked++
		as, ok := owned[m[1]]
		switch {
		case !ok:
			t.Errorf("script %s was reported done but the S3 state does not own it", m[1])
		case m[2] != "" && !slices.Contains(as, m[2]):
			t.Errorf("%s on %s was reported done but the S3 state does not record it", m[1], m[2])
		}
	}
	t.Logf("%d changes reported done by a failed apply, each in the S3 state", checked)
	if checked == 0 {
		t.Fatal("nothing was reported done: the check checked nothing")
	}
	e.inst.Server.SetFaults(sandbox.Faults{})
	if code, out := e.run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("re-run: exit %d\n%s", code, out)
	}
	e.check(t, d, "after a failed apply and a re-run")
}
