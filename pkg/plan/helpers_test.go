package plan

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// Builders for the three inputs. Scripts are enabled and not run-once
// unless a test says otherwise.

func mScript(name, body string) manifest.Script {
	return manifest.Script{Name: name, Body: body, IsEnabled: true}
}

func mTemplate(name, machine string) manifest.Template {
	return manifest.Template{Name: name, MachineID: machine}
}

func mAssign(script string, machines ...string) manifest.Assignment {
	return manifest.Assignment{Script: script, Machines: machines}
}

func rScript(id, name string, machines ...string) remote.Script {
	return remote.Script{ID: id, Name: name, IsEnabled: true, AssignedMachines: machines}
}

func rTemplate(id, name, machine string) remote.Template {
	return remote.Template{ID: id, Name: name, MachineID: machine}
}

func sScript(id, name, body string, machines ...string) state.Script {
	return state.Script{ID: id, Name: name, BodySHA256: state.BodyHash(body), Body: ptr(body), IsEnabled: true, Assignments: machines}
}

func sTemplate(id, name, machine string) state.Template {
	return state.Template{ID: id, Name: name, MachineID: machine}
}

func manifestOf(scripts []manifest.Script, templates []manifest.Template, assigns ...manifest.Assignment) *manifest.Manifest {
	return &manifest.Manifest{
		Version:     1,
		Settings:    manifest.Settings{MaxDeletePercent: manifest.DefaultMaxDeletePercent},
		Scripts:     scripts,
		Templates:   templates,
		Assignments: assigns,
	}
}

// row is the part of a change most table tests look at.
type row struct {
	Key       string
	Action    Action
	ID        string
	Reasons   []string
	DependsOn []string
	Protected bool
	Affected  []string
	Exists    bool
}

func rows(p *Plan) []row {
	var out []row
	for _, c := range p.Changes {
		out = append(out, row{
			Key: c.Key, Action: c.Action, ID: c.ID, Reasons: c.Reasons, DependsOn: c.DependsOn,
			Protected: c.Protected, Affected: c.AffectedMachines, Exists: c.Precondition.Exists,
		})
	}
	return out
}

// checkPlan asserts what must hold of every plan: unique keys, dependencies
// earlier, assignment keys and ids consistent, preconditions present, a
// JSON form without sensitive bodies that reads back equal, and the same
// plan whatever the order of the inputs.
func checkPlan(t *testing.T, p *Plan, m *manifest.Manifest, snap *remote.Snapshot, st *state.State, opts Options) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range p.Changes {
		if seen[c.Key] {
			t.Errorf("duplicate key %q", c.Key)
		}
		for _, d := range c.DependsOn {
			if !seen[d] {
				t.Errorf("%s depends on %s, which does not come before it", c.Key, d)
			}
		}
		seen[c.Key] = true
		if c.Kind == KindAssignment && c.Key != assignmentKey(c.Name, c.Machine) {
			t.Errorf("assignment key %q for %s/%s", c.Key, c.Name, c.Machine)
		}
		switch {
		case c.Kind == KindAssignment && c.Precondition.Exists != (c.ID != ""):
			t.Errorf("%s: id %q with precondition exists=%t", c.Key, c.ID, c.Precondition.Exists)
		case c.Kind != KindAssignment && c.Action == Forget && c.Precondition.Exists != slices.Contains(c.Reasons, reasonIgnored):
			t.Errorf("%s: forget (%s) with precondition exists=%t", c.Key, c.Reasons, c.Precondition.Exists)
		case c.Kind != KindAssignment && c.Action != Forget && (c.Action == Create) == c.Precondition.Exists:
			t.Errorf("%s: %s with precondition exists=%t", c.Key, c.Action, c.Precondition.Exists)
		}
		if c.Precondition.Exists && c.Precondition.Fingerprint == "" {
			t.Errorf("%s: no fingerprint", c.Key)
		}
	}

	var buf bytes.Buffer
	if err := Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Scripts {
		if s.Sensitive && strings.Contains(buf.String(), jsonString(s.Body)) {
			t.Errorf("saved plan contains the body of sensitive script %q", s.Name)
		}
	}
	back, err := Read(&buf)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := back.FillBodies(m, testKey); err != nil {
		t.Fatalf("FillBodies: %v", err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("saved plan does not read back equal (-computed +read):\n%s", diff)
	}

	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 42))
		m2, snap2, st2 := shuffled(r, m, snap, st)
		again, err := Compute(m2, snap2, st2, opts)
		if err != nil {
			t.Fatalf("shuffled inputs: %v", err)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("shuffled inputs give another plan (-first +shuffled):\n%s", diff)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func shuffled(r *rand.Rand, m *manifest.Manifest, snap *remote.Snapshot, st *state.State) (*manifest.Manifest, *remote.Snapshot, *state.State) {
	m2 := *m
	m2.Scripts = shuffle(r, m.Scripts)
	m2.Templates = shuffle(r, m.Templates)
	m2.Assignments = shuffle(r, m.Assignments)
	for i := range m2.Assignments {
		m2.Assignments[i].Machines = shuffle(r, m2.Assignments[i].Machines)
	}
	var snap2 *remote.Snapshot
	if snap != nil {
		s := *snap
		s.Scripts = shuffle(r, snap.Scripts)
		for i := range s.Scripts {
			s.Scripts[i].AssignedMachines = shuffle(r, s.Scripts[i].AssignedMachines)
		}
		s.Templates = shuffle(r, snap.Templates)
		snap2 = &s
	}
	var st2 *state.State
	if st != nil {
		st2 = st.Clone()
		st2.Scripts = shuffle(r, st2.Scripts)
		st2.Templates = shuffle(r, st2.Templates)
	}
	return &m2, snap2, st2
}

func shuffle[T any](r *rand.Rand, s []T) []T {
	if s == nil {
		return nil
	}
	s = slices.Clone(s)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

const forgetReason = "deleted outside psync: dropped from the state, no API call"

func withState(s state.Script, f func(*state.Script)) state.Script {
	f(&s)
	return s
}

// testKey keys the fingerprints of secret bodies in tests.
var testKey = state.NewFingerprintKey("test API key")
