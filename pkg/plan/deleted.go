package plan

import (
	"fmt"
	"time"

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

// DeleteLinger bounds how long a recorded delete hides the object the API
// still shows. The live API's deletes take a while to show (a community
// client waits up to 3 minutes); one still shown an hour on is taken to
// have not happened: the object is planned again as any other (adopted by
// name, pruned, or listed as unmanaged) with a warning, rather than hidden
// for good while it may still run on machines.
const DeleteLinger = time.Hour

// withoutDeleted leaves out of snap the objects psync deleted that the API
// still shows without dtDeleted (a delete takes a while to show): planning
// them would delete them again, or take them for drift. It returns the
// records of the deletes the API no longer shows, or still shows past
// DeleteLinger (with a warning each), to be dropped. snap is not changed.
// A record hides its object only within DeleteLinger of its time.
func withoutDeleted(snap *remote.Snapshot, st *state.State, now time.Time) (*remote.Snapshot, []Settled, []string) {
	if len(st.Deleted) == 0 {
		return snap, nil, nil
	}
	var settled []Settled
	var warnings []string
	hidden := map[string]bool{}
	for _, d := range st.Deleted {
		// A record of no time, or of one far in the future, is none psync
		// wrote: a hostile or edited state must not hide an object for
		// good (and so keep it from being pruned, or shown unmanaged).
		if age := now.Sub(d.At); age <= DeleteLinger && age >= -DeleteLinger {
			hidden[d.Kind+"/"+d.ID] = true
		}
	}
	shown := map[string]bool{}
	out := *snap
	out.Scripts = make([]remote.Script, 0, len(snap.Scripts))
	for _, s := range snap.Scripts {
		if st.WasDeleted(state.KindScript, s.ID) {
			shown[state.KindScript+"/"+s.ID] = true
			if hidden[state.KindScript+"/"+s.ID] {
				continue
			}
		}
		out.Scripts = append(out.Scripts, s)
	}
	out.Templates = make([]remote.Template, 0, len(snap.Templates))
	for _, t := range snap.Templates {
		if st.WasDeleted(state.KindTemplate, t.ID) {
			shown[state.KindTemplate+"/"+t.ID] = true
			if hidden[state.KindTemplate+"/"+t.ID] {
				continue
			}
		}
		out.Templates = append(out.Templates, t)
	}
	for _, d := range st.Deleted {
		key := d.Kind + "/" + d.ID
		switch {
		case !shown[key]:
			settled = append(settled, Settled{Kind: Kind(d.Kind), ID: d.ID})
		case !hidden[key]:
			settled = append(settled, Settled{Kind: Kind(d.Kind), ID: d.ID})
			warnings = append(warnings, fmt.Sprintf("psync deleted %s %q (%s) at %s, but the API still shows it (a record is trusted for %s): the delete is taken to have not happened, and the object is planned again", d.Kind, d.Name, d.ID, d.At.Format(time.RFC3339), DeleteLinger))
		}
	}
	return &out, settled, warnings
}

// Visible is snap without the objects psync deleted that the API still
// shows (see state.Deleted): what plans, and checks of saved plans, see.
// snap is not changed.
func Visible(snap *remote.Snapshot, st *state.State) *remote.Snapshot {
	out, _, _ := withoutDeleted(snap, st, time.Now())
	return out
}

// Apply drops the record of the delete from s.
func (d Settled) Apply(s *state.State) { s.ForgetDeleted(string(d.Kind), d.ID) }
