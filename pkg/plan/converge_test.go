package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// TestConverges generates random teams, states and manifests, applies each
// plan to an in-memory model of the API and the state (the way the applier
// does), and checks that planning again finds nothing to do: the planner's
// changes are complete and consistent with its own reading of the world.
func TestConverges(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	var ambiguous, planned int
	actions := map[Action]int{}
	reasons := map[string]int{}
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, 7))
		m, snap, st := randomWorld(r)
		opts := Options{Prune: r.IntN(3) == 0, AllowDestroy: true, AllowMassDelete: true, Key: testKey}
		before := jsonCopy(t, []any{m, snap, st})
		p, err := Compute(m, snap, st, opts)
		if diff := cmp.Diff(before, jsonCopy(t, []any{m, snap, st})); diff != "" {
			t.Fatalf("seed %d: Compute changed its inputs (-before +after):\n%s", seed, diff)
		}
		if err != nil {
			// Worlds the planner rightly refuses: several unowned objects
			// of a name, or a rename onto a name another object keeps.
			if strings.Contains(err.Error(), "the state owns none of them") || strings.Contains(err.Error(), "would make two") {
				ambiguous++
				continue
			}
			t.Fatalf("seed %d: %v", seed, err)
		}
		planned++
		for _, c := range p.Changes {
			actions[c.Action]++
			for _, r := range c.Reasons {
				reasons[strings.SplitN(r, " ", 2)[0]]++
			}
		}
		checkPlan(t, p, m, snap, st, opts)
		snap2, st2 := simulate(t, p, snap, st)
		if dup := madeDuplicates(snap, snap2); len(dup) > 0 {
			t.Fatalf("seed %d: the apply made names more crowded: %v\nplan: %s", seed, dup, describe(p))
		}
		if err := st2.Validate(); err != nil {
			t.Fatalf("seed %d: state after apply is invalid: %v", seed, err)
		}
		again, err := Compute(m, snap2, st2, opts)
		if err != nil {
			t.Fatalf("seed %d: second plan: %v", seed, err)
		}
		if !again.Empty() {
			t.Fatalf("seed %d: second plan is not empty:\nfirst: %s\nsecond: %s", seed, describe(p), describe(again))
		}
	}
	t.Logf("%d worlds planned, %d ambiguous; actions %v; reasons %v", planned, ambiguous, actions, reasons)
	for a := Create; a <= Unassign; a++ {
		if actions[a] == 0 {
			t.Errorf("no world planned a %s", a)
		}
	}
	if planned < n/2 {
		t.Errorf("only %d of %d worlds could be planned (%d ambiguous)", planned, n, ambiguous)
	}
}

// madeDuplicates lists the names that more remote objects hold after an
// apply than before, when more than one does: psync never makes a
// duplicate (it leaves alone those it found).
func madeDuplicates(before, after *remote.Snapshot) []string {
	count := func(s *remote.Snapshot) map[string]int {
		n := map[string]int{}
		for _, x := range s.Scripts {
			n["script/"+x.Name]++
		}
		for _, x := range s.Templates {
			n["template/"+x.Name]++
		}
		return n
	}
	b, a := count(before), count(after)
	var out []string
	for name, n := range a {
		if n > 1 && n > b[name] {
			out = append(out, fmt.Sprintf("%s: %d → %d", name, b[name], n))
		}
	}
	slices.Sort(out)
	return out
}

// jsonCopy is a deep copy of v's exported contents, for comparing.
func jsonCopy(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(p *Plan) string {
	var b strings.Builder
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "\n  %s %s id=%s %v", c.Action, c.Key, c.ID, c.Reasons)
	}
	return b.String()
}

var (
	names    = []string{"a", "b", "c", "d", "x1", "x2"}
	machines = []string{"m1", "m2", "m3", "m4"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func subset[T any](r *rand.Rand, s []T) []T {
	var out []T
	for _, v := range s {
		if r.IntN(2) == 0 {
			out = append(out, v)
		}
	}
	return out
}

func randomWorld(r *rand.Rand) (*manifest.Manifest, *remote.Snapshot, *state.State) {
	live := r.IntN(2) == 0
	snap := &remote.Snapshot{Dialect: remote.DialectSpec}
	if live {
		snap.Dialect, snap.AssignmentsKnown = remote.DialectPaperspaceV1, true
	}
	st := state.New()
	bodies := []string{"one", "two"}

	// Remote objects, some sharing a name, and the state's view of some.
	usedS, usedT := map[string]bool{}, map[string]bool{}
	for i := range r.IntN(7) {
		s := remote.Script{ID: fmt.Sprintf("s%d", i), Name: pick(r, names), RunOnce: r.IntN(2) == 0, IsEnabled: r.IntN(2) == 0}
		if live {
			s.AssignedMachines = subset(r, machines)
		}
		snap.Scripts = append(snap.Scripts, s)
		if r.IntN(3) > 0 {
			name := s.Name
			if r.IntN(5) == 0 {
				name = pick(r, names) // renamed outside psync since
			}
			if !usedS[name] {
				usedS[name] = true
				e := state.Script{ID: s.ID, Name: name, IsEnabled: s.IsEnabled, RunOnce: s.RunOnce,
					Assignments: subset(r, machines), PreventDestroy: r.IntN(4) == 0}
				if r.IntN(4) > 0 {
					b := pick(r, bodies)
					e.BodySHA256, e.Body = state.BodyHash(b), &b
				}
				st.Scripts = append(st.Scripts, e)
			}
		}
	}
	for i := range r.IntN(5) {
		t := remote.Template{ID: fmt.Sprintf("t%d", i), Name: pick(r, names), MachineID: pick(r, machines)}
		if !live {
			t.Note = pick(r, []string{"", "n"})
		}
		snap.Templates = append(snap.Templates, t)
		if r.IntN(3) > 0 {
			e := state.Template{ID: t.ID, Name: t.Name, MachineID: t.MachineID, Note: t.Note, PreventDestroy: r.IntN(4) == 0}
			if usedT[t.Name] {
				e.Deposed = true
			}
			usedT[t.Name] = true
			st.Templates = append(st.Templates, e)
		}
	}
	// Stale entries: owned once, deleted outside psync since.
	if n := pick(r, names); !usedS[n] && r.IntN(2) == 0 {
		st.Scripts = append(st.Scripts, state.Script{ID: "gone-s", Name: n, IsEnabled: true, Assignments: subset(r, machines)})
	}
	if n := pick(r, names); !usedT[n] && r.IntN(2) == 0 {
		st.Templates = append(st.Templates, state.Template{ID: "gone-t", Name: n, MachineID: "m1"})
	}

	// The manifest: unique names, previous names that are nobody's name.
	m := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 25}}
	if r.IntN(2) == 0 {
		m.Ignore.Scripts = []string{"x*"}
	}
	if r.IntN(2) == 0 {
		m.Ignore.Templates = []string{"x*"}
	}
	perm := r.Perm(len(names))
	taken := map[string]bool{}
	var sNames, prev []string
	for _, i := range perm[:r.IntN(len(names))] {
		n := names[i]
		if len(m.Ignore.Scripts) > 0 && strings.HasPrefix(n, "x") {
			continue
		}
		sNames = append(sNames, n)
		taken[n] = true
	}
	for _, i := range perm {
		if n := names[i]; !taken[n] {
			prev = append(prev, n)
		}
	}
	for _, n := range sNames {
		s := manifest.Script{Name: n, Body: pick(r, bodies), RunOnce: r.IntN(2) == 0, IsEnabled: r.IntN(2) == 0,
			Sensitive: r.IntN(4) == 0, PreventDestroy: r.IntN(4) == 0}
		if s.Sensitive {
			s.Body = "secret of " + n // unique, so that finding it in JSON means a leak
		}
		if len(prev) > 0 && r.IntN(3) == 0 {
			s.PreviousNames, prev = prev[:1], prev[1:]
		}
		m.Scripts = append(m.Scripts, s)
		if ms := subset(r, machines); len(ms) > 0 {
			m.Assignments = append(m.Assignments, manifest.Assignment{Script: n, Machines: ms})
		}
	}
	taken = map[string]bool{}
	for _, i := range r.Perm(len(names))[:r.IntN(len(names))] {
		n := names[i]
		if len(m.Ignore.Templates) > 0 && strings.HasPrefix(n, "x") {
			continue
		}
		taken[n] = true
		m.Templates = append(m.Templates, manifest.Template{Name: n, MachineID: pick(r, machines), Note: pick(r, []string{"", "n"}), PreventDestroy: r.IntN(4) == 0})
	}
	var free []string
	for _, n := range names {
		if !taken[n] {
			free = append(free, n)
		}
	}
	for i := range m.Templates {
		if len(free) > 0 && r.IntN(3) == 0 {
			m.Templates[i].PreviousNames, free = free[:1], free[1:]
		}
	}
	return m, snap, st
}

// simulate applies a plan to copies of the remote and the state, as the
// applier does: each change's API effect, then its journal entry.
func simulate(t *testing.T, p *Plan, snap *remote.Snapshot, st *state.State) (*remote.Snapshot, *state.State) {
	t.Helper()
	s := *snap
	s.Scripts = slices.Clone(snap.Scripts)
	for i := range s.Scripts {
		s.Scripts[i].AssignedMachines = slices.Clone(s.Scripts[i].AssignedMachines)
	}
	s.Templates = slices.Clone(snap.Templates)
	st = st.Clone()
	created := map[string]string{} // change key -> new id
	next := 0
	newID := func(prefix string) string { next++; return fmt.Sprintf("%s-new%d", prefix, next) }
	scriptAt := func(id string) int {
		return slices.IndexFunc(s.Scripts, func(x remote.Script) bool { return x.ID == id })
	}
	templateAt := func(id string) int {
		return slices.IndexFunc(s.Templates, func(x remote.Template) bool { return x.ID == id })
	}
	entry := func(id string, c Change) state.Script {
		a := c.After
		e := state.Script{ID: id, Name: a.Name, BodySHA256: a.BodySHA256, Sensitive: a.Sensitive,
			BodyHMAC: a.BodyHMAC, FingerprintKey: a.FingerprintKey, Secrets: a.Secrets,
			RunOnce: *a.RunOnce, IsEnabled: *a.IsEnabled, PreventDestroy: a.PreventDestroy}
		if !a.Sensitive {
			e.Body = a.Body
		}
		if cur, ok := st.ScriptByID(id); ok {
			e.Assignments = cur.Assignments
		}
		return e
	}
	for _, c := range p.Changes {
		switch {
		case c.Kind == KindScript && c.Action == Create:
			id := newID("s")
			created[c.Key] = id
			rs := remote.Script{ID: id, Name: c.After.Name, RunOnce: *c.After.RunOnce, IsEnabled: *c.After.IsEnabled}
			if s.AssignmentsKnown {
				rs.AssignedMachines = []string{}
			}
			s.Scripts = append(s.Scripts, rs)
			st.PutScript(entry(id, c))
		case c.Kind == KindScript && (c.Action == Update || c.Action == Adopt):
			i := scriptAt(c.ID)
			s.Scripts[i].Name, s.Scripts[i].RunOnce, s.Scripts[i].IsEnabled = c.After.Name, *c.After.RunOnce, *c.After.IsEnabled
			st.PutScript(entry(c.ID, c))
		case c.Kind == KindScript && c.Action == Delete:
			s.Scripts = slices.Delete(s.Scripts, scriptAt(c.ID), scriptAt(c.ID)+1)
			st.RemoveScript(c.ID)
		case c.Kind == KindTemplate && (c.Action == Create || c.Action == Replace):
			id := newID("t")
			note := c.After.Note
			if s.Dialect == remote.DialectPaperspaceV1 {
				note = ""
			}
			s.Templates = append(s.Templates, remote.Template{ID: id, Name: c.After.Name, MachineID: c.After.MachineID, Note: note})
			st.PutTemplate(state.Template{ID: id, Name: c.After.Name, MachineID: c.After.MachineID, Note: note, PreventDestroy: c.After.PreventDestroy})
			if c.Action == Replace {
				s.Templates = slices.Delete(s.Templates, templateAt(c.ID), templateAt(c.ID)+1)
				st.RemoveTemplate(c.ID)
			}
		case c.Kind == KindTemplate && (c.Action == Update || c.Action == Adopt):
			i := templateAt(c.ID)
			s.Templates[i].Name = c.After.Name
			if s.Dialect != remote.DialectPaperspaceV1 {
				s.Templates[i].Note = c.After.Note
			}
			st.PutTemplate(state.Template{ID: c.ID, Name: c.After.Name, MachineID: s.Templates[i].MachineID, Note: s.Templates[i].Note, PreventDestroy: c.After.PreventDestroy})
		case c.Kind == KindScript && c.Action == Forget:
			if scriptAt(c.ID) >= 0 && !slices.Contains(c.Reasons, reasonIgnored) {
				t.Fatalf("%s: forgets script %s, which exists", c.Key, c.ID)
			}
			st.RemoveScript(c.ID)
		case c.Kind == KindTemplate && c.Action == Forget:
			if templateAt(c.ID) >= 0 && !slices.Contains(c.Reasons, reasonIgnored) {
				t.Fatalf("%s: forgets template %s, which exists", c.Key, c.ID)
			}
			st.RemoveTemplate(c.ID)
		case c.Kind == KindTemplate && c.Action == Delete:
			s.Templates = slices.Delete(s.Templates, templateAt(c.ID), templateAt(c.ID)+1)
			st.RemoveTemplate(c.ID)
		case c.Kind == KindAssignment:
			id := c.ID
			if id == "" {
				id = created[c.DependsOn[0]]
			}
			i := scriptAt(id)
			if c.Action == Assign {
				if s.AssignmentsKnown && !slices.Contains(s.Scripts[i].AssignedMachines, c.Machine) {
					s.Scripts[i].AssignedMachines = append(s.Scripts[i].AssignedMachines, c.Machine)
					slices.Sort(s.Scripts[i].AssignedMachines)
				}
				if !st.AddAssignment(id, c.Machine) {
					t.Fatalf("%s: script %s not in the state when assigned", c.Key, id)
				}
			} else {
				if s.AssignmentsKnown {
					s.Scripts[i].AssignedMachines = slices.DeleteFunc(s.Scripts[i].AssignedMachines, func(m string) bool { return m == c.Machine })
				}
				if !st.RemoveAssignment(id, c.Machine) {
					t.Fatalf("%s: script %s not in the state when unassigned", c.Key, id)
				}
			}
		default:
			t.Fatalf("cannot simulate %s %s", c.Action, c.Key)
		}
	}
	return &s, st
}

// TestConvergesExample pins one converging world, so that a failure of the
// random test has a readable neighbour.
func TestConvergesExample(t *testing.T) {
	m := manifestOf([]manifest.Script{{Name: "a", Body: "x", IsEnabled: true, PreviousNames: []string{"old"}}}, nil, mAssign("a", "m1"))
	snap := specSnap([]remote.Script{rScript("s1", "old")}, nil)
	p, err := Compute(m, snap, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap2, st2 := simulate(t, p, snap, state.New())
	again, err := Compute(m, snap2, st2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Change{}, again.Changes); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := errors.Join(st2.Validate()); err != nil {
		t.Error(err)
	}
}
