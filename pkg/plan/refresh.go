package plan

import (
	"cmp"
	"slices"
	"strings"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// refresh lists the owned objects whose record in the state differs from
// what the API returns for the same id: their name, flags, source machine,
// note (where the API has notes) and assignments (where it exposes them).
// Changes made outside psync, and writes whose answer was lost, would
// otherwise leave the state wrong for good: the planner compares the
// manifest with the remote, sees nothing to do, and nothing would ever
// rewrite the record. Bodies cannot be read back, so they are never
// refreshed (a stale body hash plans a re-push instead). Objects that
// have a change in the plan are left to it: the applier records them when
// it makes the change. The result is sorted by kind, name and id.
func refresh(snap *remote.Snapshot, st *state.State, changes []Change) []Refresh {
	changing := map[string]bool{}
	for _, c := range changes {
		changing[c.ID] = true
	}
	scripts := map[string]remote.Script{}
	for _, s := range snap.Scripts {
		scripts[s.ID] = s
	}
	templates := map[string]remote.Template{}
	for _, t := range snap.Templates {
		templates[t.ID] = t
	}
	notes := snap.Dialect != remote.DialectPaperspaceV1
	var out []Refresh
	for _, s := range st.Scripts {
		r, ok := scripts[s.ID]
		if !ok || changing[s.ID] {
			continue // gone: a forget change handles it
		}
		machines := slices.Sorted(slices.Values(r.AssignedMachines))
		stale := s.Name != r.Name || s.RunOnce != r.RunOnce || s.IsEnabled != r.IsEnabled ||
			snap.AssignmentsKnown && !slices.Equal(s.Assignments, machines)
		if stale {
			out = append(out, Refresh{Kind: KindScript, ID: s.ID, Name: r.Name, RunOnce: r.RunOnce, IsEnabled: r.IsEnabled,
				Assignments: machines, AssignmentsKnown: snap.AssignmentsKnown})
		}
	}
	for _, t := range st.Templates {
		r, ok := templates[t.ID]
		if !ok || t.Deposed || changing[t.ID] {
			continue
		}
		if t.Name != r.Name || t.MachineID != r.MachineID || notes && t.Note != r.Note {
			out = append(out, Refresh{Kind: KindTemplate, ID: t.ID, Name: r.Name, MachineID: r.MachineID, Note: r.Note, NoteKnown: notes})
		}
	}
	slices.SortFunc(out, func(a, b Refresh) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Apply records the refresh in s. It is what the applier journals. It
// goes through PutScript and PutTemplate, so that a rename to the name of
// another owned entry (one deleted outside psync, which the plan forgets)
// never leaves two entries of one name: such a state does not load.
func (r Refresh) Apply(s *state.State) {
	switch r.Kind {
	case KindScript:
		if e, ok := s.ScriptByID(r.ID); ok {
			sc := *e
			sc.Name, sc.RunOnce, sc.IsEnabled = r.Name, r.RunOnce, r.IsEnabled
			if r.AssignmentsKnown {
				sc.Assignments = slices.Clone(r.Assignments)
			}
			s.PutScript(sc)
		}
	case KindTemplate:
		if e, ok := s.TemplateByID(r.ID); ok {
			t := *e
			t.Name, t.MachineID = r.Name, r.MachineID
			if r.NoteKnown {
				t.Note = r.Note
			}
			s.PutTemplate(t)
		}
	}
}
