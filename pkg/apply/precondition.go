package apply

import (
	"fmt"
	"strings"

	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// StaleError says that a saved plan no longer matches what it was planned
// against, naming everything that moved.
type StaleError struct {
	// Objects names each moved object and how, the state first and then in
	// plan order: `script "x": changed since the plan (fingerprint a → b)`,
	// `state changed since the plan (serial 4 → 6)`.
	Objects []string
}

func (e *StaleError) Error() string {
	if len(e.Objects) == 1 {
		return e.Objects[0]
	}
	return fmt.Sprintf("%d objects changed since the plan:\n  %s", len(e.Objects), strings.Join(e.Objects, "\n  "))
}

// CheckPreconditions checks a saved plan against a fresh snapshot of the
// remote and the current state before anything is applied. It returns nil
// when nothing the plan relied on moved, and otherwise a *StaleError naming
// every object that did, all at once:
//
//   - the state must have the plan's lineage and serial;
//   - a change planned against an existing object (Precondition.Exists)
//     needs that object, by id, with the same Fingerprint;
//   - a create needs its name still free, or held by an object the plan
//     renames or deletes first;
//   - an assign or unassign of an existing script needs the script, by
//     the name the change shows (or one the plan renames it to);
//   - a forget of an object deleted outside psync needs it still gone (a
//     forget of an ignored object needs nothing).
//
// Objects psync deleted that the API still shows are not there, as for
// the planner.
func CheckPreconditions(p *plan.Plan, snap *remote.Snapshot, st *state.State) error {
	if st != nil {
		snap = plan.Visible(snap, st)
	}
	var stale []string
	var lineage string
	var serial int64
	if st != nil {
		lineage, serial = st.Lineage, st.Serial
	}
	switch {
	case p.StateLineage != lineage:
		stale = append(stale, fmt.Sprintf("state replaced since the plan (lineage %s → %s)", orNone(p.StateLineage), orNone(lineage)))
	case p.StateSerial != serial:
		stale = append(stale, fmt.Sprintf("state changed since the plan (serial %d → %d)", p.StateSerial, serial))
	}

	scripts := map[string]remote.Script{}
	scriptNames := map[string][]string{}
	for _, s := range snap.Scripts {
		scripts[s.ID] = s
		scriptNames[s.Name] = append(scriptNames[s.Name], s.ID)
	}
	templates := map[string]remote.Template{}
	templateNames := map[string][]string{}
	for _, t := range snap.Templates {
		templates[t.ID] = t
		templateNames[t.Name] = append(templateNames[t.Name], t.ID)
	}
	// One line per moved object, however many changes touch it.
	seen := map[string]bool{}
	add := func(object, format string, args ...any) {
		if seen[object] {
			return
		}
		seen[object] = true
		stale = append(stale, object+": "+fmt.Sprintf(format, args...))
	}

	// Objects the plan itself acts on may hold a name a create wants: a
	// rename frees it first (the create depends on it).
	actedOn := map[string]bool{}
	// The name each script the plan changes has after it: an assignment
	// names its script so.
	scriptNameAfter := map[string]string{}
	for _, c := range p.Changes {
		if c.Kind != plan.KindAssignment && c.Precondition.Exists && c.ID != "" {
			actedOn[string(c.Kind)+"/"+c.ID] = true
			if c.Kind == plan.KindScript {
				scriptNameAfter[c.ID] = c.Name
			}
		}
	}
	for _, c := range p.Changes {
		pre := c.Precondition
		switch c.Kind {
		case plan.KindScript, plan.KindTemplate:
			object := fmt.Sprintf("%s %q", c.Kind, c.Name)
			if c.Action == plan.Forget {
				if pre.Exists {
					continue // an ignored object: forgotten whether or not it exists
				}
				// Planned against the object being gone.
				_, isScript := scripts[c.ID]
				_, isTemplate := templates[c.ID]
				if c.Kind == plan.KindScript && isScript || c.Kind == plan.KindTemplate && isTemplate {
					add(object, "exists again since the plan (id %s)", c.ID)
				}
				continue
			}
			if !pre.Exists {
				names := scriptNames
				if c.Kind == plan.KindTemplate {
					names = templateNames
				}
				for _, id := range names[c.Name] {
					if !actedOn[string(c.Kind)+"/"+id] {
						add(object, "created since the plan (id %s)", id)
					}
				}
				continue
			}
			var fp string
			var found bool
			if c.Kind == plan.KindScript {
				var s remote.Script
				s, found = scripts[c.ID]
				fp = s.Fingerprint()
			} else {
				var t remote.Template
				t, found = templates[c.ID]
				fp = t.Fingerprint()
			}
			switch {
			case !found:
				add(object, "deleted since the plan (id %s)", c.ID)
			case pre.Fingerprint != "" && fp != pre.Fingerprint:
				add(object, "changed since the plan (fingerprint %s → %s)", pre.Fingerprint, fp)
			}
		case plan.KindAssignment:
			if c.ID == "" {
				continue // its script is created by this plan
			}
			object := fmt.Sprintf("script %q", c.Name)
			s, found := scripts[c.ID]
			switch {
			case !found:
				add(object, "deleted since the plan (id %s)", c.ID)
			case s.Name != c.Name && scriptNameAfter[c.ID] != c.Name:
				// Shown as an assignment of c.Name, applied to the id:
				// a plan edited by hand, or one that is no longer true.
				add(object, "the plan's id %s is of script %q", c.ID, s.Name)
			case pre.Fingerprint != "" && s.Fingerprint() != pre.Fingerprint:
				add(object, "changed since the plan (fingerprint %s → %s)", pre.Fingerprint, s.Fingerprint())
			}
		}
	}
	if len(stale) > 0 {
		return &StaleError{Objects: stale}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
