package render

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

// textView is for people, Terraform-like.
type textView struct {
	st    styler
	brief bool
}

// textMachineLimit caps the machines listed on one line of a delete.
const textMachineLimit = 10

func (v textView) plan(w io.Writer, p *plan.Plan) error {
	var b bytes.Buffer
	st := v.st
	target := sanitize(p.APIURL)
	if p.Team != "" {
		target += " (team " + quote(p.Team) + ")"
	}
	if p.Empty() {
		fmt.Fprintf(&b, "%s The team matches the manifest.\n", st.bold("No changes."))
	} else {
		fmt.Fprintf(&b, "psync will perform the following actions on %s:\n", target)
		for _, it := range items(p) {
			b.WriteByte('\n')
			v.item(&b, it)
		}
	}
	v.refreshed(&b, p)
	v.unmanaged(&b, p)
	v.selections(&b, p)
	if !p.Empty() {
		fmt.Fprintf(&b, "\n%s %s\n", st.bold("Plan:"), summaryLine(p.Summary()))
	}
	v.findings(&b, p)
	_, err := w.Write(b.Bytes())
	return err
}

// header is "  + script "name"", the symbol right-aligned in three columns
// so that names line up whatever the action.
func (v textView) header(c plan.Change) string {
	pad := strings.Repeat(" ", max(0, 3-len(Symbol(c.Action))))
	h := pad + v.st.symbol(c.Action) + " " + v.st.bold(fmt.Sprintf("%s %s", c.Kind, quote(c.Name)))
	if c.ID != "" {
		h += " (id " + quote(c.ID) + ")"
	}
	return h
}

const indent = "      "

func (v textView) item(b *bytes.Buffer, it item) {
	st := v.st
	c := it.first()
	if it.group() {
		pad := strings.Repeat(" ", max(0, 3-len(Symbol(c.Action))))
		what := "assign to"
		if c.Action == plan.Unassign {
			what = "unassign from"
		}
		fmt.Fprintf(b, "%s%s %s: %s %s\n", pad, st.symbol(c.Action), st.bold("script "+quote(c.Name)), what, plural(len(it.changes), "machine"))
		for _, r := range it.reasons() {
			fmt.Fprintf(b, "%s# %s\n", indent, sanitize(r))
		}
		for _, m := range it.machines() {
			fmt.Fprintf(b, "%s%s %s\n", indent, st.symbol(c.Action), quote(m))
		}
		return
	}
	fmt.Fprintln(b, v.header(c))
	for _, r := range c.Reasons {
		fmt.Fprintf(b, "%s# %s\n", indent, sanitize(r))
	}
	for _, a := range attrChanges(c) {
		switch {
		case a.same:
			fmt.Fprintf(b, "%s  %s: %s\n", indent, a.name, a.text(a.new))
		case a.old == nil:
			fmt.Fprintf(b, "%s%s %s: %s\n", indent, st.green("+"), a.name, a.text(a.new))
		default:
			fmt.Fprintf(b, "%s%s %s: %s → %s\n", indent, st.yellow("~"), a.name, a.text(a.old), a.text(a.new))
		}
	}
	v.body(b, c)
	if c.Action == plan.Delete || c.Action == plan.Replace {
		if c.Protected {
			fmt.Fprintf(b, "%s%s\n", indent, st.alarm("! protected by preventDestroy"))
		}
		if n := len(c.AffectedMachines); n > 0 {
			fmt.Fprintf(b, "%s%s\n", indent, st.yellow(fmt.Sprintf("! stops configuring %s: %s", plural(n, "machine"), sanitize(listMachines(c.AffectedMachines, textMachineLimit)))))
		}
		if c.Kind == plan.KindTemplate {
			fmt.Fprintf(b, "%s# %s\n", indent, templateDestroyNote(c))
		}
	}
}

// templateDestroyNote says what deleting (or replacing) a template really
// does: it is an image, so no machine is touched, neither its source nor
// those already made from it.
func templateDestroyNote(c plan.Change) string {
	if c.Action == plan.Replace {
		return "a new template is made from the new source machine, then the old one is deleted; machines already created from the old one are not touched"
	}
	return "machines already created from this template are not touched"
}

func (v textView) body(b *bytes.Buffer, c plan.Change) {
	st := v.st
	bv := bodyOf(c)
	sym := st.yellow("~")
	if c.Before == nil {
		sym = st.green("+")
	}
	switch bv.kind {
	case bodySensitive:
		switch {
		case c.Before == nil:
			fmt.Fprintf(b, "%s%s body: (sensitive)\n", indent, sym)
		case bv.changed:
			fmt.Fprintf(b, "%s%s body: (sensitive body changed)\n", indent, sym)
		default:
			fmt.Fprintf(b, "%s%s body: (sensitive body, previous content unknown)\n", indent, sym)
		}
	case bodyUnknownOld:
		fmt.Fprintf(b, "%s%s body: (new body, previous content unknown; %s)\n", indent, sym, plural(bv.lines, "line"))
	case bodyDiff:
		if c.Before == nil {
			fmt.Fprintf(b, "%s%s body: %s\n", indent, sym, plural(bv.diff.added, "line"))
		} else {
			fmt.Fprintf(b, "%s%s body: %s\n", indent, sym, diffStat(bv.diff))
		}
		for _, h := range bv.diff.hunks {
			fmt.Fprintf(b, "%s  %s\n", indent, st.cyan(h.header()))
			for _, l := range h.lines {
				line := string(l.op) + sanitize(l.text)
				switch l.op {
				case '+':
					line = st.green(line)
				case '-':
					line = st.red(line)
				}
				fmt.Fprintf(b, "%s  %s\n", indent, line)
				if !l.eol {
					fmt.Fprintf(b, "%s  \\ No newline at end of file\n", indent)
				}
			}
		}
	}
}

func diffStat(u unified) string {
	return fmt.Sprintf("%s added, %s removed", plural(u.added, "line"), plural(u.removed, "line"))
}

// attr is one attribute of a change, old nil for one that appears, same
// for one a replace sets to the value it has. quoted is set for names and
// notes, which text shows quoted.
type attr struct {
	name     string
	old, new *string
	same     bool
	quoted   bool
}

// text is a value as the text view shows it.
func (a attr) text(v *string) string {
	if a.quoted {
		return quote(*v)
	}
	return *v
}

// attrChanges lists the readable attributes of a change: every one a
// create or a replace sets (a replace marks those that stay the same),
// and those that differ between Before and After otherwise. Bodies are the
// body view's business.
func attrChanges(c plan.Change) []attr {
	if c.After == nil || c.Kind == plan.KindAssignment {
		return nil
	}
	full := c.Before == nil || c.Action == plan.Replace
	var out []attr
	quoted := false
	add := func(name string, old, new *string) {
		// An attribute After leaves unset is one psync does not manage
		// (a note in the live dialect, which has none): not a change.
		if new == nil {
			return
		}
		if old != nil && *old == *new {
			if full {
				out = append(out, attr{name: name, new: new, same: true, quoted: quoted})
			}
			return
		}
		out = append(out, attr{name: name, old: old, new: new, quoted: quoted})
	}
	str := func(s string) *string { return &s }
	boolp := func(p *bool) *string {
		if p == nil {
			return nil
		}
		s := strconv.FormatBool(*p)
		return &s
	}
	flag := func(b bool) *string { return boolp(&b) }
	creating := c.Before == nil
	before := c.Before
	if creating {
		before = &plan.Attributes{}
	}
	after := c.After
	if !creating {
		quoted = true
		add("name", str(before.Name), str(after.Name))
		quoted = false
	}
	switch c.Kind {
	case plan.KindScript:
		add("runOnce", boolp(before.RunOnce), boolp(after.RunOnce))
		add("isEnabled", boolp(before.IsEnabled), boolp(after.IsEnabled))
		if creating {
			// On an update the reasons say it ("sensitive false → true"),
			// and the body line says what it means.
			add("sensitive", nil, flag(after.Sensitive))
		}
	case plan.KindTemplate:
		opt := func(s string) *string {
			if s == "" {
				return nil
			}
			return str(s)
		}
		quoted = true
		add("machineId", opt(before.MachineID), opt(after.MachineID))
		add("note", opt(before.Note), opt(after.Note))
		quoted = false
	}
	add("preventDestroy", flag(before.PreventDestroy), flag(after.PreventDestroy))
	if creating {
		for i := range out {
			out[i].old, out[i].same = nil, false
		}
	}
	return out
}

// refreshed lists every attribute of an owned object changed outside
// psync since the last apply (last applied → now) and what apply does
// about it, then says once that bodies cannot be read back.
func (v textView) refreshed(b *bytes.Buffer, p *plan.Plan) {
	if len(p.Drift) > 0 {
		fmt.Fprintf(b, "\n%s\n", v.st.bold("Changed outside psync since the last apply (last applied → now):"))
		for i, d := range p.Drift {
			if i == 0 || p.Drift[i-1].ID != d.ID || p.Drift[i-1].Kind != d.Kind {
				fmt.Fprintf(b, "  %s %s (id %s)\n", d.Kind, quote(d.Name), quote(d.ID))
			}
			fmt.Fprintf(b, "%s%s: %s → %s: %s\n", indent, d.Attribute, driftValue(d, d.LastApplied), driftValue(d, d.Remote), resolution(d.Resolution))
		}
	}
	if p.BodiesUnreadable {
		fmt.Fprintf(b, "\nNote: the API does not return script bodies, so a body edited outside psync is not detected.\n"+
			"To push a script's body again anyway: psync apply --replace script/NAME\n")
	}
}

// driftValue shows one side of a drifted attribute: names and notes
// quoted, flags as they are, machines as a list or "(none)".
func driftValue(d plan.Drift, v string) string {
	switch d.Attribute {
	case "runOnce", "isEnabled":
		return sanitize(v)
	case "machines":
		if v == "" {
			return "(none)"
		}
		return sanitize(v)
	}
	return quote(v)
}

// resolution is what apply does about a drifted attribute, in words.
func resolution(r plan.Resolution) string {
	switch r {
	case plan.ResolutionRevert:
		return "apply reverts the console change"
	case plan.ResolutionKeep:
		return "apply keeps it, the manifest agrees (and records it in the state)"
	case plan.ResolutionDelete:
		return "apply deletes the object (not in the manifest)"
	case plan.ResolutionForget:
		return "psync stops managing the object (ignored)"
	}
	return string(r)
}

func (v textView) unmanaged(b *bytes.Buffer, p *plan.Plan) {
	if len(p.Unmanaged) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s\n", v.st.bold("Unmanaged objects (not in the manifest, not owned by psync; deleted only with prune, and never when ignored):"))
	fate := unmanagedFates(p)
	for _, u := range p.Unmanaged {
		fmt.Fprintf(b, "  %s %s (id %s): %s\n", u.Kind, quote(u.Name), quote(u.ID), fate(u))
	}
}

func (v textView) findings(b *bytes.Buffer, p *plan.Plan) {
	st := v.st
	for _, f := range p.Findings {
		b.WriteByte('\n')
		if f.Overridden {
			fmt.Fprintf(b, "%s, allowed by %s\n", st.yellow("Warning: safety rule "+string(f.Rule)+" broken"), f.Override)
		} else {
			fmt.Fprintf(b, "%s\n", st.alarm("Error: unsafe plan: safety rule "+string(f.Rule)+" broken"))
		}
		fmt.Fprintf(b, "  %s\n", sanitize(f.Message))
		if len(f.Keys) > 0 {
			// A selector over a large fleet breaks a rule with thousands
			// of changes: name the first (JSON lists them all).
			changes := strings.Join(f.Keys[:min(len(f.Keys), selectionLimit)], ", ")
			if more := len(f.Keys) - selectionLimit; more > 0 {
				changes += fmt.Sprintf(" and %d more", more)
			}
			fmt.Fprintf(b, "  Changes: %s\n", sanitize(changes))
		}
		if !f.Overridden {
			fmt.Fprintf(b, "  To apply it anyway, pass %s.\n", st.bold(f.Override))
		}
	}
	if p.Refused() {
		fmt.Fprintf(b, "\n%s\n", st.alarm("This plan is refused: it breaks a safety rule and will not be applied without the override named above."))
	}
}

func (v textView) report(w io.Writer, r *apply.Report) error {
	var b bytes.Buffer
	if r.DryRun {
		v.schedule(&b, r)
	} else {
		if len(r.Results) == 0 {
			b.WriteString("Apply complete: nothing to do.\n")
			_, err := w.Write(b.Bytes())
			return err
		}
		listed := 0
		for _, res := range r.Results {
			if v.brief && res.Status == apply.Done || res.Status == apply.Pending {
				continue
			}
			b.WriteString(v.resultLine(res))
			b.WriteByte('\n')
			listed++
		}
		if listed > 0 || !v.brief {
			b.WriteByte('\n')
		}
		b.WriteString(v.reportSummary(r))
		b.WriteByte('\n')
		if r.Interrupted {
			b.WriteString("Run 'psync apply' again to finish: it plans what is left.\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// notStarted counts the changes never started, by action: what an
// interrupt left undone is said once ("40 not started (12 create, 28
// assign)"), not one line per change; the next apply plans it again, and
// the JSON report lists them all.
func notStarted(r *apply.Report) string {
	n := map[plan.Action]int{}
	var actions []plan.Action
	total := 0
	for _, res := range r.Results {
		if res.Status != apply.Pending {
			continue
		}
		a := res.Change.Action
		if n[a] == 0 {
			actions = append(actions, a)
		}
		n[a]++
		total++
	}
	if total == 0 {
		return ""
	}
	slices.Sort(actions)
	parts := make([]string, len(actions))
	for i, a := range actions {
		parts[i] = fmt.Sprintf("%d %s", n[a], a)
	}
	return fmt.Sprintf("%d not started (%s)", total, strings.Join(parts, ", "))
}

// statusWidth aligns the object after the status word.
const statusWidth = len("skipped")

// resultLine is one change's outcome; Progress prints the same lines.
func (v textView) resultLine(res apply.Result) string {
	st := v.st
	c := res.Change
	pad := strings.Repeat(" ", statusWidth-len(res.Status.String())+1)
	sym := strings.Repeat(" ", max(0, 3-len(Symbol(c.Action)))) + st.symbol(c.Action)
	line := fmt.Sprintf("  %s%s%s %s", st.status(res.Status), pad, sym, object(c))
	switch res.Status {
	case apply.Done:
		line += " (" + duration(res.Duration) + ")"
	case apply.Failed:
		line += " (" + duration(res.Duration) + "): " + st.red(sanitize(resultError(res)))
	case apply.Skipped:
		line += " (because " + sanitize(res.SkippedBecause) + " failed)"
	case apply.Pending:
		line += ": not started"
	}
	return line
}

// resultError is the failure's text, from Err or from a report read back
// from JSON.
func resultError(res apply.Result) string {
	if res.Err != nil {
		return res.Err.Error()
	}
	if res.Error != "" {
		return res.Error
	}
	return "failed"
}

func (v textView) reportSummary(r *apply.Report) string {
	st := v.st
	n := r.Counts()
	counts := fmt.Sprintf("%d done, %d failed, %d skipped", n[apply.Done], n[apply.Failed], n[apply.Skipped])
	if n[apply.Pending] > 0 {
		counts += ", " + notStarted(r)
	}
	switch {
	case r.Interrupted:
		return st.yellow("Apply interrupted:") + " " + counts + " in " + duration(r.Elapsed) + "."
	case r.OK():
		return st.green("Apply complete:") + " " + counts + " in " + duration(r.Elapsed) + "."
	}
	return st.alarm("Apply failed:") + " " + counts + " in " + duration(r.Elapsed) + "."
}

// schedule is a dry run: what would run, in the order the executor
// started it (Result.Step), with what each waits for. Start offsets are
// shown when the walk took measurable time (a dry run is usually instant).
func (v textView) schedule(b *bytes.Buffer, r *apply.Report) {
	st := v.st
	fmt.Fprintf(b, "%s nothing was changed. Schedule at parallelism %d:\n\n", st.bold("Dry run:"), r.Parallelism)
	res := scheduleOrder(r.Results)
	offsets := false
	for _, x := range res {
		offsets = offsets || x.Started >= time.Millisecond
	}
	width := len(fmt.Sprint(len(res)))
	for _, x := range res {
		c := x.Change
		step := strings.Repeat(" ", width+1)
		if x.Step > 0 {
			step = fmt.Sprintf("%*d.", width, x.Step)
		}
		line := "  " + step
		if offsets {
			line += fmt.Sprintf(" +%-7s", duration(x.Started))
		}
		line += " " + st.symbol(c.Action) + " would " + verb(c.Action) + " " + object(c)
		if n := len(c.DependsOn); n > 0 {
			line += " (after " + sanitize(listMachines(c.DependsOn, 3)) + ")"
		}
		switch x.Status {
		case apply.Failed:
			line += ": " + st.red("would fail: "+sanitize(resultError(x)))
		case apply.Skipped:
			line += ": would be skipped because " + sanitize(x.SkippedBecause) + " failed"
		case apply.Pending:
			line += ": not reached"
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, "\n%s %s would be applied.\n", st.bold("Dry run complete:"), plural(len(r.Results), "change"))
}

// scheduleOrder sorts results by the step they started at; those that
// never started come last, in plan order.
func scheduleOrder(results []apply.Result) []apply.Result {
	res := slices.Clone(results)
	slices.SortStableFunc(res, func(a, b apply.Result) int {
		switch {
		case a.Step == b.Step:
			return 0
		case a.Step == 0:
			return 1
		case b.Step == 0:
			return -1
		}
		return a.Step - b.Step
	})
	return res
}
