package plan

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/psync-dev/psync/pkg/manifest"
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
	if diff := cmp.Diff([]state.Deleted{{Kind: state.KindScript, ID: "s-linger", Name: "old"}, {Kind: state.KindTemplate, ID: "t-linger", Name: "base"}}, st.Deleted, cmpopts.IgnoreFields(state.Deleted{}, "At")); diff != "" {
		t.Errorf("records after settling (-want +got):\n%s", diff)
	}
}

// A delete the API still shows past DeleteLinger is taken to have not
// happened: the object is planned again (here adopted by the manifest's
// name, so it is managed again rather than hidden for good, perhaps still
// running on machines, beside a duplicate), with a warning, and the record
// is dropped. So is a record of no time or of a time far ahead (which
// psync never writes: a hostile state's, that would hide an object for
// good); one inside the window still hides.
func TestStaleDeleteIsPlannedAgain(t *testing.T) {
	st := stateOf(nil, nil)
	st.MarkDeleted(state.KindScript, "s-stuck", "a")
	st.MarkDeleted(state.KindScript, "s-recent", "b")
	st.Deleted = append(st.Deleted, state.Deleted{Kind: state.KindScript, ID: "s-untimed", Name: "c"})
	st.MarkDeleted(state.KindScript, "s-ahead", "d")
	now := time.Now()
	for i, d := range st.Deleted {
		switch d.ID {
		case "s-stuck":
			st.Deleted[i].At = now.Add(-2 * DeleteLinger)
		case "s-recent":
			st.Deleted[i].At = now.Add(-DeleteLinger / 2)
		case "s-ahead":
			st.Deleted[i].At = now.Add(100 * 365 * 24 * time.Hour)
		}
	}
	snap := liveSnap([]remote.Script{rScript("s-stuck", "a"), rScript("s-recent", "b"), rScript("s-untimed", "c"), rScript("s-ahead", "d")}, nil)
	m := manifestOf([]manifest.Script{mScript("a", "x"), mScript("b", "y"), mScript("c", "z"), mScript("d", "w")}, nil)
	p, err := Compute(m, snap, st, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.Action.String()+" "+c.Key+" "+c.ID)
	}
	slices.Sort(got)
	want := []string{"adopt script/a s-stuck", "adopt script/c s-untimed", "adopt script/d s-ahead", "create script/b "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Settled{{Kind: KindScript, ID: "s-ahead"}, {Kind: KindScript, ID: "s-stuck"}, {Kind: KindScript, ID: "s-untimed"}}, p.Settled); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
	if len(p.Warnings) != 3 || !strings.Contains(p.Warnings[1], `psync deleted script "a" (s-stuck)`) || !strings.Contains(p.Warnings[1], "planned again") {
		t.Errorf("warnings: %q", p.Warnings)
	}
}
