package plan

import (
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// Settled is a delete psync made that the API no longer shows (or shows
// deleted): the applier drops it from the state's record of recent deletes
// (state.Deleted). Like a refresh, it is not a change.
type Settled struct {
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
}

// withoutDeleted leaves out of snap the objects psync deleted that the API
// still shows without dtDeleted (a delete takes a while to show): planning
// them would delete them again, or take them for drift. It returns the
// records of the deletes the API no longer shows, to be dropped. snap is
// not changed.
func withoutDeleted(snap *remote.Snapshot, st *state.State) (*remote.Snapshot, []Settled) {
	if len(st.Deleted) == 0 {
		return snap, nil
	}
	shown := map[string]bool{}
	out := *snap
	out.Scripts = make([]remote.Script, 0, len(snap.Scripts))
	for _, s := range snap.Scripts {
		if st.WasDeleted(state.KindScript, s.ID) {
			shown[state.KindScript+"/"+s.ID] = true
			continue
		}
		out.Scripts = append(out.Scripts, s)
	}
	out.Templates = make([]remote.Template, 0, len(snap.Templates))
	for _, t := range snap.Templates {
		if st.WasDeleted(state.KindTemplate, t.ID) {
			shown[state.KindTemplate+"/"+t.ID] = true
			continue
		}
		out.Templates = append(out.Templates, t)
	}
	var settled []Settled
	for _, d := range st.Deleted {
		if !shown[d.Kind+"/"+d.ID] {
			settled = append(settled, Settled{Kind: Kind(d.Kind), ID: d.ID})
		}
	}
	return &out, settled
}

// Visible is snap without the objects psync deleted that the API still
// shows (see state.Deleted): what plans, and checks of saved plans, see.
// snap is not changed.
func Visible(snap *remote.Snapshot, st *state.State) *remote.Snapshot {
	out, _ := withoutDeleted(snap, st)
	return out
}

// Apply drops the record of the delete from s.
func (d Settled) Apply(s *state.State) { s.ForgetDeleted(string(d.Kind), d.ID) }
