package plan

import (
	"fmt"
	"slices"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// planTemplates plans the custom templates.
func (p *planner) planTemplates() {
	remotes := p.snap.Templates
	objs := make([]object, len(remotes))
	for i, r := range remotes {
		objs[i] = object{r.ID, r.Name}
	}
	var owned []object
	var deposed []string
	stByID := make(map[string]*state.Template, len(p.st.Templates))
	for i := range p.st.Templates {
		t := &p.st.Templates[i]
		stByID[t.ID] = t
		if t.Deposed {
			deposed = append(deposed, t.ID)
		} else {
			owned = append(owned, object{t.ID, t.Name})
		}
	}
	mt := newMatcher(KindTemplate, objs, owned, deposed)
	desired := make([]desiredEntry, len(p.m.Templates))
	for i, d := range p.m.Templates {
		desired[i] = desiredEntry{d.Name, d.PreviousNames}
	}
	matches, errs := mt.matchAll(desired)
	p.errs = append(p.errs, errs...)
	p.renameTargetTaken(mt, KindTemplate, desired, matches, func(id string) bool { return stByID[id] != nil })

	grow := 0
	for _, m := range matches {
		if m.remote < 0 {
			grow++
		}
	}
	p.changes = slices.Grow(p.changes, grow)

	for i, d := range p.m.Templates {
		m := matches[i]
		var r *remote.Template
		var st *state.Template
		if m.remote >= 0 {
			r = &remotes[m.remote]
			if m.owned {
				st = stByID[r.ID]
				p.desiredTemplate[r.ID] = i
			}
		}
		if st != nil && r.MachineID != d.MachineID {
			if j, ok := madeReplacement(mt, remotes, d); ok {
				p.adoptReplacement(d, &remotes[j], r, st)
				continue
			}
		}
		if c, changed := p.templateChange(d, m, r, st); changed {
			p.add(c)
		}
	}

	for i := range remotes {
		if mt.claimed[i] {
			continue
		}
		r := &remotes[i]
		st := stByID[r.ID]
		ignored := p.m.IgnoresTemplate(r.Name)
		if st == nil || ignored {
			p.unmanaged = append(p.unmanaged, Unmanaged{Kind: KindTemplate, Name: r.Name, ID: r.ID, Ignored: ignored})
		}
		switch {
		case ignored && st != nil:
			p.add(forgetIgnored(KindTemplate, r.Name, r.ID, r.Fingerprint()))
		case ignored:
		case st != nil && st.Deposed:
			p.add(p.templateDelete(r, st, "deposed by a replace"))
		case st != nil:
			p.add(p.templateDelete(r, st, "not in manifest"))
		case p.prune:
			p.add(p.templateDelete(r, nil, "not in manifest (prune)"))
		}
	}
	for _, t := range p.st.Templates {
		if _, ok := mt.byID[t.ID]; !ok {
			p.add(forget(KindTemplate, t.Name, t.ID))
		}
	}
}

// madeReplacement finds, and claims, the replacement of an owned template
// that an earlier apply created and did not record: it stopped between the
// create and its journal entry (killed, or the create's answer was lost and
// the lookup that follows did not find it yet). It is an unowned template
// of the manifest's name and source machine. Without this, the next plan
// would replace the owned template again and leave this one behind, a
// second template of the name.
func madeReplacement(mt *matcher, remotes []remote.Template, d manifest.Template) (int, bool) {
	found := -1
	for j, r := range remotes {
		if mt.claimed[j] || mt.owned[r.ID] || mt.deposed[r.ID] || r.Name != d.Name || r.MachineID != d.MachineID {
			continue
		}
		if found < 0 || r.ID < remotes[found].ID {
			found = j
		}
	}
	if found < 0 {
		return -1, false
	}
	mt.claimed[found] = true
	return found, true
}

// adoptReplacement finishes a replace an earlier apply left half done:
// it adopts the replacement made then, and deletes the old template once
// that is recorded.
func (p *planner) adoptReplacement(d manifest.Template, made, old *remote.Template, st *state.Template) {
	c, _ := p.templateChange(d, match{how: byName}, made, nil) // an adopt
	c.Reasons = append(c.Reasons, fmt.Sprintf("the replacement of %s, created by an apply that stopped before recording it", old.ID))
	p.add(c)
	del := p.templateDelete(old, st, fmt.Sprintf("replaced by %s (machineId %s → %s)", made.ID, old.MachineID, made.MachineID))
	// As for a replace: protected if the manifest or the state says so.
	del.Protected = d.PreventDestroy || st.PreventDestroy
	del.DependsOn = []string{c.Key}
	p.add(del)
}

// templateAttributes is a remote template's side of a change, with the
// protection the state records for it.
func (p *planner) templateAttributes(r *remote.Template, st *state.Template) *Attributes {
	a := &Attributes{Name: r.Name, MachineID: r.MachineID, Note: r.Note}
	if st != nil {
		a.PreventDestroy = st.PreventDestroy
	}
	return a
}

// templateChange is the change (if any) of one manifest template.
func (p *planner) templateChange(d manifest.Template, m match, r *remote.Template, st *state.Template) (Change, bool) {
	c := Change{
		Key:       key(KindTemplate, d.Name),
		Kind:      KindTemplate,
		Name:      d.Name,
		Protected: d.PreventDestroy,
		After:     &Attributes{Name: d.Name, MachineID: d.MachineID, PreventDestroy: d.PreventDestroy},
	}
	if p.compareNotes {
		c.After.Note = d.Note
	}
	if r == nil {
		c.Action = Create
		if m.drifted {
			c.Reasons = []string{"deleted outside psync"}
		}
		return c, true
	}
	c.ID = r.ID
	c.Precondition = Precondition{Exists: true, Fingerprint: r.Fingerprint()}
	c.Before = p.templateAttributes(r, st)

	var reasons []string
	adopt := !m.owned
	if adopt {
		reasons = append(reasons, "adopting")
	}
	last := state.Template{Name: r.Name, MachineID: r.MachineID, Note: r.Note}
	if st != nil {
		last = *st
	}
	reasons = append(reasons, p.nameReasons(KindTemplate, m, r.Name, d.Name, last.Name)...)
	replace := r.MachineID != d.MachineID
	if replace {
		// A template is an image made from its source machine: replacing
		// or deleting it touches no machine, so none is "affected".
		reasons = append(reasons, fmt.Sprintf("machineId %s → %s", r.MachineID, d.MachineID)+reverts(last.MachineID != r.MachineID))
	}
	if p.compareNotes && r.Note != d.Note {
		reasons = append(reasons, fmt.Sprintf("note %q → %q", r.Note, d.Note)+reverts(last.Note != r.Note))
	}
	if st != nil && st.PreventDestroy != d.PreventDestroy {
		reasons = append(reasons, fmt.Sprintf("preventDestroy %t → %t", st.PreventDestroy, d.PreventDestroy))
	}
	c.Reasons = reasons
	switch {
	case replace:
		c.Action = Replace
		// A replace destroys the old object: protected if either the
		// manifest or the state says so.
		c.Protected = d.PreventDestroy || st != nil && st.PreventDestroy
	case adopt:
		c.Action = Adopt
	case len(reasons) > 0:
		c.Action = Update
	default:
		return c, false
	}
	return c, true
}

// templateDelete deletes a remote template; st is its state entry if owned.
func (p *planner) templateDelete(r *remote.Template, st *state.Template, reason string) Change {
	c := Change{
		Key:          key(KindTemplate, r.Name),
		Kind:         KindTemplate,
		Action:       Delete,
		Name:         r.Name,
		ID:           r.ID,
		Reasons:      []string{reason},
		Before:       p.templateAttributes(r, st),
		Protected:    st != nil && st.PreventDestroy,
		Precondition: Precondition{Exists: true, Fingerprint: r.Fingerprint()},
	}
	// No AffectedMachines: deleting a template touches neither its source
	// machine nor the machines made from it.
	return c
}
