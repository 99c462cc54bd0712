package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// planScripts plans the scripts and their assignments.
func (p *planner) planScripts() {
	remotes := p.snap.Scripts
	objs := make([]object, len(remotes))
	for i, r := range remotes {
		objs[i] = object{r.ID, r.Name}
	}
	owned := make([]object, len(p.st.Scripts))
	stByID := make(map[string]*state.Script, len(p.st.Scripts))
	for i := range p.st.Scripts {
		s := &p.st.Scripts[i]
		owned[i] = object{s.ID, s.Name}
		stByID[s.ID] = s
	}
	mt := newMatcher(KindScript, objs, owned, nil)

	desired := make([]desiredEntry, len(p.m.Scripts))
	for i, d := range p.m.Scripts {
		desired[i] = desiredEntry{d.Name, d.PreviousNames}
	}
	matches, errs := mt.matchAll(desired)
	p.errs = append(p.errs, errs...)
	p.checkScriptSizes()
	p.renameTargetTaken(mt, KindScript, desired, matches, func(id string) bool { return stByID[id] != nil })

	sel := p.checkMachines()
	assignments := map[string][]string{}
	byID := map[string][]string{}
	for _, a := range p.m.Assignments {
		assignments[a.Script] = append(assignments[a.Script], a.Machines...)
		byID[a.Script] = append(byID[a.Script], a.Machines...)
	}
	for name, s := range sel {
		for id := range s.by {
			assignments[name] = append(assignments[name], id)
		}
	}
	declared := make(map[string]bool, len(p.m.Scripts))
	for _, d := range p.m.Scripts {
		declared[d.Name] = true
	}
	for name := range assignments {
		if !declared[name] {
			p.errs = append(p.errs, fmt.Errorf("assignment of script %q, which the manifest does not declare", name))
		}
	}

	// A script to create brings all its assigns: make room for them at
	// once rather than grow a slice of large structs many times (a first
	// apply plans one change per object and assignment).
	grow := 0
	for i, d := range p.m.Scripts {
		if matches[i].remote < 0 {
			grow += 1 + len(assignments[d.Name])
		}
	}
	p.changes = slices.Grow(p.changes, grow)

	ids := map[string]string{}
	for i, d := range p.m.Scripts {
		m := matches[i]
		var r *remote.Script
		var st *state.Script
		if m.remote >= 0 {
			r = &remotes[m.remote]
			ids[d.Name] = r.ID
			if m.owned {
				st = stByID[r.ID]
				p.desiredScript[r.ID] = i
			}
		}
		c, changed := p.scriptChange(d, m, r, st)
		if changed {
			p.add(c)
		}
		p.planAssignments(d, c, r, st, assignments[d.Name], sortedSet(byID[d.Name]), sel[d.Name])
	}
	p.selected = p.selections(sel, ids)

	for i := range remotes {
		if mt.claimed[i] {
			continue
		}
		r := &remotes[i]
		st := stByID[r.ID]
		ignored := p.m.IgnoresScript(r.Name)
		if st == nil || ignored {
			p.unmanaged = append(p.unmanaged, Unmanaged{Kind: KindScript, Name: r.Name, ID: r.ID, Ignored: ignored})
		}
		switch {
		case ignored && st != nil:
			p.add(forgetIgnored(KindScript, r.Name, r.ID, r.Fingerprint()))
		case ignored:
		case st != nil:
			p.add(p.scriptDelete(r, st, "not in manifest"))
		case p.prune:
			p.add(p.scriptDelete(r, nil, "not in manifest (prune)"))
		}
	}
	for _, s := range p.st.Scripts {
		if _, ok := mt.byID[s.ID]; !ok {
			p.add(forget(KindScript, s.Name, s.ID))
		}
	}
}

// scriptAttributes is a remote script's side of a change, with what the
// state knows of its body.
func scriptAttributes(r *remote.Script, st *state.Script) *Attributes {
	a := &Attributes{Name: r.Name, RunOnce: ptr(r.RunOnce), IsEnabled: ptr(r.IsEnabled)}
	// A body the API returns is shown, unless psync pushed a secret in
	// it: that body holds the secret's value itself.
	keyed := st != nil && (st.Sensitive || st.BodyHMAC != "")
	switch {
	case r.Body != nil && !keyed:
		a.Body = ptr(*r.Body)
		a.BodySHA256 = state.BodyHash(*r.Body)
	case st != nil && (st.BodySHA256 != "" || st.BodyHMAC != ""):
		a.BodySHA256, a.BodyHMAC, a.FingerprintKey = st.BodySHA256, st.BodyHMAC, st.FingerprintKey
		if keyed {
			// The bare hash an older psync recorded of a sensitive body
			// gives a short secret in it back: it stays in the state
			// (until the next apply replaces it), out of plans.
			a.BodySHA256 = ""
		}
		if st.Body != nil {
			a.Body = ptr(*st.Body)
		}
	}
	if st != nil && st.Sensitive {
		a.Sensitive = true
		a.Body = nil
	}
	if st != nil {
		a.PreventDestroy = st.PreventDestroy
	}
	return a
}

// scriptChange is the change (if any) of one manifest script. It returns
// the change even when nothing changes, for its id; Key, Before, After and
// Precondition are only filled in when something changes (they cost
// allocations and a fingerprint, and most scripts do not change).
func (p *planner) scriptChange(d manifest.Script, m match, r *remote.Script, st *state.Script) (Change, bool) {
	c := Change{
		Kind: KindScript,
		Name: d.Name,
		// Scripts are never replaced: the change keeps the object, so
		// Protected is the protection it will have (see Change.Protected).
		Protected: d.PreventDestroy,
	}
	body := p.desiredBody(&d)
	fill := func() {
		c.Key = key(KindScript, d.Name)
		c.After = &Attributes{
			Name: d.Name, RunOnce: ptr(d.RunOnce), IsEnabled: ptr(d.IsEnabled),
			Sensitive: d.Sensitive, PreventDestroy: d.PreventDestroy,
		}
		body.after(c.After, p.opts.Key)
		if r == nil {
			return
		}
		c.Precondition = Precondition{Exists: true, Fingerprint: r.Fingerprint()}
		c.Before = scriptAttributes(r, st)
		if c.Before.FingerprintKey != p.opts.Key.ID() {
			// Made with another key: it tells nothing now.
			c.Before.BodyHMAC, c.Before.FingerprintKey = "", ""
		}
		if st != nil && st.BodySHA256 != "" && body.keyed && body.ready && state.BodyHash(body.push) == st.BodySHA256 {
			// The bare hash an older psync recorded (left out of Before)
			// is of this body: Before says so keyed, as apply will record.
			c.Before.BodyHMAC, c.Before.FingerprintKey = body.hmac, p.opts.Key.ID()
		}
		if body.keyed && r.Body != nil {
			// The API's body holds the secret's value (old or new).
			c.Before.Body, c.Before.BodySHA256 = nil, ""
			if st != nil && st.Body != nil {
				c.Before.Body = ptr(*st.Body)
			}
		}
		if d.Sensitive {
			// A script that becomes sensitive shows no body, old or new.
			c.Before.Sensitive = true
			c.Before.Body = nil
		}
	}
	if r == nil {
		c.Action = Create
		if m.drifted {
			c.Reasons = []string{"deleted outside psync"}
		}
		fill()
		p.pushes(&d, body, c)
		return c, true
	}
	c.ID = r.ID

	status, bodyReasons := p.compareBody(&d, body, r, st)
	var reasons []string
	adopt := !m.owned
	if adopt {
		if status == bodyUnknown {
			reasons = append(reasons, "adopting: content not verifiable")
		} else {
			reasons = append(reasons, "adopting")
		}
	}
	lastName, lastRunOnce, lastEnabled := r.Name, r.RunOnce, r.IsEnabled
	if st != nil {
		lastName, lastRunOnce, lastEnabled = st.Name, st.RunOnce, st.IsEnabled
	}
	reasons = append(reasons, p.nameReasons(KindScript, m, r.Name, d.Name, lastName)...)
	if r.RunOnce != d.RunOnce {
		reasons = append(reasons, fmt.Sprintf("runOnce %t → %t", r.RunOnce, d.RunOnce)+reverts(lastRunOnce != r.RunOnce))
	}
	if r.IsEnabled != d.IsEnabled {
		reasons = append(reasons, fmt.Sprintf("isEnabled %t → %t", r.IsEnabled, d.IsEnabled)+reverts(lastEnabled != r.IsEnabled))
	}
	switch {
	case status == bodyUnknown && !adopt && len(bodyReasons) == 0:
		reasons = append(reasons, "content not verifiable")
	case status != bodySame && !adopt || status == bodyChanged:
		reasons = append(reasons, bodyReasons...)
	}
	if st != nil {
		if st.Sensitive != d.Sensitive {
			reasons = append(reasons, fmt.Sprintf("sensitive %t → %t", st.Sensitive, d.Sensitive))
		}
		if st.PreventDestroy != d.PreventDestroy {
			reasons = append(reasons, fmt.Sprintf("preventDestroy %t → %t", st.PreventDestroy, d.PreventDestroy))
		}
	}
	if p.replace[d.Name] {
		// The update sends the whole script, body included.
		reasons = append(reasons, reasonReplace)
	}
	switch {
	case adopt:
		c.Action = Adopt
	case len(reasons) > 0:
		c.Action = Update
	default:
		return c, false
	}
	c.Reasons = reasons
	fill()
	p.pushes(&d, body, c)
	return c, true
}

// reasonReplace is the reason of a script update that --replace asked for.
const reasonReplace = "replace requested"

// pushes notes that change c pushes d's body: an error when a secret of
// it is unresolved. (A script that the plan does not push needs no secret:
// the caller says so as a notice.)
func (p *planner) pushes(d *manifest.Script, b desiredBody, c Change) {
	if b.ready {
		return
	}
	// A manifest problem at the variable's place, so that every view
	// (text, JSON, GitHub annotations) puts it on its line.
	for _, u := range d.Unresolved() {
		u.Message = fmt.Sprintf("%s (the plan would %s the script: %s)", u.Message, c.Action, reasonList(c))
		p.errs = append(p.errs, &manifest.Errors{Diagnostics: []manifest.Diagnostic{u}})
	}
}

func reasonList(c Change) string {
	if len(c.Reasons) == 0 {
		return "it is new"
	}
	return strings.Join(c.Reasons, ", ")
}

// nameReasons explains a name change and remembers it, so that a create
// taking the old name waits for it. lastApplied is the name the state
// records (remoteName when it records none).
func (p *planner) nameReasons(kind Kind, m match, remoteName, name, lastApplied string) []string {
	if remoteName == name {
		return nil
	}
	p.renamedFrom[key(kind, remoteName)] = key(kind, name)
	if m.how == byStateOld || m.how == byNameOld {
		return []string{"renamed from " + m.from}
	}
	return []string{fmt.Sprintf("name %s → %s", remoteName, name) + reverts(lastApplied != remoteName)}
}

// revertsOutside ends the reason of a change that undoes what was changed
// outside psync (in the console) since the last apply.
const revertsOutside = " (reverts a change made outside psync)"

func reverts(drifted bool) string {
	if drifted {
		return revertsOutside
	}
	return ""
}

// scriptDelete deletes a remote script; st is its state entry if owned.
func (p *planner) scriptDelete(r *remote.Script, st *state.Script, reason string) Change {
	c := Change{
		Key:          key(KindScript, r.Name),
		Kind:         KindScript,
		Action:       Delete,
		Name:         r.Name,
		ID:           r.ID,
		Reasons:      []string{reason},
		Before:       scriptAttributes(r, st),
		Protected:    st != nil && st.PreventDestroy,
		Precondition: Precondition{Exists: true, Fingerprint: r.Fingerprint()},
	}
	switch {
	case p.snap.AssignmentsKnown:
		c.AffectedMachines = slices.Clone(r.AssignedMachines)
	case st != nil:
		c.AffectedMachines = slices.Clone(st.Assignments)
	}
	slices.Sort(c.AffectedMachines)
	if len(c.AffectedMachines) == 0 {
		c.AffectedMachines = nil
	}
	return c
}

// planAssignments plans the assigns and unassigns of one manifest script,
// whose own change is sc (planned or not). In the live dialect the remote
// tells which machines the script is on; in the spec dialect only the state
// does, for the assignments psync made, and psync unassigns only those.
//
// byID are the machines the manifest names by id, and sel what the
// script's selectors matched (nil without selectors). An unassign of a
// machine that a selector matched at the last apply is caused by the
// selectors: it counts toward the script's maxDeletePercent, and a
// selector that matched machines then and none now is refused.
func (p *planner) planAssignments(d manifest.Script, sc Change, r *remote.Script, st *state.Script, machines, byID []string, sel *selected) {
	want := sortedSet(machines)
	var wasSelected map[string]string // machine -> the selector that matched it at the last apply
	if st != nil && len(st.Selectors) > 0 {
		wasSelected = map[string]string{}
		for _, rec := range st.Selectors {
			for _, mc := range rec.Machines {
				if _, ok := wasSelected[mc]; !ok {
					wasSelected[mc] = rec.Selector
				}
			}
		}
	}
	info := &scriptSelectors{script: d.Name, sel: sel}
	if st != nil {
		info.recorded = st.Selectors
	}
	if sel != nil || wasSelected != nil {
		p.selInfo = append(p.selInfo, info)
	}
	var have, recorded []string
	if st != nil {
		recorded = sortedSet(st.Assignments)
	}
	switch {
	case r == nil:
		// Created by this plan: on no machine yet.
	case p.snap.AssignmentsKnown:
		have = sortedSet(r.AssignedMachines)
	default:
		// Owned: what psync assigned. Adopted in the spec dialect: unknown,
		// so every wanted machine is assigned (assign is idempotent) and
		// nothing is unassigned.
		have = recorded
	}
	info.machines = len(have)
	// A machine on its way out keeps the script until it goes: selectors
	// skip it, and unassigning it would only fail.
	for _, mc := range have {
		if _, ok := slices.BinarySearch(want, mc); !ok && p.leaving[mc] {
			want = sortedSet(append(slices.Clone(want), mc))
		}
	}
	if slices.Equal(want, have) {
		return
	}

	base := Change{Kind: KindAssignment, Name: d.Name, ID: sc.ID}
	switch {
	case sc.Action == Create:
		base.ID = ""
	case r != nil:
		base.Precondition = sc.Precondition
		if !base.Precondition.Exists {
			base.Precondition = Precondition{Exists: true, Fingerprint: r.Fingerprint()}
		}
	}
	dependOn := sc.Action == Create || sc.Action == Adopt
	add := func(action Action, machine, reason string) {
		c := base
		c.Action, c.Key, c.Machine, c.Reasons = action, assignmentKey(d.Name, machine), machine, []string{reason}
		if dependOn {
			c.DependsOn = []string{sc.Key}
		}
		p.add(c)
	}
	for _, mc := range want {
		if _, ok := slices.BinarySearch(have, mc); ok {
			continue
		}
		reason := ReasonNewInManifest
		_, wasRecorded := slices.BinarySearch(recorded, mc)
		_, named := slices.BinarySearch(byID, mc)
		switch {
		case wasRecorded && p.snap.AssignmentsKnown && r != nil:
			reason = "unassigned outside psync" + revertsOutside
		case !named && sel != nil:
			reason = "matched by select " + sel.by[mc]
		case r != nil && st == nil && !p.snap.AssignmentsKnown:
			// Adopted in the spec dialect: it may be assigned already.
			reason = "in manifest; the API cannot say whether it is assigned already (assigning again is harmless)"
		}
		add(Assign, mc, reason)
	}
	for _, mc := range have {
		if _, ok := slices.BinarySearch(want, mc); ok {
			continue
		}
		reason := ReasonRemovedFromManifest
		if _, ok := slices.BinarySearch(recorded, mc); !ok && p.snap.AssignmentsKnown {
			reason = "added outside psync" + revertsOutside
		}
		if s, ok := wasSelected[mc]; ok {
			reason = "no longer matched by select " + s
			if !sel.has(s) {
				reason = "select " + s + " is no longer in the manifest"
			}
			info.unassigns = append(info.unassigns, assignmentKey(d.Name, mc))
		}
		add(Unassign, mc, reason)
	}
}

// The reasons of assigns and unassigns that the manifest asks for.
const (
	ReasonNewInManifest       = "new in manifest"
	ReasonRemovedFromManifest = "machine removed from the manifest"
)

// sortedSet returns s sorted and without duplicates: s itself when it
// already is (the common case, which allocates nothing), else a copy.
func sortedSet(s []string) []string {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			c := slices.Clone(s)
			slices.Sort(c)
			return slices.Compact(c)
		}
	}
	return s
}
