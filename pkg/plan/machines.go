package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// ScriptSelection is what the selectors of one script's assignment
// matched in this plan. The applier records it in the state (see Apply),
// so that the next plan can tell a selector that suddenly matches nothing.
type ScriptSelection struct {
	Script string `json:"script"`
	// ScriptID is the script's id; empty when this plan creates it.
	ScriptID string `json:"scriptId,omitempty"`
	// Selectors are the script's selectors in manifest order; none when
	// the manifest no longer has any but the state records some (the
	// applier then forgets them).
	Selectors []SelectorMatch `json:"selectors"`
	// Record is set when the state records something else (or the script
	// is created by the plan): the applier then records this.
	Record bool `json:"record,omitempty"`
}

// SelectorMatch is one selector and the machines it matched, by id.
type SelectorMatch struct {
	// Selector is the canonical text, e.g. "machineType=A100,region=ny2".
	Selector string            `json:"selector"`
	Machines []SelectedMachine `json:"machines"`
}

// SelectedMachine is a machine a selector matched.
type SelectedMachine struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// records is the selection as the state records it.
func (s ScriptSelection) records() []state.Selector {
	if len(s.Selectors) == 0 {
		return nil
	}
	out := make([]state.Selector, len(s.Selectors))
	for i, m := range s.Selectors {
		out[i].Selector = m.Selector
		for _, mc := range m.Machines {
			out[i].Machines = append(out[i].Machines, mc.ID)
		}
		slices.Sort(out[i].Machines)
	}
	slices.SortFunc(out, func(a, b state.Selector) int { return strings.Compare(a.Selector, b.Selector) })
	return out
}

// differs reports whether st records something else for the script.
func (s ScriptSelection) differs(st *state.Script) bool {
	return !slices.EqualFunc(st.Selectors, s.records(), func(a, b state.Selector) bool {
		return a.Selector == b.Selector && slices.Equal(a.Machines, b.Machines)
	})
}

// Apply records the selection as what the selectors of the script with
// this id matched. It does nothing when the script is not owned.
func (s ScriptSelection) Apply(st *state.State, id string) {
	st.SetSelectors(id, s.records())
}

// RecordsSelections reports whether applying the plan records a
// selection the state does not have yet: an apply must do so even when
// the plan changes nothing.
func (p *Plan) RecordsSelections() bool {
	for _, s := range p.Selections {
		if s.Record && s.ScriptID != "" {
			return true
		}
	}
	return false
}

// Machine states psync knows (the live API's). A machine in another, or
// being deleted, gets a warning when the manifest assigns it.
var knownMachineStates = []string{"off", "starting", "stopping", "restarting", "serviceready", "ready", "upgrading", "provisioning"}

// machineIndex is the team's machines by id and by name.
type machineIndex struct {
	byID   map[string]*remote.Machine
	byName map[string][]string // name -> ids
	ids    []string            // sorted, for suggestions
}

func newMachineIndex(ms []remote.Machine) *machineIndex {
	x := &machineIndex{byID: make(map[string]*remote.Machine, len(ms)), byName: map[string][]string{}}
	for i := range ms {
		m := &ms[i]
		x.byID[m.ID] = m
		x.byName[m.Name] = append(x.byName[m.Name], m.ID)
		x.ids = append(x.ids, m.ID)
	}
	slices.Sort(x.ids)
	return x
}

// maxSuggestions bounds the "did you mean" searches, each a scan of every
// machine id: a manifest full of mistakes stays fast.
const maxSuggestions = 20

// checkMachines checks every machine id the manifest names against the
// team's machines, where the API lists them, and resolves the selectors.
// Unknown ids and selectors on an API without a machine list are errors
// naming the manifest's file:line:column; a machine in a state where an
// assignment makes no sense is a warning. Where the API cannot list
// machines it notes once that the ids were not checked.
//
// It returns the selected machines of each script, and where each was
// matched, by script name.
//
// The errors are one *manifest.Errors, so that every view places each at
// its line (JSON, GitHub annotations) as it does the loader's.
func (p *planner) checkMachines() map[string]*selected {
	var diags []manifest.Diagnostic
	defer func() {
		if len(diags) > 0 {
			manifest.SortDiagnostics(diags)
			p.errs = append(p.errs, &manifest.Errors{Diagnostics: diags})
		}
	}()
	out := map[string]*selected{}
	if !p.snap.MachinesKnown {
		ids := 0
		for _, a := range p.m.Assignments {
			ids += len(a.Machines)
			for _, s := range a.Select {
				diags = append(diags, manifest.Diagnostic{Pos: s.Pos, Message: fmt.Sprintf("select %s of script %q needs the team's machine list, which this API (%s) does not have: list the machine ids under machines instead",
					s, a.Script, dialectName(p.snap.Dialect))})
			}
		}
		if ids+len(p.m.Templates) > 0 {
			p.notes = append(p.notes, fmt.Sprintf("this API (%s) cannot list machines: the machine ids of the manifest were not checked", dialectName(p.snap.Dialect)))
		}
		return out
	}
	x := newMachineIndex(p.snap.Machines)
	for _, mc := range p.snap.Machines {
		if mc.State == remote.MachineDeleting {
			if p.leaving == nil {
				p.leaving = map[string]bool{}
			}
			p.leaving[mc.ID] = true
		}
	}
	suggestions := 0
	unknown := func(at manifest.Position, id, what string) {
		msg := fmt.Sprintf("machine %s is not in the team", id)
		if ids := x.byName[id]; len(ids) == 1 {
			msg += fmt.Sprintf("; %s is the name of machine %s: name it by its id", id, ids[0])
		} else if suggestions++; suggestions <= maxSuggestions {
			if s := manifest.Suggest(id, x.ids); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
		}
		diags = append(diags, manifest.Diagnostic{Pos: at, Message: fmt.Sprintf("%s (%s)", msg, what)})
	}
	warn := func(at manifest.Position, id, what string) {
		m := x.byID[id]
		if m.State == "" || slices.Contains(knownMachineStates, m.State) {
			return
		}
		state := fmt.Sprintf("in state %q", m.State)
		if m.State == remote.MachineDeleting {
			state = "being deleted"
		}
		p.warnings = append(p.warnings, fmt.Sprintf("%s: machine %s (%s) is %s: %s makes no sense there", at, id, m.Name, state, what))
	}
	// A template made from a machine since deleted still exists: only a
	// template to make needs its machine.
	made := map[string]bool{}
	for _, t := range p.snap.Templates {
		made[t.Name+"\x00"+t.MachineID] = true
	}
	for _, t := range p.m.Templates {
		what := fmt.Sprintf("template %q", t.Name)
		switch {
		case t.MachineID == "" || made[t.Name+"\x00"+t.MachineID]:
		case x.byID[t.MachineID] == nil:
			unknown(t.MachinePos, t.MachineID, "source machine of "+what)
		default:
			warn(t.MachinePos, t.MachineID, "making "+what+" from it")
		}
	}
	for _, a := range p.m.Assignments {
		what := fmt.Sprintf("assignment of script %q", a.Script)
		for i, id := range a.Machines {
			at := a.Pos
			if i < len(a.MachinePos) {
				at = a.MachinePos[i]
			}
			if x.byID[id] == nil {
				unknown(at, id, what)
				continue
			}
			warn(at, id, "assigning script "+fmt.Sprintf("%q", a.Script))
		}
		if len(a.Select) > 0 {
			out[a.Script] = p.resolve(a, out[a.Script])
		}
	}
	return out
}

// selected is what the selectors of one script matched.
type selected struct {
	selection ScriptSelection
	// by maps a selected machine to the first selector that matched it.
	by map[string]string
	// empty lists the selectors that match no machine.
	empty []manifest.Selector
}

// has reports whether the manifest has the selector of this text for the
// script now.
func (s *selected) has(text string) bool {
	if s == nil {
		return false
	}
	return slices.ContainsFunc(s.selection.Selectors, func(m SelectorMatch) bool { return m.Selector == text })
}

// maxStateWarnings bounds the warnings of one selector's machines in a
// state psync does not know: a fleet of hundreds gets a few and a count.
const maxStateWarnings = 5

// resolve matches a's selectors against the team's machines (skipping
// machines being deleted), adding to what earlier entries of the same
// script selected.
func (p *planner) resolve(a manifest.Assignment, into *selected) *selected {
	if into == nil {
		into = &selected{selection: ScriptSelection{Script: a.Script}, by: map[string]string{}}
	}
	for _, s := range a.Select {
		m := SelectorMatch{Selector: s.String(), Machines: []SelectedMachine{}}
		odd := 0
		for _, mc := range p.snap.Machines {
			if mc.State == remote.MachineDeleting || !s.Matches(mc.Name, mc.MachineType, mc.Region) {
				continue
			}
			if mc.State != "" && !slices.Contains(knownMachineStates, mc.State) {
				if odd++; odd <= maxStateWarnings {
					p.warnings = append(p.warnings, fmt.Sprintf("%s: machine %s (%s), which select %s of script %q matches, is in state %q: assigning it may make no sense",
						s.Pos, mc.ID, mc.Name, m.Selector, a.Script, mc.State))
				}
			}
			m.Machines = append(m.Machines, SelectedMachine{ID: mc.ID, Name: mc.Name})
			if _, ok := into.by[mc.ID]; !ok {
				into.by[mc.ID] = m.Selector
			}
		}
		if n := odd - maxStateWarnings; n > 0 {
			p.warnings = append(p.warnings, fmt.Sprintf("%s: %d more machines that select %s of script %q matches are in a state where assigning them may make no sense (besides the %d named above)",
				s.Pos, n, m.Selector, a.Script, maxStateWarnings))
		}
		if len(m.Machines) == 0 {
			into.empty = append(into.empty, s)
		}
		into.selection.Selectors = append(into.selection.Selectors, m)
	}
	return into
}

// selections lists, sorted by script, what every script's selectors
// matched, and the owned scripts whose selectors the state records but
// the manifest no longer has (so that the applier forgets them). ids maps
// a script's name to its id, for those that exist.
func (p *planner) selections(sel map[string]*selected, ids map[string]string) []ScriptSelection {
	var out []ScriptSelection
	names := make(map[string]string, len(ids))
	for name, id := range ids {
		names[id] = name
	}
	byID := make(map[string]*state.Script, len(p.st.Scripts))
	for i := range p.st.Scripts {
		byID[p.st.Scripts[i].ID] = &p.st.Scripts[i]
	}
	for name, s := range sel {
		s.selection.ScriptID = ids[name]
		st := byID[s.selection.ScriptID]
		// A script that is not owned yet (created or adopted by this plan)
		// is recorded once the applier owns it.
		s.selection.Record = st == nil || s.selection.differs(st)
		out = append(out, s.selection)
	}
	for _, st := range p.st.Scripts {
		if len(st.Selectors) == 0 {
			continue
		}
		name := names[st.ID]
		if name == "" || sel[name] != nil {
			continue // deleted with its script, or selected above
		}
		out = append(out, ScriptSelection{Script: name, ScriptID: st.ID, Selectors: []SelectorMatch{}, Record: true})
	}
	slices.SortFunc(out, func(a, b ScriptSelection) int { return strings.Compare(a.Script, b.Script) })
	return out
}

func dialectName(d remote.Dialect) string {
	if d == "" {
		return string(remote.DialectSpec)
	}
	return string(d)
}

// scriptSelectors is what the safety rules need to know of one script's
// selectors.
type scriptSelectors struct {
	script   string
	sel      *selected        // now; nil when the manifest has none
	recorded []state.Selector // at the last apply
	// unassigns are the keys of the unassigns the selectors cause: of
	// machines a selector matched at the last apply.
	unassigns []string
	// machines is how many machines the script is on now.
	machines int
}

// selectorFindings applies the selector safety rules:
//
//   - selector-matches-none: a selector that matched machines at the last
//     apply matches none now, or a selector new to the manifest matches
//     none while one of the script's selectors that matched machines at
//     the last apply is gone from it and the plan unassigns machines it
//     matched (an edit with a typo). That is what
//     a typo in a glob or a renamed fleet looks like, and it would
//     unassign the whole rule's machines. Only where the plan unassigns
//     machines it matched: not where another selector or an id still
//     wants them all, nor where they were deleted from the team (their
//     assignments went with them).
//   - max-delete-percent, per script: the unassigns its selectors cause
//     are more than maxPercent of the machines the script is on, for
//     scripts on at least 10 machines (as for the kinds).
//
// With targets, only the targeted scripts are judged.
func (p *planner) selectorFindings(changes []Change, targets map[string]bool, maxPercent int) []Finding {
	planned := make(map[string]bool, len(changes))
	for _, c := range changes {
		planned[c.Key] = true
	}
	var out []Finding
	for _, info := range p.selInfo {
		if targets != nil && !targets[key(KindScript, info.script)] {
			continue
		}
		var keys []string
		unassigned := map[string]bool{}
		for _, k := range info.unassigns {
			if planned[k] {
				keys = append(keys, k)
				unassigned[k] = true
			}
		}
		// A selector matching none now (or gone, replaced by one that
		// does) is refused only where machines it matched lose the
		// script: not where the manifest still wants them all (another
		// selector or an id covers them), nor where they were all deleted
		// from the team, taking their assignments along (a
		// decommissioned fleet).
		losesAny := func(ids []string) bool {
			return slices.ContainsFunc(ids, func(id string) bool { return unassigned[assignmentKey(info.script, id)] })
		}
		recorded := map[string][]string{}
		for _, r := range info.recorded {
			recorded[r.Selector] = r.Machines
		}
		current := map[string]bool{}
		var empty []manifest.Selector
		if info.sel != nil {
			for _, m := range info.sel.selection.Selectors {
				current[m.Selector] = true
			}
			empty = info.sel.empty
		}
		for _, s := range empty {
			text := s.String()
			var msg string
			if was, ok := recorded[text]; ok {
				if !losesAny(was) {
					continue // nothing then either, or nothing it matched loses the script
				}
				msg = fmt.Sprintf("%s: select %s of script %q matched %s at the last apply (%s) and matches none now: a typo, or a renamed fleet? Fix the selector, or allow it",
					s.Pos, text, info.script, count(len(was), "machine"), listKeys(was))
			} else {
				gone := ""
				for _, r := range info.recorded {
					if !current[r.Selector] && losesAny(r.Machines) {
						gone = fmt.Sprintf("select %s, which matched %s at the last apply (%s)", r.Selector, count(len(r.Machines), "machine"), listKeys(r.Machines))
						break
					}
				}
				if gone == "" {
					continue
				}
				msg = fmt.Sprintf("%s: select %s of script %q matches no machine, and replaces %s: a typo? Fix the selector, or allow it",
					s.Pos, text, info.script, gone)
			}
			out = append(out, Finding{Rule: RuleSelectorMatchesNone, Keys: keys, Message: msg, Override: "--allow-mass-delete", Overridden: p.opts.AllowMassDelete})
		}
		if n, total := len(keys), info.machines; total >= 10 && n*100 > maxPercent*total {
			out = append(out, Finding{
				Rule: RuleMaxDeletePercent,
				Keys: keys,
				Message: fmt.Sprintf("the plan unassigns %d of the %d machines of script %q because its selectors no longer match them (%d%%), more than maxDeletePercent (%d%%): check the selectors",
					n, total, info.script, n*100/total, maxPercent),
				Override:   "--allow-mass-delete",
				Overridden: p.opts.AllowMassDelete,
			})
		}
	}
	return out
}

// filterSelections keeps the targeted scripts' selections.
func filterSelections(s []ScriptSelection, targets map[string]bool) []ScriptSelection {
	if targets == nil {
		return s
	}
	var out []ScriptSelection
	for _, x := range s {
		if targets[key(KindScript, x.Script)] {
			out = append(out, x)
		}
	}
	return out
}
