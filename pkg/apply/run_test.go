package apply_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/state"
)

// outcome is the part of a result that does not depend on timing.
type outcome struct {
	Status         apply.Status
	SkippedBecause string
	Error          string
}

func outcomes(r *apply.Report) map[string]outcome {
	m := map[string]outcome{}
	for _, res := range r.Results {
		m[res.Change.Key] = outcome{res.Status, res.SkippedBecause, res.Error}
	}
	return m
}

func keys(r *apply.Report) []string {
	var k []string
	for _, res := range r.Results {
		k = append(k, res.Change.Key)
	}
	return k
}

// mixedPlan has one change of every action, with the dependencies the
// planner gives them. The fake holds the objects it acts on.
func mixedPlan(f *fakeAPI) (*plan.Plan, *state.State) {
	f.seedScript("scr-old", "old", "psbox001", "psbox002")
	f.seedScript("scr-upd", "upd", "psbox003")
	f.seedTemplate("tpl-rep", "rep", "psbox001")
	f.seedTemplate("tpl-del", "del", "psbox002")
	st := &state.State{
		Lineage: "L", Serial: 3,
		Scripts: []state.Script{
			{ID: "scr-old", Name: "old", RunOnce: false, IsEnabled: true, Assignments: []string{"psbox001", "psbox002"}},
			{ID: "scr-upd", Name: "upd", IsEnabled: true, Assignments: []string{"psbox003"}},
		},
		Templates: []state.Template{
			{ID: "tpl-rep", Name: "rep", MachineID: "psbox001"},
			{ID: "tpl-del", Name: "del", MachineID: "psbox002"},
		},
	}
	p := newPlan(
		createScript("new"),
		updateScript("scr-upd", "upd", "echo v2\n"),
		unassign("scr-old", "old", "psbox001"),
		unassign("scr-old", "old", "psbox002"),
		deleteScript("scr-old", "old", "assignment/old/psbox001", "assignment/old/psbox002"),
		replaceTemplate("tpl-rep", "rep", "psbox001", "psbox004"),
		deleteTemplate("tpl-del", "del"),
		createTemplate("fresh", "psbox002"),
		assign("", "new", "psbox001"),
		assign("", "new", "psbox002"),
		assign("scr-upd", "upd", "psbox004"),
	)
	return p, st
}

func TestRunAppliesEveryActionInDependencyOrder(t *testing.T) {
	f := newFakeAPI()
	f.Latency = 5 * time.Millisecond
	p, st := mixedPlan(f)
	j := newMemJournal(st)

	report, err := apply.Run(context.Background(), p, f, j, apply.Options{Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() {
		t.Fatalf("not every change was done: %+v", outcomes(report))
	}
	if diff := cmp.Diff(keys(&apply.Report{Results: resultsOf(p)}), keys(report)); diff != "" {
		t.Errorf("results are not in plan order (-want +got):\n%s", diff)
	}

	// Every dependant's call started after its dependency's call ended.
	calls := f.Calls()
	first := func(op, key string) call {
		t.Helper()
		for _, c := range calls {
			if c.Op == op && c.Key == key {
				return c
			}
		}
		t.Fatalf("no %s of %s in %v", op, key, calls)
		return call{}
	}
	before := []struct{ dep, depKey, op, key string }{
		{"CreateScript", "script/new", "AssignScript", "assignment/new/psbox001"},
		{"CreateScript", "script/new", "AssignScript", "assignment/new/psbox002"},
		{"UnassignScript", "assignment/old/psbox001", "DeleteScript", "script/old"},
		{"UnassignScript", "assignment/old/psbox002", "DeleteScript", "script/old"},
		{"CreateTemplate", "template/rep", "DeleteTemplate", "template/rep"},
	}
	for _, b := range before {
		d, c := first(b.dep, b.depKey), first(b.op, b.key)
		if c.Start.Before(d.End) {
			t.Errorf("%s %s started before %s %s ended", b.op, b.key, b.dep, b.depKey)
		}
	}
	if n := len(calls); n != 12 {
		t.Errorf("made %d calls, want 12 (11 changes, the replace making two): %v", n, calls)
	}

	wantRemote := []string{
		"script new [psbox001 psbox002]",
		"script upd [psbox003 psbox004]",
		"template fresh on psbox002",
		"template rep on psbox004",
	}
	if diff := cmp.Diff(wantRemote, f.Objects()); diff != "" {
		t.Errorf("remote after apply (-want +got):\n%s", diff)
	}

	got, updates := j.snapshot()
	newID, repID, freshID := idOf(f, "script", "new"), idOf(f, "template", "rep"), idOf(f, "template", "fresh")
	want := state.State{
		Lineage: "L", Serial: 3 + int64(updates),
		Scripts: []state.Script{
			{ID: "scr-upd", Name: "upd", BodySHA256: state.BodyHash("echo v2\n"), Body: ptr("echo v2\n"), IsEnabled: true, Assignments: []string{"psbox003", "psbox004"}},
			{ID: newID, Name: "new", BodySHA256: state.BodyHash("echo new\n"), Body: ptr("echo new\n"), IsEnabled: true, Assignments: []string{"psbox001", "psbox002"}},
		},
		Templates: []state.Template{
			{ID: repID, Name: "rep", MachineID: "psbox004"},
			{ID: freshID, Name: "fresh", MachineID: "psbox002"},
		},
		// Every delete is remembered until the API stops showing it.
		Deleted: []state.Deleted{
			{Kind: state.KindScript, ID: "scr-old", Name: "old"},
			{Kind: state.KindTemplate, ID: "tpl-del", Name: "del"},
			{Kind: state.KindTemplate, ID: "tpl-rep", Name: "rep"},
		},
	}
	// At most one journal save per call (the replace's create, which
	// deposes the old template, and its delete are journaled apart);
	// fewer when concurrent changes share a save.
	if updates < 1 || updates > 12 {
		t.Errorf("journal updated %d times, want 1 to 12", updates)
	}
	// When each delete was made is recorded too (plan.DeleteLinger).
	if diff := cmp.Diff(want, got, sortState, cmpopts.IgnoreFields(state.Deleted{}, "At")); diff != "" {
		t.Errorf("journaled state (-want +got):\n%s", diff)
	}
	for _, d := range got.Deleted {
		if time.Since(d.At) > time.Hour {
			t.Errorf("%s recorded deleted at %v, not now", d.ID, d.At)
		}
	}
}

var sortState = cmp.Options{
	cmpopts.SortSlices(func(a, b state.Script) bool { return a.ID < b.ID }),
	cmpopts.SortSlices(func(a, b state.Template) bool { return a.ID < b.ID }),
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreUnexported(state.State{}),
}

func resultsOf(p *plan.Plan) []apply.Result {
	var r []apply.Result
	for _, c := range p.Changes {
		r = append(r, apply.Result{Change: c})
	}
	return r
}

func idOf(f *fakeAPI, kind, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if kind == "script" {
		for id, s := range f.scripts {
			if s.Name == name {
				return id
			}
		}
	}
	for id, t := range f.templates {
		if t.Name == name {
			return id
		}
	}
	return ""
}

func TestRunNeverExceedsParallelism(t *testing.T) {
	for _, limit := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			f := newFakeAPI()
			f.Latency = 5 * time.Millisecond
			var changes []plan.Change
			for i := range 12 {
				name := fmt.Sprintf("s%02d", i)
				changes = append(changes, createScript(name), assign("", name, "psbox001"), assign("", name, "psbox002"))
			}
			report, err := apply.Run(context.Background(), newPlan(changes...), f, newMemJournal(nil), apply.Options{Parallelism: limit})
			if err != nil || !report.OK() {
				t.Fatalf("Run: %v, %+v", err, outcomes(report))
			}
			if peak := f.Peak(); peak != limit {
				t.Errorf("peak in-flight calls = %d, want exactly the limit %d", peak, limit)
			}
			if report.Parallelism != limit {
				t.Errorf("report.Parallelism = %d, want %d", report.Parallelism, limit)
			}
		})
	}
}

// The events say which changes are calling the API: between EventStarted
// and EventSaving (or a failure's EventFinished) a change holds a slot, so
// never more than Parallelism of them are, even while slow journal saves
// keep many changes waiting to be recorded. A progress line counting them
// shows what the API sees.
func TestRunEventsNeverShowMoreCallingThanParallelism(t *testing.T) {
	f := newFakeAPI()
	f.Latency = time.Millisecond
	j := newMemJournal(nil)
	j.Delay = 3 * time.Millisecond // saves are the bottleneck
	var changes []plan.Change
	for i := range 12 {
		name := fmt.Sprintf("s%02d", i)
		changes = append(changes, createScript(name), assign("", name, "psbox001"))
	}
	calling, saving := map[string]bool{}, map[string]bool{}
	peakCalling, peakSaving := 0, 0
	report, err := apply.Run(context.Background(), newPlan(changes...), f, j, apply.Options{
		Parallelism: 3,
		OnEvent: func(e apply.Event) {
			k := e.Result.Change.Key
			switch e.Kind {
			case apply.EventStarted:
				calling[k] = true
			case apply.EventSaving:
				if !calling[k] {
					t.Errorf("%s saving before it started", k)
				}
				delete(calling, k)
				saving[k] = true
			case apply.EventFinished:
				delete(calling, k)
				delete(saving, k)
			}
			peakCalling = max(peakCalling, len(calling))
			peakSaving = max(peakSaving, len(saving))
		},
	})
	if err != nil || !report.OK() {
		t.Fatalf("Run: %v, %+v", err, outcomes(report))
	}
	if peakCalling > 3 {
		t.Errorf("up to %d changes shown calling the API, want at most the parallelism 3", peakCalling)
	}
	if peakSaving == 0 {
		t.Errorf("no change was ever shown saving, although the saves were slow")
	}
}

func TestRunStartsAChangeAsSoonAsItsDependenciesAreDone(t *testing.T) {
	f := newFakeAPI()
	f.Latency = 5 * time.Millisecond
	f.Slow = map[string]time.Duration{"template/big": 400 * time.Millisecond}
	p := newPlan(
		createTemplate("big", "psbox001"),
		createScript("a"),
		assign("", "a", "psbox001"),
		assign("", "a", "psbox002"),
	)
	report, err := apply.Run(context.Background(), p, f, newMemJournal(nil), apply.Options{Parallelism: 2})
	if err != nil || !report.OK() {
		t.Fatalf("Run: %v, %+v", err, outcomes(report))
	}
	var bigEnd time.Time
	for _, c := range f.Calls() {
		if c.Key == "template/big" {
			bigEnd = c.End
		}
	}
	for _, c := range f.Calls() {
		if c.Op == "AssignScript" && !c.End.Before(bigEnd) {
			t.Errorf("%s waited for the unrelated slow template (ended %v after it)", c.Key, c.End.Sub(bigEnd))
		}
	}
}

func TestRunFailureSkipsOnlyDependants(t *testing.T) {
	f := newFakeAPI()
	f.seedScript("scr-gone", "gone", "psbox001")
	boom := errors.New("create script \"a\": 500 INTERNAL_SERVER_ERROR: boom")
	f.Fail = map[string]error{
		"script/a":                 boom,
		"assignment/b/psbox002":    errors.New("assign: 400 no such machine"),
		"assignment/gone/psbox001": errors.New("unassign: 503"),
	}
	p := newPlan(
		createScript("a"),
		createScript("b"),
		unassign("scr-gone", "gone", "psbox001"),
		deleteScript("scr-gone", "gone", "assignment/gone/psbox001"),
		createTemplate("t", "psbox001"),
		assign("", "a", "psbox001"),
		assign("", "a", "psbox002"),
		assign("", "b", "psbox001"),
		assign("", "b", "psbox002"),
	)
	report, err := apply.Run(context.Background(), p, f, newMemJournal(nil), apply.Options{Parallelism: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]outcome{
		"script/a":                 {Status: apply.Failed, Error: boom.Error()},
		"script/b":                 {Status: apply.Done},
		"assignment/gone/psbox001": {Status: apply.Failed, Error: "unassign: 503"},
		"script/gone":              {Status: apply.Skipped, SkippedBecause: "assignment/gone/psbox001"},
		"template/t":               {Status: apply.Done},
		"assignment/a/psbox001":    {Status: apply.Skipped, SkippedBecause: "script/a"},
		"assignment/a/psbox002":    {Status: apply.Skipped, SkippedBecause: "script/a"},
		"assignment/b/psbox001":    {Status: apply.Done},
		"assignment/b/psbox002":    {Status: apply.Failed, Error: "assign: 400 no such machine"},
	}
	if diff := cmp.Diff(want, outcomes(report)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	for _, res := range report.Results {
		if res.Status == apply.Failed && !errors.Is(res.Err, f.Fail[res.Change.Key]) {
			t.Errorf("%s: Err = %v, want the writer's error", res.Change.Key, res.Err)
		}
	}
	for _, c := range f.Calls() {
		if c.Key == "assignment/a/psbox001" || c.Key == "assignment/a/psbox002" || c.Key == "script/gone" {
			t.Errorf("a skipped change made a call: %+v", c)
		}
	}
}

func TestRunFailureSkipsTransitiveDependants(t *testing.T) {
	f := newFakeAPI()
	f.Fail = map[string]error{"script/a": errors.New("boom")}
	third := plan.Change{Key: "template/c", Kind: plan.KindTemplate, Action: plan.Create, Name: "c",
		After: &plan.Attributes{Name: "c", MachineID: "psbox001"}, DependsOn: []string{"assignment/a/psbox001"}}
	p := newPlan(createScript("a"), assign("", "a", "psbox001"), third, createScript("x"))
	report, err := apply.Run(context.Background(), p, f, newMemJournal(nil), apply.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]outcome{
		"script/a":              {Status: apply.Failed, Error: "boom"},
		"assignment/a/psbox001": {Status: apply.Skipped, SkippedBecause: "script/a"},
		"template/c":            {Status: apply.Skipped, SkippedBecause: "script/a"},
		"script/x":              {Status: apply.Done},
	}
	if diff := cmp.Diff(want, outcomes(report)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestRunJournalsEachSuccessBeforeReportingIt(t *testing.T) {
	f := newFakeAPI()
	f.Latency = time.Millisecond
	p, st := mixedPlan(f)
	j := newMemJournal(st)
	var problems []string
	onEvent := func(e apply.Event) {
		if e.Kind != apply.EventFinished || e.Result.Status != apply.Done {
			return
		}
		got, _ := j.snapshot()
		if !recorded(&got, e.Result.Change) {
			problems = append(problems, e.Result.Change.Key+" reported done before the state recorded it")
		}
	}
	report, err := apply.Run(context.Background(), p, f, j, apply.Options{Parallelism: 4, OnEvent: onEvent})
	if err != nil || !report.OK() {
		t.Fatalf("Run: %v, %+v", err, outcomes(report))
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// recorded says whether the state shows the change as done.
func recorded(st *state.State, c plan.Change) bool {
	switch {
	case c.Kind == plan.KindScript && c.Action == plan.Delete:
		_, ok := st.ScriptByID(c.ID)
		return !ok
	case c.Kind == plan.KindScript:
		for _, s := range st.Scripts {
			if s.Name == c.Name && s.BodySHA256 == state.BodyHash(*c.After.Body) {
				return true
			}
		}
	case c.Kind == plan.KindTemplate && c.Action == plan.Delete:
		_, ok := st.TemplateByID(c.ID)
		return !ok
	case c.Kind == plan.KindTemplate:
		_, old := st.TemplateByID(c.ID)
		for _, t := range st.Templates {
			if t.Name == c.Name && t.MachineID == c.After.MachineID && !t.Deposed {
				return c.Action != plan.Replace || !old
			}
		}
	case c.Action == plan.Assign || c.Action == plan.Unassign:
		for _, s := range st.Scripts {
			if s.Name == c.Name {
				has := false
				for _, m := range s.Assignments {
					has = has || m == c.Machine
				}
				return has == (c.Action == plan.Assign)
			}
		}
	}
	return false
}

func TestRunJournalFailureFailsTheChange(t *testing.T) {
	f := newFakeAPI()
	// Long enough that the first save is over before the second call ends
	// (otherwise the two would share it).
	f.Latency = 20 * time.Millisecond
	j := newMemJournal(nil)
	j.FailAfter = 1 // the first create is recorded, nothing after
	p := newPlan(createScript("a"), assign("", "a", "psbox001"), createScript("b"), assign("", "b", "psbox001"))
	report, err := apply.Run(context.Background(), p, f, j, apply.Options{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(report)
	if got["script/a"].Status != apply.Done {
		t.Errorf("script/a: %+v, want done", got["script/a"])
	}
	for _, k := range []string{"assignment/a/psbox001", "script/b"} {
		if o := got[k]; o.Status != apply.Failed || !strings.Contains(o.Error, "not recorded in the state: disk full") {
			t.Errorf("%s: %+v, want failed naming the journal error", k, o)
		}
	}
	if o := got["assignment/b/psbox001"]; o.Status != apply.Skipped || o.SkippedBecause != "script/b" {
		t.Errorf("assignment/b/psbox001: %+v, want skipped because of script/b", o)
	}
}

func TestRunInterruptFinishesInFlightAndLeavesTheRestPending(t *testing.T) {
	f := newFakeAPI()
	f.Latency = 30 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := 0
	f.OnCall = func(call) {
		// Calls start from the dispatcher's workers; count under the lock.
		f.mu.Lock()
		started++
		n := started
		f.mu.Unlock()
		if n == 3 {
			cancel()
		}
	}
	var changes []plan.Change
	for i := range 10 {
		changes = append(changes, createScript(fmt.Sprintf("s%d", i)))
	}
	j := newMemJournal(nil)
	report, err := apply.Run(ctx, newPlan(changes...), f, j, apply.Options{Parallelism: 2})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if report == nil || !report.Interrupted {
		t.Fatalf("report = %+v, want Interrupted", report)
	}
	counts := report.Counts()
	calls := len(f.Calls())
	// The in-flight changes finished (the call that saw the interrupt and
	// the one beside it), and were journaled; nothing else started.
	if counts[apply.Done] != calls || calls < 3 || calls > 4 {
		t.Errorf("done %d, calls %d: want the 3 or 4 started calls done", counts[apply.Done], calls)
	}
	if counts[apply.Pending] != 10-calls || counts[apply.Failed] != 0 {
		t.Errorf("counts %v, want the %d never started pending", counts, 10-calls)
	}
	if st, _ := j.snapshot(); len(st.Scripts) != calls {
		t.Errorf("the state records %d scripts, want the %d done", len(st.Scripts), calls)
	}
	for _, res := range report.Results {
		if res.Status == apply.Pending && (res.Step != 0 || res.Duration != 0) {
			t.Errorf("pending %s has step %d, duration %v", res.Change.Key, res.Step, res.Duration)
		}
	}
}

func TestRunCancelledBeforeStartDoesNothing(t *testing.T) {
	f := newFakeAPI()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	report, err := apply.Run(ctx, newPlan(createScript("a")), f, newMemJournal(nil), apply.Options{})
	if !errors.Is(err, context.Canceled) || !report.Interrupted || report.Counts()[apply.Pending] != 1 {
		t.Errorf("err %v, report %+v: want interrupted, all pending", err, report)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d calls made", n)
	}
}

func TestRunDryRunWritesNothingAndReturnsTheSchedule(t *testing.T) {
	f := newFakeAPI()
	p, st := mixedPlan(f)
	before := f.Objects()
	j := newMemJournal(st)
	report, err := apply.Run(context.Background(), p, f, j, apply.Options{Parallelism: 3, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("a dry run made %d API calls: %v", n, f.Calls())
	}
	if _, updates := j.snapshot(); updates != 0 {
		t.Errorf("a dry run journaled %d updates", updates)
	}
	if diff := cmp.Diff(before, f.Objects()); diff != "" {
		t.Errorf("remote changed (-before +after):\n%s", diff)
	}
	if !report.DryRun || !report.OK() {
		t.Fatalf("report: dry run %v, outcomes %+v; want a dry run with every change done", report.DryRun, outcomes(report))
	}
	assertSchedule(t, p, report)
}

// assertSchedule checks that the steps are 1..n, each change after its
// dependencies.
func assertSchedule(t *testing.T, p *plan.Plan, report *apply.Report) {
	t.Helper()
	step := map[string]int{}
	seen := map[int]bool{}
	for _, res := range report.Results {
		step[res.Change.Key] = res.Step
		if res.Step < 1 || res.Step > len(p.Changes) || seen[res.Step] {
			t.Errorf("%s: step %d is not a unique step of 1..%d", res.Change.Key, res.Step, len(p.Changes))
		}
		seen[res.Step] = true
	}
	for _, c := range p.Changes {
		for _, d := range c.DependsOn {
			if step[c.Key] <= step[d] {
				t.Errorf("%s (step %d) is scheduled before its dependency %s (step %d)", c.Key, step[c.Key], d, step[d])
			}
		}
	}
}

func TestRunNotFoundOnDeleteIsDone(t *testing.T) {
	f := newFakeAPI()
	st := &state.State{
		Scripts:   []state.Script{{ID: "scr-x", Name: "x", Assignments: []string{"psbox001"}}},
		Templates: []state.Template{{ID: "tpl-x", Name: "tx"}},
	}
	j := newMemJournal(st)
	p := newPlan(
		unassign("scr-x", "x", "psbox001"),
		deleteScript("scr-x", "x", "assignment/x/psbox001"),
		deleteTemplate("tpl-x", "tx"),
		updateScript("scr-y", "y", "echo\n"), // a 404 on an update is a failure
	)
	report, err := apply.Run(context.Background(), p, f, j, apply.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]outcome{
		"assignment/x/psbox001": {Status: apply.Done},
		"script/x":              {Status: apply.Done},
		"template/tx":           {Status: apply.Done},
		"script/y":              {Status: apply.Failed, Error: notFound("update", "script", "scr-y").Error()},
	}
	if diff := cmp.Diff(want, outcomes(report)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	got, _ := j.snapshot()
	if len(got.Scripts) != 0 || len(got.Templates) != 0 {
		t.Errorf("the state still records deleted objects: %+v", got)
	}
}

func TestRunEventsAreSerialisedAndCountDone(t *testing.T) {
	f := newFakeAPI()
	f.Latency = time.Millisecond
	f.Fail = map[string]error{"script/s0": errors.New("boom")}
	var changes []plan.Change
	for i := range 8 {
		name := fmt.Sprintf("s%d", i)
		changes = append(changes, createScript(name), assign("", name, "psbox001"))
	}
	var events []apply.Event // appended without a lock: -race proves Run serialises
	started := map[string]bool{}
	report, err := apply.Run(context.Background(), newPlan(changes...), f, newMemJournal(nil), apply.Options{
		Parallelism: 4,
		OnEvent: func(e apply.Event) {
			events = append(events, e)
			if e.Kind == apply.EventStarted {
				started[e.Result.Change.Key] = true
			}
			if e.Kind == apply.EventFinished && e.Result.Status != apply.Skipped && !started[e.Result.Change.Key] {
				t.Errorf("%s finished before it started", e.Result.Change.Key)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, e := range events {
		if e.Total != 16 {
			t.Errorf("event Total = %d, want 16", e.Total)
		}
		if e.Kind == apply.EventFinished {
			done++
			if e.Done != done {
				t.Errorf("finished event %d has Done %d", done, e.Done)
			}
		}
	}
	if done != 16 || len(started) != 15 {
		t.Errorf("%d finished and %d started events, want 16 and 15 (one skipped)", done, len(started))
	}
	if c := report.Counts(); c[apply.Done] != 14 || c[apply.Failed] != 1 || c[apply.Skipped] != 1 {
		t.Errorf("counts %v", c)
	}
}

func TestRunTimesComeFromTheClock(t *testing.T) {
	f := newFakeAPI()
	var now time.Time
	clock := func() time.Time { now = now.Add(time.Second); return now }
	report, err := apply.Run(context.Background(), newPlan(createScript("a")), f, newMemJournal(nil), apply.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	// Ticks: run start 1, change start 2, change end 3, run end 4.
	r := report.Results[0]
	if r.Started != time.Second || r.Duration != time.Second || report.Elapsed != 3*time.Second || r.Step != 1 {
		t.Errorf("started %v, duration %v, elapsed %v, step %d", r.Started, r.Duration, report.Elapsed, r.Step)
	}
}

func TestRunRefusesAMalformedPlan(t *testing.T) {
	tests := map[string]struct {
		plan *plan.Plan
		want string
	}{
		"duplicate key":   {newPlan(createScript("a"), createScript("a")), `two changes have the key "script/a"`},
		"unknown dep":     {newPlan(assign("", "a", "psbox001")), `depends on "script/a", which is not in the plan`},
		"dep after":       {newPlan(assign("", "a", "psbox001"), createScript("a")), "depends on script/a, which comes after it"},
		"bad parallelism": {newPlan(createScript("a")), "parallelism must be at least 1, not -1"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeAPI()
			opts := apply.Options{}
			if name == "bad parallelism" {
				opts.Parallelism = -1
			}
			report, err := apply.Run(context.Background(), tt.plan, f, newMemJournal(nil), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || report != nil {
				t.Errorf("Run = %v, %v; want no report and an error containing %q", report, err, tt.want)
			}
			if len(f.Calls()) != 0 {
				t.Errorf("calls were made")
			}
		})
	}
}

func TestRunDefaultParallelism(t *testing.T) {
	report, err := apply.Run(context.Background(), newPlan(), newFakeAPI(), newMemJournal(nil), apply.Options{})
	if err != nil || report.Parallelism != apply.DefaultParallelism || !report.OK() || len(report.Results) != 0 {
		t.Errorf("empty plan: %+v, %v", report, err)
	}
}

// TestRunDoesNotStoreSensitiveBodies checks that the state records a
// sensitive body by the keyed fingerprint the plan made, and never by a
// bare hash (which gives a short secret back): a change without a keyed
// fingerprint is recorded with no hash at all.
func TestRunDoesNotStoreSensitiveBodies(t *testing.T) {
	for _, keyed := range []bool{true, false} {
		c := createScript("secret")
		c.After.Sensitive = true
		c.After.BodySHA256 = ""
		if keyed {
			c.After.BodyHMAC, c.After.FingerprintKey = "hmac-of-the-body", "key-id"
		}
		j := newMemJournal(nil)
		report, err := apply.Run(context.Background(), newPlan(c), newFakeAPI(), j, apply.Options{})
		if err != nil || !report.OK() {
			t.Fatalf("Run: %v %+v", err, outcomes(report))
		}
		got, _ := j.snapshot()
		want := state.Script{ID: got.Scripts[0].ID, Name: "secret", Sensitive: true, IsEnabled: true}
		if keyed {
			want.BodyHMAC, want.FingerprintKey = "hmac-of-the-body", "key-id"
		}
		if diff := cmp.Diff([]state.Script{want}, got.Scripts, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("keyed %t: state (-want +got):\n%s", keyed, diff)
		}
	}
}

func TestRunReplaceWhoseDeleteFailsLeavesTheOldDeposed(t *testing.T) {
	for name, st := range map[string]*state.State{
		"owned":   {Templates: []state.Template{{ID: "tpl-rep", Name: "rep", MachineID: "psbox001"}}},
		"unknown": {},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeAPI()
			f.seedTemplate("tpl-rep", "rep", "psbox001")
			f.Fail = map[string]error{"template/rep": nil}
			// Fail only the delete of the old "rep", not the create of the new.
			f.OnCall = func(c call) {
				if c.Op == "DeleteTemplate" {
					f.mu.Lock()
					f.Fail["template/rep"] = errors.New("delete template tpl-rep: 500")
					f.mu.Unlock()
				}
			}
			j := newMemJournal(st)
			report, err := apply.Run(context.Background(), newPlan(replaceTemplate("tpl-rep", "rep", "psbox001", "psbox002")), f, j, apply.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if o := outcomes(report)["template/rep"]; o.Status != apply.Failed || !strings.Contains(o.Error, "it stays deposed in the state") {
				t.Errorf("outcome %+v, want failed, saying the old template stays deposed", o)
			}
			newID := "tpl001" // the fake numbers what it creates
			got, _ := j.snapshot()
			want := []state.Template{
				{ID: newID, Name: "rep", MachineID: "psbox002"},
				{ID: "tpl-rep", Name: "rep", MachineID: "psbox001", Deposed: true},
			}
			if diff := cmp.Diff(want, got.Templates, sortState); diff != "" {
				t.Errorf("templates in the state (-want +got):\n%s", diff)
			}
		})
	}
}

// A change waiting for a slow journal save has given its API slot to the
// next change. (Sharing saves among changes is state.Journal's group
// commit, tested there.)
func TestRunSlowJournalDoesNotHoldAPISlots(t *testing.T) {
	f := newFakeAPI()
	f.Latency = 10 * time.Millisecond
	j := newMemJournal(nil)
	j.Delay = 50 * time.Millisecond
	var changes []plan.Change
	for i := range 20 {
		changes = append(changes, createScript(fmt.Sprintf("s%02d", i)))
	}
	report, err := apply.Run(context.Background(), newPlan(changes...), f, j, apply.Options{Parallelism: 4})
	if err != nil || !report.OK() {
		t.Fatalf("Run: %v, %+v", err, outcomes(report))
	}
	got, _ := j.snapshot()
	if len(got.Scripts) != 20 {
		t.Errorf("the state records %d scripts, want 20", len(got.Scripts))
	}
	// The API slots did not wait for the saves.
	if peak := f.Peak(); peak != 4 {
		t.Errorf("peak in-flight calls %d, want 4", peak)
	}
}
