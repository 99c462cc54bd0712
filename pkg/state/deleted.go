package state

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Deleted is an object psync deleted that the API may still show: a
// delete takes a while to show, and the object lingers meanwhile, with or
// without dtDeleted. The planner leaves such objects out, so that a plan
// right after an apply does not delete them again; the record is dropped
// once the API no longer shows the object (or shows it deleted, which the
// client reads as not shown). Ids are never reused, so a recorded id can
// only be the deleted object.
type Deleted struct {
	// Kind is "script" or "template".
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Name is the object's name when it was deleted, for the reader.
	Name string `json:"name,omitempty"`
	// At is when psync deleted it (zero in records written before it was
	// kept). A delete the API still shows long after is taken to have
	// not happened, and the object is planned again.
	At time.Time `json:"at,omitzero"`
}

// Kinds of Deleted.
const (
	KindScript   = "script"
	KindTemplate = "template"
)

func (d Deleted) key() string { return d.Kind + "/" + d.ID }

func compareDeleted(a, b Deleted) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.ID, b.ID))
}

// MarkDeleted records that psync deleted the object of this kind and id,
// now.
func (s *State) MarkDeleted(kind, id, name string) {
	d := Deleted{Kind: kind, ID: id, Name: name, At: time.Now().UTC().Truncate(time.Second)}
	s.touched.deleted(d.key())
	i, found := slices.BinarySearchFunc(s.Deleted, d, compareDeleted)
	if found {
		s.Deleted[i] = d
		return
	}
	s.Deleted = slices.Insert(s.Deleted, i, d)
}

// ForgetDeleted drops the record of a delete. It reports whether there was
// one.
func (s *State) ForgetDeleted(kind, id string) bool {
	d := Deleted{Kind: kind, ID: id}
	i, found := slices.BinarySearchFunc(s.Deleted, d, compareDeleted)
	if !found {
		return false
	}
	s.touched.deleted(d.key())
	s.Deleted = slices.Delete(s.Deleted, i, i+1)
	if len(s.Deleted) == 0 {
		s.Deleted = nil
	}
	return true
}

// WasDeleted reports whether psync deleted the object and the API may still
// show it.
func (s *State) WasDeleted(kind, id string) bool {
	if s == nil {
		return false
	}
	_, found := slices.BinarySearchFunc(s.Deleted, Deleted{Kind: kind, ID: id}, compareDeleted)
	return found
}

// normalDeleted sorts and de-duplicates the records, keeping the last of
// each, and makes an empty list nil.
func normalDeleted(ds []Deleted) []Deleted {
	if len(ds) == 0 {
		return nil
	}
	slices.SortStableFunc(ds, compareDeleted)
	out := ds[:0]
	for _, d := range ds {
		if n := len(out); n > 0 && out[n-1].key() == d.key() {
			out[n-1] = d
			continue
		}
		out = append(out, d)
	}
	return out
}

// validateDeleted reports records of no known kind or without an id, and
// records of an object the state also owns: the planner leaves a recorded
// object out of what the API shows, so it would take the owned one for
// gone, forget it and create a duplicate, and the real one, still shown,
// would stay hidden for good.
func (s *State) validateDeleted() []error {
	var errs []error
	owned := map[string]bool{}
	if len(s.Deleted) > 0 {
		for _, sc := range s.Scripts {
			owned[Deleted{Kind: KindScript, ID: sc.ID}.key()] = true
		}
		for _, t := range s.Templates {
			owned[Deleted{Kind: KindTemplate, ID: t.ID}.key()] = true
		}
	}
	for i, d := range s.Deleted {
		if d.Kind != KindScript && d.Kind != KindTemplate {
			errs = append(errs, fmt.Errorf("deleted[%d] has kind %q, want %q or %q", i, d.Kind, KindScript, KindTemplate))
		}
		if d.ID == "" {
			errs = append(errs, fmt.Errorf("deleted[%d] (%q) has no id", i, d.Name))
			continue
		}
		if owned[d.key()] {
			errs = append(errs, fmt.Errorf("%s %s is both owned and recorded as deleted: remove it from one of the lists", d.Kind, d.ID))
		}
	}
	return errs
}
