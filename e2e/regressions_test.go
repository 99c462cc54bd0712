package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// Regression tests for bugs the chaos and crash tests found, each fixed in
// the package that owned it (the comments say what the bug was).

// An owned object that is gone from the remote (deleted outside psync, or
// by an apply killed before it could journal the delete) is never
// forgotten: the plan is empty, and the state lists the object forever.
// Seen after every SIGKILL in e2e/crash.
func TestStateForgetsGoneObjects(t *testing.T) {
	e := newTestEnv(t, sandbox.Faults{})
	w := &world{scripts: []*wScript{
		{name: "keep", body: "echo keep\n", isEnabled: true},
		{name: "gone", body: "echo gone\n", isEnabled: true, machines: []string{"psbox001"}},
	}}
	m := e.load(t, w)
	if rep, err := e.applyOnce(m); err != nil || !rep.OK() {
		t.Fatalf("apply: %v %s", err, failures(rep))
	}
	// What a killed apply leaves: the script deleted, the state not told.
	st, err := state.Load(e.statePath)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := e.newClient()
	for _, s := range st.Scripts {
		if s.Name == "gone" {
			if err := client.DeleteScript(context.Background(), s.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.scripts = w.scripts[:1]
	m = e.load(t, w)
	if _, err := e.applyOnce(m); err != nil {
		t.Fatal(err)
	}
	if msg := e.verify(m, w); msg != "" {
		t.Error(msg)
	}
}

// A few random 429s collapse the client's rate to about one request per
// second for the rest of the run: on a 429 the adaptive limiter takes the
// rate it measured over the last 2 s as the API's ceiling and halves it,
// but a client that is not saturating the API measures its own demand, and
// the next 429 measures the already lowered rate. remote.limiter.throttled
// (pkg/remote/limiter.go).
func TestThrottleCollapse(t *testing.T) {
	timeFor := func(throttle float64) time.Duration {
		e := newTestEnv(t, sandbox.Faults{Latency: time.Millisecond, ThrottleRate: throttle, RetryAfter: -1, Seed: 3})
		w := &world{}
		for i := range 60 {
			w.scripts = append(w.scripts, &wScript{name: fmt.Sprintf("s%02d", i), body: "echo\n", isEnabled: true})
		}
		m := e.load(t, w)
		start := time.Now()
		rep, err := e.applyOnce(m)
		if err != nil || !rep.OK() {
			t.Fatalf("apply: %v %s", err, failures(rep))
		}
		return time.Since(start)
	}
	calm, throttled := timeFor(0), timeFor(0.05)
	t.Logf("60 creates: %s without 429s, %s with 5%% random 429s (Retry-After: 0)", calm, throttled)
	if throttled > 10*calm+time.Second {
		t.Errorf("5%% of requests answered 429 (Retry-After: 0) made the apply %.0fx slower", float64(throttled)/float64(calm))
	}
}

// newTestEnv is a chaos environment with these faults and no seed loop.
func newTestEnv(t *testing.T, f sandbox.Faults) *chaosEnv {
	t.Helper()
	inst, err := sandbox.Start(sandbox.Config{DataDir: t.TempDir(), Faults: f}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	dir := t.TempDir()
	return &chaosEnv{inst: inst, dir: dir, statePath: filepath.Join(dir, state.DefaultFileName), target: inst.URL, faults: f}
}

func (e *chaosEnv) load(t *testing.T, w *world) *manifest.Manifest {
	t.Helper()
	if err := writeManifest(e.dir, w); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(filepath.Join(e.dir, "psync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// An update (rename, flag) that the API made but whose answer was lost
// (the client gave up: the change failed) leaves the state with the old
// name and flags; the next plan sees the remote already right and plans
// nothing, so the state keeps them forever. Chaos seeds 18 and 424242 with
// a 2-attempt first apply. A stale name is then matched by name: a new
// script given the old name must not take over the renamed one.
func TestStateStaleAfterLostUpdate(t *testing.T) {
	e := newTestEnv(t, sandbox.Faults{})
	a := &wScript{name: "a", body: "echo a\n", isEnabled: true, machines: []string{"psbox001"}}
	w := &world{scripts: []*wScript{a}}
	if rep, err := e.applyOnce(e.load(t, w)); err != nil || !rep.OK() {
		t.Fatalf("apply: %v %s", err, failures(rep))
	}
	st, err := state.Load(e.statePath)
	if err != nil {
		t.Fatal(err)
	}
	// The rename to b and the isEnabled toggle reach the API; the answer
	// does not reach psync.
	client, _ := e.newClient()
	if _, err := client.UpdateScript(context.Background(), st.Scripts[0].ID, remote.ScriptInput{Name: "b", Body: a.body, IsEnabled: false}); err != nil {
		t.Fatal(err)
	}
	a.name, a.prev, a.isEnabled = "b", []string{"a"}, false
	m := e.load(t, w)
	if _, err := e.applyOnce(m); err != nil {
		t.Fatal(err)
	}
	if msg := e.verify(m, w); msg != "" {
		t.Errorf("after the re-run: %s", msg)
	}
	// A new script takes the old name.
	a.prev = nil
	w.scripts = append(w.scripts, &wScript{name: "a", body: "echo new a\n", isEnabled: true})
	m = e.load(t, w)
	if rep, err := e.applyOnce(m); err != nil || !rep.OK() {
		t.Errorf("apply of a new script named a: %v %s", err, failures(rep))
	}
	if msg := e.verify(m, w); msg != "" {
		t.Errorf("after a new script took the old name: %s", msg)
	}
}

// psync --sandbox DIR sometimes takes 5 s more to exit and prints "closing
// the sandbox: context deadline exceeded": a parallel client dials spare
// connections that never carry a request, and http.Server.Shutdown (in
// sandbox.Instance.Close) waits 5 s before it counts a connection in
// StateNew as idle.
func TestSandboxCloseAfterParallelApply(t *testing.T) {
	var worst time.Duration
	for range 3 {
		e := newTestEnv(t, sandbox.Faults{})
		w := &world{}
		for i := range 100 {
			w.scripts = append(w.scripts, &wScript{name: fmt.Sprintf("s%03d", i), body: "echo\n", isEnabled: true, machines: []string{"psbox001", "psbox002"}})
		}
		if rep, err := e.applyOnce(e.load(t, w)); err != nil || !rep.OK() {
			t.Fatalf("apply: %v %s", err, failures(rep))
		}
		start := time.Now()
		err := e.inst.Close()
		worst = max(worst, time.Since(start))
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if worst > time.Second {
		t.Errorf("closing the sandbox after a parallel apply took up to %s", worst)
	}
}
