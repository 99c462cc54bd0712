package state

import (
	"slices"
	"strings"
)

// The mutation helpers below keep the state's slices sorted, so that a
// journaled state is always in the form Save writes. The applier calls them
// inside Journal.Update.

// PutScript inserts sc, or replaces the entry with its id. Another entry of
// the same name (a stale record of a script that was deleted outside psync
// and created again) is dropped: script names are unique. The body of a
// sensitive script is never kept.
func (s *State) PutScript(sc Script) {
	if sc.Sensitive {
		sc.Body = nil
	}
	sc.Assignments = slices.Clone(sc.Assignments)
	slices.Sort(sc.Assignments)
	sc.Assignments = slices.Compact(sc.Assignments)
	if len(sc.Assignments) == 0 {
		sc.Assignments = nil
	}
	sc.Selectors = normalSelectors(cloneSelectors(sc.Selectors))
	s.Scripts = slices.DeleteFunc(s.Scripts, func(x Script) bool {
		if x.ID == sc.ID || x.Name == sc.Name {
			s.touched.script(x.ID)
			return true
		}
		return false
	})
	s.touched.script(sc.ID)
	i, _ := slices.BinarySearchFunc(s.Scripts, sc, compareScripts)
	s.Scripts = slices.Insert(s.Scripts, i, sc)
}

// RemoveScript forgets the script with this id. It reports whether it was
// there.
func (s *State) RemoveScript(id string) bool {
	s.touched.script(id)
	n := len(s.Scripts)
	s.Scripts = slices.DeleteFunc(s.Scripts, func(x Script) bool { return x.ID == id })
	return len(s.Scripts) != n
}

// PutTemplate inserts t, or replaces the entry with its id. When t is not
// deposed, any other non-deposed entry of the same name is marked deposed:
// it is the old template of a replace, still to be deleted (the next plan
// deletes it if the apply stops before the delete).
func (s *State) PutTemplate(t Template) {
	s.Templates = slices.DeleteFunc(s.Templates, func(x Template) bool { return x.ID == t.ID })
	s.touched.template(t.ID)
	if !t.Deposed {
		for i := range s.Templates {
			if s.Templates[i].Name == t.Name {
				s.Templates[i].Deposed = true
				s.touched.template(s.Templates[i].ID)
			}
		}
	}
	i, _ := slices.BinarySearchFunc(s.Templates, t, compareTemplates)
	s.Templates = slices.Insert(s.Templates, i, t)
}

// RemoveTemplate forgets the template with this id. It reports whether it
// was there.
func (s *State) RemoveTemplate(id string) bool {
	s.touched.template(id)
	n := len(s.Templates)
	s.Templates = slices.DeleteFunc(s.Templates, func(x Template) bool { return x.ID == id })
	return len(s.Templates) != n
}

// AddAssignment records that psync assigned the script with this id to
// machine. It reports false, and changes nothing, when the script is not
// owned.
func (s *State) AddAssignment(scriptID, machine string) bool {
	sc, ok := s.scriptByID(scriptID)
	if !ok {
		return false
	}
	s.touched.assignments(scriptID)
	i, found := slices.BinarySearch(sc.Assignments, machine)
	if !found {
		sc.Assignments = slices.Insert(sc.Assignments, i, machine)
	}
	return true
}

// RemoveAssignment records that the script with this id is no longer
// assigned to machine. It reports false when the script is not owned.
func (s *State) RemoveAssignment(scriptID, machine string) bool {
	sc, ok := s.scriptByID(scriptID)
	if !ok {
		return false
	}
	s.touched.assignments(scriptID)
	if i, found := slices.BinarySearch(sc.Assignments, machine); found {
		sc.Assignments = slices.Delete(sc.Assignments, i, i+1)
	}
	if len(sc.Assignments) == 0 {
		sc.Assignments = nil
	}
	return true
}

// SetSelectors records what the selectors of the script with this id
// matched, replacing what was recorded (nil forgets it). It reports false,
// and changes nothing, when the script is not owned.
func (s *State) SetSelectors(scriptID string, sel []Selector) bool {
	sc, ok := s.scriptByID(scriptID)
	if !ok {
		return false
	}
	s.touched.script(scriptID)
	sc.Selectors = normalSelectors(cloneSelectors(sel))
	return true
}

// cloneSelectors is a deep copy.
func cloneSelectors(sel []Selector) []Selector {
	if sel == nil {
		return nil
	}
	out := make([]Selector, len(sel))
	for i, x := range sel {
		out[i] = Selector{Selector: x.Selector, Machines: slices.Clone(x.Machines)}
	}
	return out
}

// normalSelectors sorts selectors by text and their machines, in place,
// and makes an empty list nil.
func normalSelectors(sel []Selector) []Selector {
	if len(sel) == 0 {
		return nil
	}
	for i := range sel {
		slices.Sort(sel[i].Machines)
		sel[i].Machines = slices.Compact(sel[i].Machines)
		if len(sel[i].Machines) == 0 {
			sel[i].Machines = nil
		}
	}
	slices.SortFunc(sel, func(a, b Selector) int { return strings.Compare(a.Selector, b.Selector) })
	return sel
}
