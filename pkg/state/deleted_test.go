package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Recent deletes are recorded sorted, once each, journaled like every
// other change (a killed apply's journal replays them), and a version 1
// state file, which has none, still loads.
func TestDeletedRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	s := New()
	s.PutScript(Script{ID: "scr_1", Name: "a"})
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	j := NewJournal(path, s)
	for _, d := range []Deleted{{Kind: KindTemplate, ID: "tpl_1", Name: "t"}, {Kind: KindScript, ID: "scr_2", Name: "b"}, {Kind: KindScript, ID: "scr_1", Name: "a"}} {
		if err := j.Update(func(s *State) {
			if d.Kind == KindScript {
				s.RemoveScript(d.ID)
			}
			s.MarkDeleted(d.Kind, d.ID, d.Name)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Update(func(s *State) {
		if !s.ForgetDeleted(KindScript, "scr_2") || s.ForgetDeleted(KindScript, "scr_404") {
			t.Error("ForgetDeleted reports wrong")
		}
	}); err != nil {
		t.Fatal(err)
	}
	want := []Deleted{{Kind: KindScript, ID: "scr_1", Name: "a"}, {Kind: KindTemplate, ID: "tpl_1", Name: "t"}}
	// Not closed: Load replays the journal, as after a killed apply.
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// When each delete was made is kept too (see plan.DeleteLinger).
	if diff := cmp.Diff(want, got.Deleted, cmpopts.IgnoreFields(Deleted{}, "At")); diff != "" {
		t.Errorf("replayed (-want +got):\n%s", diff)
	}
	for _, d := range got.Deleted {
		if time.Since(d.At) > time.Hour || d.At.Location() != time.UTC {
			t.Errorf("%s recorded deleted at %v, not now in UTC", d.ID, d.At)
		}
	}
	if !got.WasDeleted(KindScript, "scr_1") || got.WasDeleted(KindScript, "scr_2") || got.WasDeleted(KindTemplate, "scr_1") {
		t.Errorf("WasDeleted wrong on %+v", got.Deleted)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err = Load(path); err != nil || !cmp.Equal(want, got.Deleted, cmpopts.IgnoreFields(Deleted{}, "At")) {
		t.Errorf("after Close: %+v, %v", got, err)
	}
	if c := got.Clone(); !cmp.Equal(c.Deleted, got.Deleted) || &c.Deleted[0] == &got.Deleted[0] {
		t.Errorf("Clone shares or loses Deleted")
	}

	old := filepath.Join(t.TempDir(), "v1.json")
	os.WriteFile(old, []byte(`{"formatVersion": 1, "serial": 3, "scripts": [{"id": "a", "name": "x"}]}`), 0o644)
	if s, err := Load(old); err != nil || s.FormatVersion != FormatVersion || len(s.Scripts) != 1 || s.Deleted != nil {
		t.Errorf("version 1 file: %+v, %v", s, err)
	}
	for _, bad := range []struct{ doc, err string }{
		{`{"formatVersion": 2, "deleted": [{"kind": "machine", "id": "m"}]}`, `deleted[0] has kind "machine"`},
		{`{"formatVersion": 2, "deleted": [{"kind": "script", "name": "n"}]}`, `deleted[0] ("n") has no id`},
		// An object both owned and deleted: the planner would hide the
		// real object, forget it and create a duplicate of it.
		{`{"formatVersion": 2, "scripts": [{"id": "s1", "name": "a"}], "deleted": [{"kind": "script", "id": "s1"}]}`, `script s1 is both owned and recorded as deleted`},
		{`{"formatVersion": 2, "templates": [{"id": "t1", "name": "b", "machineId": "m"}], "deleted": [{"kind": "template", "id": "t1"}]}`, `template t1 is both owned and recorded as deleted`},
	} {
		if _, err := parse("s", []byte(bad.doc)); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s: %v, want %s", bad.doc, err, bad.err)
		}
	}
}
