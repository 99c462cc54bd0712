package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/psync-dev/psync/pkg/manifest"
)

// parseTargets checks --target values: "script/NAME" or "template/NAME".
// It returns nil when there are none (no filtering).
func parseTargets(targets []string) (map[string]bool, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	set := make(map[string]bool, len(targets))
	for _, t := range targets {
		kind, name, ok := strings.Cut(t, "/")
		if !ok || name == "" || (Kind(kind) != KindScript && Kind(kind) != KindTemplate) {
			return nil, fmt.Errorf("target %q: want script/NAME or template/NAME", t)
		}
		set[t] = true
	}
	return set, nil
}

// filterTargets keeps the changes of the targeted objects, their
// assignments and everything they depend on, and the targeted unmanaged
// objects. A target that names nothing known is an error (a typo would
// otherwise plan nothing, silently).
func (p *planner) filterTargets(targets map[string]bool) ([]Change, []Unmanaged, error) {
	known := map[string]bool{}
	for _, s := range p.m.Scripts {
		known[key(KindScript, s.Name)] = true
	}
	for _, t := range p.m.Templates {
		known[key(KindTemplate, t.Name)] = true
	}
	for _, s := range p.snap.Scripts {
		known[key(KindScript, s.Name)] = true
	}
	for _, t := range p.snap.Templates {
		known[key(KindTemplate, t.Name)] = true
	}
	for _, s := range p.st.Scripts {
		known[key(KindScript, s.Name)] = true
	}
	for _, t := range p.st.Templates {
		known[key(KindTemplate, t.Name)] = true
	}
	var unknown []string
	for t := range targets {
		if !known[t] {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, nil, fmt.Errorf("target %s: no such object in the manifest, the remote or the state", strings.Join(unknown, ", "))
	}

	keep := make([]bool, len(p.changes))
	var stack []int
	for i, c := range p.changes {
		objKind := c.Kind
		if c.Kind == KindAssignment {
			objKind = KindScript
		}
		if targets[key(objKind, c.Name)] {
			keep[i] = true
			stack = append(stack, i)
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, k := range p.changes[i].DependsOn {
			if j, ok := p.keys[k]; ok && !keep[j] {
				keep[j] = true
				stack = append(stack, j)
			}
		}
	}
	var changes []Change
	for i, c := range p.changes {
		if keep[i] {
			changes = append(changes, c)
		}
	}
	var unmanaged []Unmanaged
	for _, u := range p.unmanaged {
		if targets[key(u.Kind, u.Name)] {
			unmanaged = append(unmanaged, u)
		}
	}
	return changes, unmanaged, nil
}

// parseReplace checks --replace values: "script/NAME" of a script the
// manifest declares (its body is what is pushed). It returns the names.
func parseReplace(replace []string, m *manifest.Manifest) (map[string]bool, error) {
	if len(replace) == 0 {
		return nil, nil
	}
	declared := make(map[string]bool, len(m.Scripts))
	for _, s := range m.Scripts {
		declared[s.Name] = true
	}
	names := make(map[string]bool, len(replace))
	var unknown []string
	for _, r := range replace {
		kind, name, ok := strings.Cut(r, "/")
		if !ok || name == "" || Kind(kind) != KindScript {
			return nil, fmt.Errorf("replace %q: want script/NAME (a template's source cannot be read again, and an assignment has no body)", r)
		}
		if !declared[name] {
			unknown = append(unknown, r)
		}
		names[name] = true
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("replace %s: no such script in the manifest", strings.Join(unknown, ", "))
	}
	return names, nil
}

// replaceInTargets refuses a --replace that --target leaves out: the plan
// would drop it and count it only among the changes left out, so the user
// would think the body pushed.
func replaceInTargets(replace []string, targets map[string]bool) error {
	if targets == nil {
		return nil
	}
	var out []string
	for _, r := range replace {
		if !targets[r] && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return fmt.Errorf("replace %s: not among the --target objects (add --target %s)", strings.Join(out, ", "), strings.Join(out, " --target "))
}
