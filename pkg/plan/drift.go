package plan

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// Drift is one attribute of an owned object that differs between what
// psync last applied (the state) and what the API shows now: a change made
// outside psync, in the console or by another tool. It is compared three
// ways: Resolution says what the plan does about it, given the manifest.
type Drift struct {
	// Key is the key of the object's change ("script/NAME" of the
	// manifest's name), or "KIND/NAME" of its name now when the plan has
	// no change for it.
	Key  string `json:"key"`
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
	// Name is the object's name on the remote now.
	Name string `json:"name"`
	// Attribute is "name", "runOnce", "isEnabled", "machines" (a script's
	// assignments, where the API exposes them), "machineId" or "note".
	Attribute string `json:"attribute"`
	// LastApplied and Remote are the values, as text: a name, "true" or
	// "false", or for machines the sorted ids joined by ", " ("" for none).
	LastApplied string `json:"lastApplied"`
	Remote      string `json:"remote"`
	// Resolution is what apply does about it.
	Resolution Resolution `json:"resolution"`
}

// Resolution is what a plan does about a drifted attribute.
type Resolution string

// The resolutions.
const (
	// ResolutionRevert: the manifest wants another value; apply writes it.
	ResolutionRevert Resolution = "revert"
	// ResolutionKeep: the manifest agrees with the remote now; apply only
	// records the new value in the state.
	ResolutionKeep Resolution = "keep"
	// ResolutionDelete: the object left the manifest; apply deletes it.
	ResolutionDelete Resolution = "delete"
	// ResolutionForget: the object's name is now ignored; psync lets go.
	ResolutionForget Resolution = "forget"
)

// drift compares, for every owned object still on the remote, the state's
// record of what was last applied with the remote now, and says for each
// difference what the plan does about it (the manifest being the third
// side). Targets, when set, limit it to the targeted objects. Sorted by
// kind, key, attribute.
func (p *planner) drift(changes []Change, targets map[string]bool) []Drift {
	byID := map[string]Change{}
	for _, c := range changes {
		if c.Kind != KindAssignment && c.ID != "" {
			byID[string(c.Kind)+"/"+c.ID] = c
		}
	}
	assigned := map[string][]string{}
	for _, a := range p.m.Assignments {
		assigned[a.Script] = append(assigned[a.Script], a.Machines...)
	}
	// What the selectors matched is wanted too.
	for _, s := range p.selected {
		for _, m := range s.Selectors {
			for _, mc := range m.Machines {
				assigned[s.Script] = append(assigned[s.Script], mc.ID)
			}
		}
	}
	var out []Drift
	add := func(kind Kind, id, name, desiredName string, matched bool, attr, last, now, want string) {
		if last == now {
			return
		}
		k := key(kind, name)
		if matched {
			k = key(kind, desiredName)
		}
		c, changing := byID[string(kind)+"/"+id]
		if changing {
			k = c.Key
		}
		if targets != nil && !targets[key(kind, name)] && !targets[key(kind, desiredName)] {
			return
		}
		res := ResolutionKeep
		switch {
		case changing && c.Action == Delete:
			res = ResolutionDelete
		case changing && c.Action == Forget:
			res = ResolutionForget
		case matched && want != now:
			res = ResolutionRevert
		}
		out = append(out, Drift{Key: k, Kind: kind, ID: id, Name: name, Attribute: attr, LastApplied: last, Remote: now, Resolution: res})
	}

	scripts := map[string]*remote.Script{}
	for i := range p.snap.Scripts {
		scripts[p.snap.Scripts[i].ID] = &p.snap.Scripts[i]
	}
	for _, s := range p.st.Scripts {
		r, ok := scripts[s.ID]
		if !ok {
			continue // gone: a forget or a create says so
		}
		i, matched := p.desiredScript[s.ID]
		var name string
		var runOnce, enabled bool
		var machines []string
		if matched {
			d := p.m.Scripts[i]
			name, runOnce, enabled, machines = d.Name, d.RunOnce, d.IsEnabled, sortedSet(assigned[d.Name])
		}
		add(KindScript, s.ID, r.Name, name, matched, "name", s.Name, r.Name, name)
		add(KindScript, s.ID, r.Name, name, matched, "runOnce", strconv.FormatBool(s.RunOnce), strconv.FormatBool(r.RunOnce), strconv.FormatBool(runOnce))
		add(KindScript, s.ID, r.Name, name, matched, "isEnabled", strconv.FormatBool(s.IsEnabled), strconv.FormatBool(r.IsEnabled), strconv.FormatBool(enabled))
		if p.snap.AssignmentsKnown {
			add(KindScript, s.ID, r.Name, name, matched, "machines",
				joinMachines(p.inTeam(sortedSet(s.Assignments))), joinMachines(sortedSet(r.AssignedMachines)), joinMachines(machines))
		}
	}

	templates := map[string]*remote.Template{}
	for i := range p.snap.Templates {
		templates[p.snap.Templates[i].ID] = &p.snap.Templates[i]
	}
	for _, t := range p.st.Templates {
		r, ok := templates[t.ID]
		if !ok || t.Deposed {
			continue
		}
		i, matched := p.desiredTemplate[t.ID]
		var d struct{ name, machine, note string }
		if matched {
			m := p.m.Templates[i]
			d.name, d.machine, d.note = m.Name, m.MachineID, m.Note
		}
		add(KindTemplate, t.ID, r.Name, d.name, matched, "name", t.Name, r.Name, d.name)
		add(KindTemplate, t.ID, r.Name, d.name, matched, "machineId", t.MachineID, r.MachineID, d.machine)
		if p.compareNotes {
			add(KindTemplate, t.ID, r.Name, d.name, matched, "note", t.Note, r.Note, d.note)
		}
	}
	slices.SortStableFunc(out, func(a, b Drift) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), strings.Compare(a.Key, b.Key), strings.Compare(a.ID, b.ID))
	})
	return out
}

func joinMachines(ms []string) string { return strings.Join(ms, ", ") }

// bodiesUnreadable reports whether the state owns scripts whose body the
// API does not return: an edit of one outside psync goes unnoticed.
func bodiesUnreadable(snap *remote.Snapshot, st *state.State) bool {
	owned := map[string]bool{}
	for _, s := range st.Scripts {
		owned[s.ID] = true
	}
	for _, r := range snap.Scripts {
		if owned[r.ID] && r.Body == nil {
			return true
		}
	}
	return false
}

// inTeam drops, where the API lists machines, the machines that are no
// longer in the team: a machine deleted takes its assignments along, which
// is no change made to the script.
func (p *planner) inTeam(machines []string) []string {
	if !p.snap.MachinesKnown {
		return machines
	}
	if p.teamMachines == nil {
		p.teamMachines = make(map[string]bool, len(p.snap.Machines))
		for _, m := range p.snap.Machines {
			p.teamMachines[m.ID] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(machines), func(id string) bool { return !p.teamMachines[id] })
}
