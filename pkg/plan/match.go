package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// How a manifest entry found its remote object.
type how int

const (
	notFound   how = iota
	byState        // the state owns an object of this name
	byStateOld     // the state owns an object under one of its previous names
	byName         // a remote object of this name (owned or not)
	byNameOld      // a remote object under one of its previous names
)

// match is the remote object a manifest entry corresponds to.
type match struct {
	remote int // index into the remote objects; -1 when there is none
	how    how
	owned  bool   // the state owns the remote object
	from   string // the previous name matched, for byStateOld and byNameOld
	// drifted is set when the state owns an object of this name that is
	// gone from the remote (deleted outside psync).
	drifted bool
}

// object is what matching needs of a remote object or a state entry.
type object struct{ id, name string }

// desiredEntry is what matching needs of a manifest entry.
type desiredEntry struct {
	name     string
	previous []string
}

// matcher pairs manifest entries with remote objects of one kind.
type matcher struct {
	kind    Kind
	remotes []object
	byID    map[string]int // remote id -> index
	// byName maps a remote name to its object's index; names held by
	// several objects are in dups instead (indexes sorted by id), so the
	// common case allocates no slice per name.
	byName  map[string]int
	dups    map[string][]int
	owned   map[string]bool // ids the state owns (not deposed)
	deposed map[string]bool // ids the state holds as deposed
	// ownedByName maps a name to the id the state owns under it.
	ownedByName map[string]string
	claimed     []bool
}

func newMatcher(kind Kind, remotes []object, owned []object, deposed []string) *matcher {
	m := &matcher{
		kind:        kind,
		remotes:     remotes,
		byID:        make(map[string]int, len(remotes)),
		byName:      make(map[string]int, len(remotes)),
		dups:        map[string][]int{},
		owned:       make(map[string]bool, len(owned)),
		deposed:     make(map[string]bool, len(deposed)),
		ownedByName: make(map[string]string, len(owned)),
		claimed:     make([]bool, len(remotes)),
	}
	for i, r := range remotes {
		if _, dup := m.byID[r.id]; dup {
			// The client de-duplicates by id; should a copy slip through,
			// it is the same object and must not be planned twice.
			m.claimed[i] = true
			continue
		}
		m.byID[r.id] = i
		if d, ok := m.dups[r.name]; ok {
			m.dups[r.name] = append(d, i)
		} else if j, ok := m.byName[r.name]; ok {
			m.dups[r.name] = []int{j, i}
			delete(m.byName, r.name)
		} else {
			m.byName[r.name] = i
		}
	}
	for _, idx := range m.dups {
		slices.SortFunc(idx, func(a, b int) int { return strings.Compare(remotes[a].id, remotes[b].id) })
	}
	for _, o := range owned {
		m.owned[o.id] = true
		m.ownedByName[o.name] = o.id
	}
	for _, id := range deposed {
		m.deposed[id] = true
	}
	return m
}

// claimOwned returns the remote index of the object the state owns under
// name, if it still exists and is not claimed yet.
func (m *matcher) claimOwned(name string) (int, bool) {
	id, ok := m.ownedByName[name]
	if !ok {
		return -1, false
	}
	i, ok := m.byID[id]
	if !ok || m.claimed[i] {
		return -1, false
	}
	m.claimed[i] = true
	return i, true
}

// claimByName returns the remote object called name that is not claimed:
// an owned one if there is one, else the only unowned one. Several unowned
// ones and no owned one is an error that names them.
func (m *matcher) claimByName(name, manifestName string) (int, bool, error) {
	var free []int
	candidates := m.dups[name]
	if i, ok := m.byName[name]; ok {
		candidates = []int{i}
	}
	for _, i := range candidates {
		if m.claimed[i] || m.deposed[m.remotes[i].id] {
			continue
		}
		if m.owned[m.remotes[i].id] {
			m.claimed[i] = true
			return i, true, nil
		}
		free = append(free, i)
	}
	switch len(free) {
	case 0:
		return -1, false, nil
	case 1:
		m.claimed[free[0]] = true
		return free[0], true, nil
	}
	ids := make([]string, len(free))
	for j, i := range free {
		ids[j] = m.remotes[i].id
	}
	what := fmt.Sprintf("%s %q", m.kind, manifestName)
	if name != manifestName {
		what += fmt.Sprintf(" (previous name %q)", name)
	}
	return -1, false, fmt.Errorf("%s: %d remote %ss are called %q and the state owns none of them (ids %s): "+
		"delete or rename all but the one psync should manage, or stop managing the name and add it to ignore.%ss",
		what, len(free), m.kind, name, strings.Join(ids, ", "), m.kind)
}

// matchAll pairs every manifest entry with its remote object, in phases so
// that an owned object is never taken by a weaker claim: owned by name,
// owned by a previous name, remote by name (adoption), remote by a
// previous name.
func (m *matcher) matchAll(desired []desiredEntry) ([]match, []error) {
	out := make([]match, len(desired))
	for i := range out {
		out[i].remote = -1
	}
	// Work in name order so that the result does not depend on the
	// manifest's order.
	order := make([]int, len(desired))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(desired[a].name, desired[b].name) })

	// A name that another entry lists as a previous name goes to that
	// entry first (the rename), and this one only gets what is left: the
	// manifest loader forbids this, but a plan must still be right.
	renamedAway := map[string]bool{}
	for _, d := range desired {
		for _, old := range d.previous {
			renamedAway[old] = true
		}
	}
	for _, i := range order {
		d := desired[i]
		if renamedAway[d.name] {
			continue
		}
		if r, ok := m.claimOwned(d.name); ok {
			out[i] = match{remote: r, how: byState, owned: true}
		} else if _, owned := m.ownedByName[d.name]; owned {
			out[i].drifted = true
		}
	}
	for _, i := range order {
		if out[i].how != notFound {
			continue
		}
		for _, old := range desired[i].previous {
			if r, ok := m.claimOwned(old); ok {
				out[i] = match{remote: r, how: byStateOld, owned: true, from: old, drifted: out[i].drifted}
				break
			}
		}
	}
	for _, i := range order {
		if d := desired[i]; out[i].how == notFound && renamedAway[d.name] {
			if r, ok := m.claimOwned(d.name); ok {
				out[i] = match{remote: r, how: byState, owned: true}
			}
		}
	}
	var errs []error
	for _, i := range order {
		if out[i].how != notFound {
			continue
		}
		r, ok, err := m.claimByName(desired[i].name, desired[i].name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			out[i] = match{remote: r, how: byName, owned: m.owned[m.remotes[r].id], drifted: out[i].drifted}
		}
	}
	for _, i := range order {
		if out[i].how != notFound {
			continue
		}
		for _, old := range desired[i].previous {
			r, ok, err := m.claimByName(old, desired[i].name)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if ok {
				out[i] = match{remote: r, how: byNameOld, owned: m.owned[m.remotes[r].id], from: old, drifted: out[i].drifted}
				break
			}
		}
	}
	return out, errs
}

// unclaimed returns the remote objects called name that no manifest entry
// claimed, once matching is done.
func (m *matcher) unclaimed(name string) []int {
	candidates := m.dups[name]
	if i, ok := m.byName[name]; ok {
		candidates = []int{i}
	}
	var out []int
	for _, i := range candidates {
		if !m.claimed[i] {
			out = append(out, i)
		}
	}
	return out
}

// renameTargetTaken reports the renames (previousNames) onto a name that a
// remote object psync does not own already holds, and that the plan keeps
// (it is deleted only with prune): applying it would leave two objects of
// the name. An owned holder is deleted by the plan, which frees the name.
func (p *planner) renameTargetTaken(mt *matcher, kind Kind, desired []desiredEntry, matched []match, owned func(id string) bool) {
	for i, d := range desired {
		name := d.name
		r := matched[i].remote
		if r < 0 || mt.remotes[r].name == name || p.prune {
			continue
		}
		for _, j := range mt.unclaimed(name) {
			holder := mt.remotes[j]
			if owned(holder.id) {
				continue
			}
			p.errs = append(p.errs, fmt.Errorf("%s %q: renaming %q (id %s) would make two %ss of that name: %s %s, which psync does not own, is already called %q. "+
				"Delete or rename that one, or adopt it instead of renaming (drop previousNames; the old one is then deleted), or plan with --prune to delete it",
				kind, name, mt.remotes[r].name, mt.remotes[r].id, kind, kind, holder.id, name))
		}
	}
}
