package render

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/psync-dev/psync/pkg/plan"
)

// selectionLimit caps the machines listed for one selector, and the
// scripts listed, in text and Markdown: a fleet of thousands stays
// readable (JSON lists them all).
const selectionLimit = 20

// shownSelections are the plan's selections that have selectors (a
// selection without any only tells the applier to forget a record).
func shownSelections(p *plan.Plan) []plan.ScriptSelection {
	var out []plan.ScriptSelection
	for _, s := range p.Selections {
		if len(s.Selectors) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// selectedMachines names up to selectionLimit machines as "id (name)",
// through esc, or says that none matched.
func selectedMachines(ms []plan.SelectedMachine, esc func(string) string) string {
	if len(ms) == 0 {
		return "no machine"
	}
	var parts []string
	for _, m := range ms[:min(len(ms), selectionLimit)] {
		s := esc(m.ID)
		if m.Name != "" {
			s += " (" + esc(m.Name) + ")"
		}
		parts = append(parts, s)
	}
	if n := len(ms) - selectionLimit; n > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", n))
	}
	return strings.Join(parts, ", ")
}

// selections lists what each selector matched, and the plan's warnings
// and notes.
func (v textView) selections(b *bytes.Buffer, p *plan.Plan) {
	shown := shownSelections(p)
	if len(shown) > 0 {
		fmt.Fprintf(b, "\n%s\n", v.st.bold("Selectors (resolved against the team's machines):"))
		for i, s := range shown {
			if i == selectionLimit {
				fmt.Fprintf(b, "  and %d more scripts\n", len(shown)-selectionLimit)
				break
			}
			fmt.Fprintf(b, "  script %s\n", quote(s.Script))
			for _, m := range s.Selectors {
				fmt.Fprintf(b, "    select %s: %s\n", sanitize(m.Selector), selectedMachines(m.Machines, sanitize))
			}
		}
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(b, "\n%s %s\n", v.st.yellow("Warning:"), sanitize(w))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(b, "\nNote: %s\n", sanitize(n))
	}
}

// mdSelections is the Markdown of the same.
func mdSelections(p *plan.Plan) string {
	var b strings.Builder
	shown := shownSelections(p)
	if len(shown) > 0 {
		b.WriteString("**Selectors** (resolved against the team's machines):\n\n")
		// The comment's head is never cut to fit: at most selectionLimit
		// lines of at most selectionLimit machines keep it short.
		lines, total := 0, 0
		for _, s := range shown {
			total += len(s.Selectors)
		}
		for _, s := range shown {
			for _, m := range s.Selectors {
				if lines == selectionLimit {
					break
				}
				fmt.Fprintf(&b, "- script %s, select %s: %s\n", mdCode(s.Script), mdCode(m.Selector), selectedMachines(m.Machines, md))
				lines++
			}
		}
		if total > lines {
			fmt.Fprintf(&b, "- and %d more selectors (psync plan -o json lists them all)\n", total-lines)
		}
		b.WriteString("\n")
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "⚠️ **Warning:** %s\n\n", md(w))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "**Note:** %s\n\n", md(n))
	}
	return b.String()
}
