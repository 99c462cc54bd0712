package plan

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// Options tune a plan.
type Options struct {
	// Prune also deletes unmanaged objects that are not ignored (as does
	// the manifest's settings.prune).
	Prune bool
	// AllowDestroy and AllowMassDelete override the safety rules: the
	// findings are still reported, marked Overridden.
	AllowDestroy    bool
	AllowMassDelete bool
	// Targets limit the plan to these objects ("script/NAME",
	// "template/NAME"), their assignments and what they depend on.
	Targets []string
	// Replace names scripts ("script/NAME") whose body is pushed again
	// although the state says it matches: a body changed in the console
	// cannot be seen (the API never returns bodies), so only the user can
	// ask for it (Terraform's -replace).
	Replace []string
	// APIURL and Team are the target, recorded in the plan.
	APIURL, Team string
	// Key keys the fingerprints of bodies that hold a secret (sensitive
	// scripts, fromEnv variables). It is required when the manifest has
	// such a script.
	Key state.FingerprintKey
	// UnboundState says the state file recorded no target (API URL and
	// team) although it owns objects: its ownership cannot be verified,
	// and every change it alone justifies is flagged (see trust.go).
	UnboundState bool
	// Created is when the API says each object was made, by id
	// (remote.Client.Created). A delete or replace of an owned object
	// made before the state began is flagged (see trust.go).
	Created map[string]time.Time
	// Now is the time recorded deletes are judged at (DeleteLinger);
	// zero is the current time.
	Now time.Time
}

// Compute returns the changes that make the remote match desired, given
// what the state records. It does no I/O. An empty plan (no changes) means
// the remote already matches. An unsafe plan is computed in full and
// carries Findings; refusing it is the caller's job (Plan.Refused).
//
// It fails when the inputs do not allow a plan: several remote objects of
// one name that the state owns none of, or a target or a replace that
// names nothing.
func Compute(desired *manifest.Manifest, snap *remote.Snapshot, st *state.State, opts Options) (*Plan, error) {
	if desired == nil {
		return nil, errors.New("plan: no manifest")
	}
	if snap == nil {
		snap = &remote.Snapshot{}
	}
	if st == nil {
		st = state.New()
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	snap, settled, deleteWarnings := withoutDeleted(snap, st, now)
	targets, err := parseTargets(opts.Targets)
	if err != nil {
		return nil, err
	}
	replace, err := parseReplace(opts.Replace, desired)
	if err != nil {
		return nil, err
	}
	if err := replaceInTargets(opts.Replace, targets); err != nil {
		return nil, err
	}
	p := &planner{
		m:               desired,
		snap:            snap,
		st:              st,
		opts:            opts,
		prune:           opts.Prune || desired.Settings.Prune,
		compareNotes:    snap.Dialect != remote.DialectPaperspaceV1,
		keys:            map[string]int{},
		renamedFrom:     map[string]string{},
		desiredScript:   map[string]int{},
		desiredTemplate: map[string]int{},
		replace:         replace,
		warnings:        deleteWarnings,
	}
	if opts.Key.IsZero() {
		for _, d := range desired.Scripts {
			if d.Keyed() {
				return nil, fmt.Errorf("plan: script %q holds a secret, and no fingerprint key was given", d.Name)
			}
		}
	}
	p.planScripts()
	p.planTemplates()
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	p.flagUnverifiedOwnership()
	p.disambiguateKeys()
	p.linkDependencies()

	changes, unmanaged := p.changes, p.unmanaged
	if targets != nil {
		if changes, unmanaged, err = p.filterTargets(targets); err != nil {
			return nil, err
		}
	}
	leftOut := len(p.changes) - len(changes)
	changes, err = order(changes)
	if err != nil {
		return nil, err
	}
	sortUnmanaged(unmanaged)
	plan := &Plan{
		FormatVersion: FormatVersion,
		APIURL:        opts.APIURL,
		Team:          opts.Team,
		StateLineage:  st.Lineage,
		StateSerial:   st.Serial,
		Changes:       changes,
		Refresh:       refresh(snap, st, changes),
		Settled:       settled,
		Drift:         p.drift(changes, targets),
		Unmanaged:     unmanaged,
		LeftOut:       leftOut,
		Selections:    filterSelections(p.selected, targets),
		Warnings:      p.warnings,
		Notes:         p.notes,
	}
	plan.BodiesUnreadable = bodiesUnreadable(snap, st)
	plan.Findings = findings(plan.Changes, snap, len(st.Scripts)+len(st.Templates), desired.Settings.MaxDeletePercent, opts)
	plan.Findings = append(plan.Findings, p.selectorFindings(plan.Changes, targets, desired.Settings.MaxDeletePercent)...)
	if plan.Changes == nil {
		plan.Changes = []Change{}
	}
	return plan, nil
}

// planner holds the indexes one Compute builds.
type planner struct {
	m            *manifest.Manifest
	snap         *remote.Snapshot
	st           *state.State
	opts         Options
	prune        bool
	compareNotes bool

	changes   []Change
	unmanaged []Unmanaged
	errs      []error
	// warnings and notes are for the person reading the plan; selected
	// is what the scripts' selectors matched, and selInfo, per script
	// with selectors now or at the last apply, what the safety rules
	// need to know of them.
	warnings, notes []string
	selected        []ScriptSelection
	selInfo         []*scriptSelectors
	// leaving are the machines the API lists as being deleted: a script
	// on one is left there (its assignments go with it).
	leaving map[string]bool
	// teamMachines is the set of the team's machine ids, once needed.
	teamMachines map[string]bool
	// keys maps a change's key to its index in changes, once
	// disambiguateKeys has made keys unique.
	keys map[string]int
	// renamedFrom maps "KIND/OLD" to the key of the change renaming the
	// object away from OLD, so a create taking OLD waits for it.
	renamedFrom map[string]string
	// replace holds the names of the scripts whose body is pushed again.
	replace map[string]bool
	// desiredScript and desiredTemplate map the remote id of an owned
	// object to the index of the manifest entry it is matched to.
	desiredScript, desiredTemplate map[string]int
}

func (p *planner) add(c Change) { p.changes = append(p.changes, c) }

func key(kind Kind, name string) string { return string(kind) + "/" + name }

func assignmentKey(script, machine string) string {
	return string(KindAssignment) + "/" + script + "/" + machine
}

// disambiguateKeys gives every delete or forget whose key another change
// also has the key "KIND/NAME#ID", so that keys are unique. The other
// change keeps the plain key.
func (p *planner) disambiguateKeys() {
	count := make(map[string]int, len(p.changes))
	for _, c := range p.changes {
		count[c.Key]++
	}
	for i := range p.changes {
		c := &p.changes[i]
		if count[c.Key] > 1 && (c.Action == Delete || c.Action == Forget) {
			c.Key += "#" + c.ID
		}
	}
	p.keys = make(map[string]int, len(p.changes))
	for i, c := range p.changes {
		p.keys[c.Key] = i
	}
}

// linkDependencies adds the edges that involve deletes and renames, once
// keys are final: a create waits for the rename that frees its name; a
// rename waits for the deletes that free its new name; a script's delete
// waits for its unassigns.
func (p *planner) linkDependencies() {
	unassigns := map[string][]string{} // script id -> unassign keys
	deletes := map[string][]string{}   // KIND/NAME -> keys of its deletes
	for _, c := range p.changes {
		if c.Kind == KindAssignment && c.Action == Unassign && c.ID != "" {
			unassigns[c.ID] = append(unassigns[c.ID], c.Key)
		}
		if c.Action == Delete {
			deletes[key(c.Kind, c.Name)] = append(deletes[key(c.Kind, c.Name)], c.Key)
		}
	}
	for i := range p.changes {
		c := &p.changes[i]
		// A rename waits for the deletes of the objects holding its new
		// name, so that two objects never share it.
		if c.Before != nil && c.After != nil && c.Before.Name != c.After.Name && c.Kind != KindAssignment {
			for _, k := range deletes[key(c.Kind, c.After.Name)] {
				c.DependsOn = appendUnique(c.DependsOn, k)
			}
		}
		switch {
		case c.Action == Create && c.Kind != KindAssignment:
			if k, ok := p.renamedFrom[key(c.Kind, c.Name)]; ok {
				c.DependsOn = appendUnique(c.DependsOn, k)
			}
		case c.Action == Delete && c.Kind == KindScript:
			for _, k := range unassigns[c.ID] {
				c.DependsOn = appendUnique(c.DependsOn, k)
			}
		}
		slices.Sort(c.DependsOn)
	}
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func sortUnmanaged(u []Unmanaged) {
	slices.SortFunc(u, func(a, b Unmanaged) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
}

func kindRank(k Kind) int {
	switch k {
	case KindScript:
		return 0
	case KindTemplate:
		return 1
	}
	return 2
}

func ptr[T any](v T) *T { return &v }

// forget drops an owned object that is gone from the remote from the
// state. Without it, an object deleted outside psync (or by an apply killed
// before it journaled the delete) would stay in the state for ever once it
// also left the manifest, or was renamed there.
func forget(kind Kind, name, id string) Change {
	return forgetBecause(kind, name, id, "deleted outside psync: dropped from the state, no API call")
}

// forgetIgnored drops an owned object whose name is now ignored: adding a
// name to ignore is how one stops managing an object without deleting it
// (Terraform's "removed" with destroy = false), and the object must not be
// deleted later either, when the name is no longer ignored.
func forgetIgnored(kind Kind, name, id, fingerprint string) Change {
	c := forgetBecause(kind, name, id, reasonIgnored)
	// Planned against an object that exists (whether it still does when
	// a saved plan is applied makes no difference to forgetting it).
	c.Precondition = Precondition{Exists: true, Fingerprint: fingerprint}
	return c
}

const reasonIgnored = "ignored: psync stops managing it and deletes nothing"

func forgetBecause(kind Kind, name, id, reason string) Change {
	return Change{
		Key:     key(kind, name),
		Kind:    kind,
		Action:  Forget,
		Name:    name,
		ID:      id,
		Reasons: []string{reason},
	}
}
