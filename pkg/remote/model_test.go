package remote

import "testing"

func TestScriptFingerprint(t *testing.T) {
	base := Script{ID: "s1", Name: "a", IsEnabled: true, AssignedMachines: []string{"psbox002", "psbox001"}}
	same := []Script{
		{ID: "s1", Name: "a", IsEnabled: true, AssignedMachines: []string{"psbox001", "psbox002"}}, // order
	}
	differ := []Script{
		{ID: "s2", Name: "a", IsEnabled: true, AssignedMachines: base.AssignedMachines},
		{ID: "s1", Name: "b", IsEnabled: true, AssignedMachines: base.AssignedMachines},
		{ID: "s1", Name: "a", IsEnabled: false, AssignedMachines: base.AssignedMachines},
		{ID: "s1", Name: "a", IsEnabled: true, RunOnce: true, AssignedMachines: base.AssignedMachines},
		{ID: "s1", Name: "a", IsEnabled: true, AssignedMachines: []string{"psbox001"}},
	}
	for _, s := range same {
		if s.Fingerprint() != base.Fingerprint() {
			t.Errorf("%+v: fingerprint differs from %+v", s, base)
		}
	}
	for _, s := range differ {
		if s.Fingerprint() == base.Fingerprint() {
			t.Errorf("%+v: same fingerprint as %+v", s, base)
		}
	}
	// An empty list and an absent one are the same state.
	if (Script{ID: "x", AssignedMachines: []string{}}).Fingerprint() != (Script{ID: "x"}).Fingerprint() {
		t.Error("empty and nil AssignedMachines fingerprint differently")
	}
}

func TestTemplateFingerprint(t *testing.T) {
	a := Template{ID: "t1", Name: "n", Note: "x", MachineID: "psbox001"}
	for _, b := range []Template{{ID: "t2", Name: "n", Note: "x", MachineID: "psbox001"}, {ID: "t1", Name: "m", Note: "x", MachineID: "psbox001"},
		{ID: "t1", Name: "n", Note: "y", MachineID: "psbox001"}, {ID: "t1", Name: "n", Note: "x", MachineID: "psbox002"}} {
		if a.Fingerprint() == b.Fingerprint() {
			t.Errorf("%+v and %+v fingerprint alike", a, b)
		}
	}
}
