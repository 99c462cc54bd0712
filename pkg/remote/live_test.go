package remote_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
)

func liveSandbox(live sandbox.LiveConfig, faults sandbox.Faults) sandbox.Config {
	return sandbox.Config{Dialect: sandbox.DialectPaperspace1, Live: live, Faults: faults}
}

// Every operation in the live dialect: isRunOnce bodies, isEnabled through
// an update, assignments read back from the lists, asynchronous template
// creation, the session's team, pages that repeat items.
func TestLiveSandboxOperations(t *testing.T) {
	inst, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{TemplateDelay: 30 * time.Millisecond, RepeatItems: true}, sandbox.Faults{}))
	ctx := context.Background()

	s, err := c.CreateScript(ctx, remote.ScriptInput{Name: "install-cuda", Body: "echo cuda", RunOnce: true, IsEnabled: false})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dialect() != remote.DialectPaperspaceV1 {
		t.Fatalf("dialect %q after a write, want %q", c.Dialect(), remote.DialectPaperspaceV1)
	}
	if diff := cmp.Diff(remote.Script{ID: s.ID, Name: "install-cuda", RunOnce: true}, s); diff != "" {
		t.Errorf("CreateScript (-want +got):\n%s", diff)
	}
	for _, m := range []string{"psbox003", "psbox001"} {
		if err := c.AssignScript(ctx, s.ID, m); err != nil {
			t.Fatal(err)
		}
	}
	s, err = c.UpdateScript(ctx, s.ID, remote.ScriptInput{Name: "install-cuda", Body: "echo 12", IsEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: "ml-base", MachineID: "psbox002", Note: "ignored by the live API"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(remote.Template{ID: tpl.ID, Name: "ml-base", MachineID: "psbox002"}, tpl); diff != "" {
		t.Errorf("CreateTemplate (-want +got):\n%s", diff)
	}
	if tpl, err = c.UpdateTemplate(ctx, tpl.ID, remote.TemplateInput{Name: "ml-base-2"}); err != nil || tpl.Name != "ml-base-2" {
		t.Fatalf("UpdateTemplate = %+v, %v", tpl, err)
	}

	// Enough objects for several pages, so repeated items must be dropped.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range 300 {
		g.Go(func() error {
			_, err := c.CreateScript(gctx, remote.ScriptInput{Name: fmt.Sprintf("bulk-%03d", i), Body: "true", IsEnabled: true})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	snap, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Dialect != remote.DialectPaperspaceV1 || !snap.AssignmentsKnown || snap.Team != inst.TeamID {
		t.Errorf("snapshot dialect %q assignmentsKnown %v team %q", snap.Dialect, snap.AssignmentsKnown, snap.Team)
	}
	if len(snap.Scripts) != 301 {
		t.Errorf("%d scripts, want 301 (no repeats)", len(snap.Scripts))
	}
	want := remote.Script{ID: s.ID, Name: "install-cuda", IsEnabled: true, RunOnce: false, AssignedMachines: []string{"psbox001", "psbox003"}}
	var got remote.Script
	for _, x := range snap.Scripts {
		if x.ID == s.ID {
			got = x
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fetched script (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]remote.Template{tpl}, snap.Templates); diff != "" {
		t.Errorf("fetched templates (-want +got):\n%s", diff)
	}
	if len(snap.OSTemplates) < 10 {
		t.Errorf("%d OS templates", len(snap.OSTemplates))
	}
	d := dump(t, inst)
	if len(d.StartupScripts) != 301 {
		t.Errorf("dump has %d scripts", len(d.StartupScripts))
	}

	if err := c.UnassignScript(ctx, s.ID, "psbox003"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTemplate(ctx, tpl.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteScript(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetScript(ctx, s.ID); !remote.IsNotFound(err) {
		t.Errorf("GetScript after delete: %v, want not found", err)
	}
}

// A template whose creation event ends in error is an error carrying the
// API's reason, or saying there was none.
func TestLiveTemplateEventError(t *testing.T) {
	_, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{TemplateDelay: 20 * time.Millisecond, TemplateErrorRate: 1}, sandbox.Faults{Seed: 3}))
	for i := range 4 {
		_, err := c.CreateTemplate(context.Background(), remote.TemplateInput{Name: fmt.Sprintf("t%d", i), MachineID: "psbox001"})
		if err == nil || !strings.Contains(err.Error(), "template-create event ended error") {
			t.Fatalf("got %v, want the event's error", err)
		}
		if !strings.Contains(err.Error(), "disk could not be imaged") && !strings.Contains(err.Error(), "gave no reason") {
			t.Errorf("error %v names no reason and does not say so", err)
		}
	}
}

// No duplicate creates in the live dialect either, whose creates answer
// 200 and whose name filter matches partially.
func TestLiveSandboxNoDuplicateCreates(t *testing.T) {
	t.Parallel() // mostly waiting: overlap with the rest
	const n = 300
	inst, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{TemplateDelay: -1, RepeatItems: true}, sandbox.Faults{AmbiguousRate: 0.2, ErrorRate: 0.1, Seed: 11}))
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(10)
	for i := range n {
		g.Go(func() error {
			// Names that prefix one another, for the partial name filter.
			_, err := c.CreateScript(ctx, remote.ScriptInput{Name: fmt.Sprintf("s-%d", i), Body: "true", IsEnabled: i%2 == 0})
			return err
		})
	}
	for i := range 30 {
		g.Go(func() error {
			_, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: fmt.Sprintf("t-%d", i), MachineID: "psbox001"})
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
		var i int
		fmt.Sscanf(s.Name, "s-%d", &i)
		if s.IsEnabled != (i%2 == 0) {
			t.Errorf("%s isEnabled %v", s.Name, s.IsEnabled)
		}
	}
	for _, tp := range d.CustomTemplates {
		count[tp.Name]++
	}
	if len(count) != n+30 || len(d.StartupScripts) != n || len(d.CustomTemplates) != 30 {
		t.Errorf("%d scripts and %d templates with %d distinct names, want %d and 30", len(d.StartupScripts), len(d.CustomTemplates), len(count), n)
	}
}

// Fetch of 10,000 scripts and 1,000 templates in the live dialect, where
// lists come in pages of at most 120: requests per Fetch against that
// minimum.
func BenchmarkFetchLive(b *testing.B) {
	inst, c := startSandboxConfig(b, liveSandbox(sandbox.LiveConfig{TemplateDelay: -1}, sandbox.Faults{}))
	ctx := context.Background()
	seed(b, c, 10_000, 1_000)
	if _, err := c.Fetch(ctx); err != nil {
		b.Fatal(err)
	}
	inst.Server.ResetStats()
	before := c.Stats().Requests
	b.ReportAllocs()
	b.ResetTimer()
	var snap *remote.Snapshot
	for b.Loop() {
		var err error
		if snap, err = c.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(snap.Scripts) != 10_000 || len(snap.Templates) != 1_000 || !snap.AssignmentsKnown {
		b.Fatalf("fetched %d scripts and %d templates", len(snap.Scripts), len(snap.Templates))
	}
	pages := func(n int) int { return max(1, (n+api.MaxLimit-1)/api.MaxLimit) }
	minimum := pages(10_000) + pages(1_000) + pages(len(snap.OSTemplates))
	perOp := float64(c.Stats().Requests-before) / float64(b.N)
	b.ReportMetric(perOp, "requests/op")
	b.ReportMetric(float64(minimum), "min-requests/op")
	if perOp > float64(minimum) {
		b.Errorf("%.1f requests per Fetch, the minimum is %d", perOp, minimum)
	}
}

// A template creation that does not finish within EventTimeout fails with
// a clear error, and its polls back off instead of hammering the API.
func TestLiveTemplateEventTimeout(t *testing.T) {
	inst, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{TemplateDelay: 5 * time.Second}, sandbox.Faults{}),
		func(cfg *remote.Config) {
			cfg.EventTimeout = 400 * time.Millisecond
			cfg.PollInterval = 20 * time.Millisecond
		})
	inst.Server.ResetStats()
	start := time.Now()
	_, err := c.CreateTemplate(context.Background(), remote.TemplateInput{Name: "slow", MachineID: "psbox001"})
	if err == nil || !strings.Contains(err.Error(), "after 400ms") || !strings.Contains(err.Error(), `"slow"`) {
		t.Fatalf("CreateTemplate = %v, want a timeout naming the template and the limit", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v, want about 400ms", d)
	}
	// 20ms growing by half: 20, 30, 45, 67, 101, 151 ... about 7 polls in
	// 400ms, where a fixed 20ms interval would make 20.
	if polls := inst.Server.Stats().Count("GET /machine-events/{id}"); polls == 0 || polls > 10 {
		t.Errorf("%d polls in 400ms, want a few, backing off", polls)
	}
}
