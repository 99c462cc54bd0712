package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// A recent delete the API still shows is left out of the plan (not
// deleted again with prune, not unmanaged, not a name clash); one it no
// longer shows is settled, and applying the settlement drops its record.
func TestRecentDeletes(t *testing.T) {
	st := stateOf(nil, nil)
	st.MarkDeleted(state.KindScript, "s-linger", "old")
	st.MarkDeleted(state.KindScript, "s-gone", "older")
	st.MarkDeleted(state.KindTemplate, "t-linger", "base")
	snap := liveSnap(
		[]remote.Script{rScript("s-linger", "old"), rScript("s-other", "other")},
		[]remote.Template{rTemplate("t-linger", "base", "m1"), rTemplate("t-new", "base", "m2")},
	)
	m := manifestOf(nil, nil)
	m.Settings.Prune = true
	m.Settings.MaxDeletePercent = 100
	m.Templates = append(m.Templates, mTemplate("base", "m2"))
	p, err := Compute(m, snap, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.Action.String()+" "+c.Key+" "+c.ID)
	}
	// other is pruned; base is adopted (the lingering one of the same
	// name is not there to clash with); old is left alone.
	want := []string{"delete script/other s-other", "adopt template/base t-new"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Unmanaged{{Kind: KindScript, Name: "other", ID: "s-other"}}, p.Unmanaged); diff != "" {
		t.Errorf("unmanaged (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Settled{{Kind: KindScript, ID: "s-gone"}}, p.Settled); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
	if len(snap.Scripts) != 2 || len(snap.Templates) != 2 {
		t.Errorf("Compute changed the snapshot it was given")
	}
	for _, d := range p.Settled {
		d.Apply(st)
	}
	if diff := cmp.Diff([]state.Deleted{{Kind: state.KindScript, ID: "s-linger", Name: "old"}, {Kind: state.KindTemplate, ID: "t-linger", Name: "base"}}, st.Deleted); diff != "" {
		t.Errorf("records after settling (-want +got):\n%s", diff)
	}
}
