package remote_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// startSandbox runs an in-memory sandbox and returns it with a client.
func startSandbox(t testing.TB, faults sandbox.Faults, mod ...func(*remote.Config)) (*sandbox.Instance, *remote.Client) {
	t.Helper()
	return startSandboxConfig(t, sandbox.Config{Faults: faults}, mod...)
}

// startSandboxConfig runs a sandbox configured by cfg and returns it with
// a client.
func startSandboxConfig(t testing.TB, scfg sandbox.Config, mod ...func(*remote.Config)) (*sandbox.Instance, *remote.Client) {
	t.Helper()
	inst, err := sandbox.Start(scfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	cfg := remote.Config{
		BaseURL:     inst.URL,
		APIKey:      inst.Key,
		Timeout:     5 * time.Second,
		MaxAttempts: 20,
		BackoffBase: time.Millisecond,
		BackoffMax:  20 * time.Millisecond,
		// Template events in the live sandbox take tens of milliseconds.
		PollInterval: 10 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := remote.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return inst, c
}

func dump(t testing.TB, inst *sandbox.Instance) sandbox.Dump {
	t.Helper()
	d, err := inst.Server.Dump(inst.TeamID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Every operation against the real sandbox, checked through its dump.
func TestSandboxOperations(t *testing.T) {
	inst, c := startSandbox(t, sandbox.Faults{})
	ctx := context.Background()

	s, err := c.CreateScript(ctx, remote.ScriptInput{Name: "install-cuda", Body: "#!/bin/sh\necho cuda\n", RunOnce: true, IsEnabled: false})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(remote.Script{ID: s.ID, Name: "install-cuda", RunOnce: true}, s); diff != "" {
		t.Errorf("CreateScript (-want +got):\n%s", diff)
	}
	got, err := c.GetScript(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("GetScript (-want +got):\n%s", diff)
	}
	s, err = c.UpdateScript(ctx, s.ID, remote.ScriptInput{Name: "install-cuda-12", Body: "echo 12", IsEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"psbox002", "psbox001", "psbox001"} {
		if err := c.AssignScript(ctx, s.ID, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.UnassignScript(ctx, s.ID, "psbox002"); err != nil {
		t.Fatal(err)
	}
	if err := c.UnassignScript(ctx, s.ID, "psbox002"); err != nil {
		t.Fatalf("unassign twice: %v", err)
	}
	if err := c.AssignScript(ctx, s.ID, "psbox999"); !remote.IsNotFound(err) {
		t.Errorf("assign to an unknown machine: %v, want not found", err)
	}

	tpl, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: "ml-base", MachineID: "psbox001", Note: "CUDA 12"})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err = c.UpdateTemplate(ctx, tpl.ID, remote.TemplateInput{Name: "ml-base-2", Note: "CUDA 12.4"})
	if err != nil {
		t.Fatal(err)
	}
	if gt, err := c.GetTemplate(ctx, tpl.ID); err != nil || gt != tpl {
		t.Errorf("GetTemplate = %+v, %v; want %+v", gt, err, tpl)
	}
	if _, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: "x", MachineID: "psbox999"}); !remote.IsNotFound(err) {
		t.Errorf("template from an unknown machine: %v, want not found", err)
	}

	d := dump(t, inst)
	if len(d.StartupScripts) != 1 || d.StartupScripts[0].Script != "echo 12" || !d.StartupScripts[0].IsEnabled {
		t.Errorf("dump scripts: %+v", d.StartupScripts)
	}
	if diff := cmp.Diff([]sandbox.Assignment{{ScriptID: s.ID, ScriptName: "install-cuda-12", MachineID: "psbox001"}}, d.Assignments); diff != "" {
		t.Errorf("assignments (-want +got):\n%s", diff)
	}

	snap, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Dialect != remote.DialectSpec || snap.Team != inst.TeamID || snap.AssignmentsKnown {
		t.Errorf("snapshot dialect %q team %q assignmentsKnown %v", snap.Dialect, snap.Team, snap.AssignmentsKnown)
	}
	if diff := cmp.Diff([]remote.Script{s}, snap.Scripts); diff != "" {
		t.Errorf("Fetch scripts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]remote.Template{tpl}, snap.Templates); diff != "" {
		t.Errorf("Fetch templates (-want +got):\n%s", diff)
	}
	if len(snap.OSTemplates) < 10 {
		t.Errorf("%d OS templates, want the catalogue", len(snap.OSTemplates))
	}

	// The catalogue paged 5 at a time gives the same as one page.
	paged, err := c.ListOSTemplates(ctx, remote.ListOptions{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snap.OSTemplates, paged); diff != "" {
		t.Errorf("paged catalogue (-want +got):\n%s", diff)
	}
	named, err := c.ListOSTemplates(ctx, remote.ListOptions{Name: snap.OSTemplates[0].Name})
	if err != nil || len(named) != 1 || named[0] != snap.OSTemplates[0] {
		t.Errorf("by name: %v, %v", named, err)
	}

	_, err = c.CreateScript(ctx, remote.ScriptInput{Name: "big", Body: strings.Repeat("x", api.MaxScriptBytes+1), IsEnabled: true})
	var e *remote.Error
	if err == nil || !errors.As(err, &e) || e.Status != 400 || e.Code != api.CodeBadRequest || e.Name != "big" {
		t.Errorf("oversized body: %v, want a 400 naming the script", err)
	}

	if err := c.DeleteScript(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTemplate(ctx, tpl.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetScript(ctx, s.ID); !remote.IsNotFound(err) {
		t.Errorf("GetScript after delete: %v, want not found", err)
	}
	if err := c.DeleteScript(ctx, s.ID); !remote.IsNotFound(err) {
		t.Errorf("second delete: %v, want not found", err)
	}
	if d := dump(t, inst); len(d.StartupScripts)+len(d.CustomTemplates)+len(d.Assignments) != 0 {
		t.Errorf("left behind: %+v", d)
	}
}

// 1,000 concurrent creates against a sandbox that fails 10% of requests
// and 20% of writes ambiguously (the write is made, the answer lost) make
// exactly 1,000 objects.
func TestSandboxNoDuplicateCreates(t *testing.T) {
	t.Parallel() // mostly waiting: overlap with the rest
	const n = 1000
	inst, c := startSandbox(t, sandbox.Faults{AmbiguousRate: 0.2, ErrorRate: 0.1, Seed: 7})
	ctx := context.Background()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(10)
	ids := make([]string, n)
	for i := range n {
		g.Go(func() error {
			s, err := c.CreateScript(gctx, remote.ScriptInput{Name: fmt.Sprintf("script-%04d", i), Body: fmt.Sprintf("echo %d", i), IsEnabled: true})
			ids[i] = s.ID
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	d := dump(t, inst)
	count := map[string]int{}
	for _, s := range d.StartupScripts {
		count[s.Name]++
	}
	for i := range n {
		name := fmt.Sprintf("script-%04d", i)
		if count[name] != 1 {
			t.Errorf("%s exists %d times", name, count[name])
		}
	}
	if len(d.StartupScripts) != n {
		t.Errorf("%d scripts, want %d", len(d.StartupScripts), n)
	}
	byID := map[string]string{}
	for _, s := range d.StartupScripts {
		byID[s.ID] = s.Name
	}
	for i, id := range ids {
		if want := fmt.Sprintf("script-%04d", i); byID[id] != want {
			t.Errorf("create %d returned id %q, which is %q", i, id, byID[id])
		}
	}
	st := inst.Server.Stats()
	faults := map[string]int{}
	for _, r := range inst.Server.Requests().Requests {
		if r.Method == "POST" {
			faults[r.Fault]++
		}
	}
	t.Logf("%d creates: %d POSTs (%v by fault), %d lookups (GET /startup-scripts); client: %+v",
		n, st.Count("POST /startup-scripts"), faults, st.Count("GET /startup-scripts"), c.Stats())

	// Templates too, fewer of them.
	const nt = 100
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(10)
	for i := range nt {
		g.Go(func() error {
			_, err := c.CreateTemplate(gctx, remote.TemplateInput{Name: fmt.Sprintf("tpl-%03d", i), MachineID: "psbox001"})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := len(dump(t, inst).CustomTemplates); got != nt {
		t.Errorf("%d templates, want %d", got, nt)
	}
}

// Against the sandbox's per-key limit, the shared bucket keeps throughput
// close to the limit with few 429s, whether psync is configured above the
// limit or unlimited.
func TestSandboxRateLimit(t *testing.T) {
	t.Parallel() // mostly waiting: overlap with the rest
	if testing.Short() {
		t.Skip("takes ~15s")
	}
	const rps = 40
	// The first phase is the limiter learning the API's limit (and the
	// sandbox's bucket starting full, free throughput no steady client
	// could keep); the second is the steady state it must then hold:
	// near the limit, with few 429s. Judging the steady state alone
	// keeps the test about the limiter, not about how fast a loaded
	// machine gets through the transient.
	learn, steady := 120, 200
	if os.Getenv("PSYNC_LONG") != "" {
		steady = 2000 // ~50s each: the steady state, for the report
	}
	for _, tc := range []struct {
		name   string
		client float64
	}{
		{"client at twice the limit", 2 * rps},
		{"client unlimited", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := startSandbox(t, sandbox.Faults{RPS: rps}, func(cfg *remote.Config) { cfg.RateLimit = tc.client })
			run := func(requests int) time.Duration {
				start := time.Now()
				g, gctx := errgroup.WithContext(context.Background())
				g.SetLimit(10)
				for range requests {
					g.Go(func() error {
						_, err := c.GetScript(gctx, "missing")
						if remote.IsNotFound(err) {
							return nil
						}
						return err
					})
				}
				if err := g.Wait(); err != nil {
					t.Fatal(err)
				}
				return time.Since(start)
			}
			learnt := run(learn)
			before := c.Stats()
			elapsed := run(steady)
			after := c.Stats()
			throughput := float64(steady) / elapsed.Seconds()
			requests, throttled := after.Requests-before.Requests, after.Throttled-before.Throttled
			ratio := float64(throttled) / float64(requests)
			t.Logf("learning: %d requests in %s, %d of %d HTTP requests throttled", learn, learnt.Round(time.Millisecond), before.Throttled, before.Requests)
			t.Logf("steady: %d requests in %s: %.1f req/s (limit %d), %d of %d HTTP requests throttled (%.1f%%)",
				steady, elapsed.Round(time.Millisecond), throughput, rps, throttled, requests, 100*ratio)
			// What the limiter allows, not the throughput, says whether it
			// collapsed (the bug this guards: a few 429s ratcheted it down
			// to 1 req/s): a loaded machine may not reach the limit at all.
			if allowed := c.Throttle().Rate; allowed < 0.75*rps {
				t.Errorf("the limiter allows %.1f req/s after the run, want close to %d (throughput %.1f req/s)", allowed, rps, throughput)
			}
			// A limiter that ignored 429s would see about half its requests
			// throttled here; one that learnt the limit sees a few from its
			// probes, more when a loaded machine sends them in clumps.
			if ratio > 0.10 {
				t.Errorf("%.1f%% of steady requests throttled, want few", 100*ratio)
			}
		})
	}
}

// Fetch of 10,000 scripts and 1,000 templates: requests per Fetch against
// the minimum the API allows (one per list in the spec dialect, whose
// script and template lists are not paged, plus the OS catalogue's pages),
// and allocations.
func BenchmarkFetch(b *testing.B) {
	inst, c := startSandbox(b, sandbox.Faults{})
	ctx := context.Background()
	seed(b, c, 10_000, 1_000)
	if _, err := c.Fetch(ctx); err != nil { // the session, asked once per client
		b.Fatal(err)
	}
	inst.Server.ResetStats()
	before := c.Stats().Requests
	b.ReportAllocs()
	b.ResetTimer()
	var snap *remote.Snapshot
	for b.Loop() {
		var err error
		snap, err = c.Fetch(ctx)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(snap.Scripts) != 10_000 || len(snap.Templates) != 1_000 {
		b.Fatalf("fetched %d scripts and %d templates", len(snap.Scripts), len(snap.Templates))
	}
	osPages := (len(snap.OSTemplates) + api.MaxLimit) / api.MaxLimit // a full last page needs one more to see the end
	minimum := 2 + osPages
	perOp := float64(c.Stats().Requests-before) / float64(b.N)
	b.ReportMetric(perOp, "requests/op")
	b.ReportMetric(float64(minimum), "min-requests/op")
	if perOp > float64(minimum) {
		b.Errorf("%.1f requests per Fetch, the minimum is %d", perOp, minimum)
	}
	if got := inst.Server.Stats().Total; float64(got)/float64(b.N) != perOp {
		b.Errorf("the sandbox saw %d requests for %d fetches; the client counted %.1f each", got, b.N, perOp)
	}
}

// seed creates scripts and templates concurrently.
func seed(b testing.TB, c *remote.Client, scripts, templates int) {
	b.Helper()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for i := range scripts {
		g.Go(func() error {
			_, err := c.CreateScript(ctx, remote.ScriptInput{Name: fmt.Sprintf("script-%05d", i), Body: "echo hello", IsEnabled: true})
			return err
		})
	}
	for i := range templates {
		g.Go(func() error {
			_, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: fmt.Sprintf("template-%04d", i), MachineID: fmt.Sprintf("psbox%03d", i%10+1)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// Fetch asks for the kinds at once: with 100ms of latency per request it
// takes about one request's time, not five.
func TestSandboxFetchConcurrent(t *testing.T) {
	inst, c := startSandbox(t, sandbox.Faults{Latency: 100 * time.Millisecond})
	start := time.Now()
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	st := inst.Server.Stats()
	if st.PeakInFlight < 3 {
		t.Errorf("peak in flight %d, want the 3 lists (and the session) at once", st.PeakInFlight)
	}
	if elapsed > 350*time.Millisecond {
		t.Errorf("Fetch took %s with 100ms per request, want the requests concurrent", elapsed)
	}
	// The spec's sandbox has no machine list: its 404 costs one request.
	if got := st.Total; got != 5 {
		t.Errorf("%d requests, want 5 (4 lists, machines included, and the session)", got)
	}
}
