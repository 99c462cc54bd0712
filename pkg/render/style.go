package render

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/psync-dev/psync/internal/textsafe"
	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

// ANSI SGR codes. They live only here and are added only by a styler that
// is on, so nothing else (the model, JSON, Markdown) can carry them.
const (
	sgrReset   = "\x1b[0m"
	sgrBold    = "\x1b[1m"
	sgrRed     = "\x1b[31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrCyan    = "\x1b[36m"
	sgrBoldRed = "\x1b[1;31m"
)

// styler colours text when on and is the identity otherwise.
type styler struct{ on bool }

func (s styler) paint(code, text string) string {
	if !s.on || text == "" {
		return text
	}
	return code + text + sgrReset
}

func (s styler) bold(t string) string   { return s.paint(sgrBold, t) }
func (s styler) red(t string) string    { return s.paint(sgrRed, t) }
func (s styler) green(t string) string  { return s.paint(sgrGreen, t) }
func (s styler) yellow(t string) string { return s.paint(sgrYellow, t) }
func (s styler) cyan(t string) string   { return s.paint(sgrCyan, t) }
func (s styler) alarm(t string) string  { return s.paint(sgrBoldRed, t) }

// symbol is Symbol(a), coloured by what the action does: green adds, yellow
// changes, red removes, cyan adopts; a replace is red then green.
func (s styler) symbol(a plan.Action) string {
	sym := Symbol(a)
	switch a {
	case plan.Create, plan.Assign:
		return s.green(sym)
	case plan.Update:
		return s.yellow(sym)
	case plan.Delete, plan.Unassign:
		return s.red(sym)
	case plan.Adopt:
		return s.cyan(sym)
	case plan.Replace:
		return s.red("-") + "/" + s.green("+")
	}
	return sym
}

func (s styler) status(st apply.Status) string {
	switch st {
	case apply.Done:
		return s.green(st.String())
	case apply.Failed:
		return s.alarm(st.String())
	case apply.Skipped:
		return s.yellow(st.String())
	}
	return st.String()
}

// sanitize makes remote- or user-supplied text safe for a terminal or a
// Markdown fence: control characters other than tab (an ESC that would
// start a colour or move the cursor, a CR of a CRLF body), the invisible
// and bidirectional characters of "Trojan Source" and invalid UTF-8 are
// written as Go escapes, so they are visible and inert.
func sanitize(s string) string { return textsafe.Line(s) }

// quote is a name as text shows it: quoted, with anything unprintable
// escaped.
func quote(s string) string { return strconv.Quote(s) }

// duration is short and stable: "0ms", "120ms", "2.3s", "2m5s".
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// object names what a change is about, for text: `script "a"`,
// `template "b"`, `script "a" on machine "m1"` for an assignment.
func object(c plan.Change) string {
	if c.Kind == plan.KindAssignment {
		return fmt.Sprintf("script %s on machine %s", quote(c.Name), quote(c.Machine))
	}
	return fmt.Sprintf("%s %s", c.Kind, quote(c.Name))
}

// verb is how a dry run words an action: "would create".
func verb(a plan.Action) string { return a.String() }

// item is one entry of a rendered plan: a change, or all the assigns (or
// unassigns) of one script, which read better together than one by one.
type item struct {
	changes []plan.Change // one, or the assignment group in plan order
}

func (it item) first() plan.Change { return it.changes[0] }

func (it item) group() bool { return it.first().Kind == plan.KindAssignment }

// machines lists the machines of an assignment group.
func (it item) machines() []string {
	m := make([]string, len(it.changes))
	for i, c := range it.changes {
		m[i] = c.Machine
	}
	return m
}

// reasons are the distinct reasons of the item's changes, in order.
func (it item) reasons() []string {
	if len(it.changes) == 1 {
		return it.changes[0].Reasons
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range it.changes {
		for _, r := range c.Reasons {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// items groups assignment changes by action and script, each group where
// its first change is; everything else stays one item in plan order.
func items(p *plan.Plan) []item {
	type gk struct {
		a    plan.Action
		name string
	}
	var out []item
	at := map[gk]int{}
	for _, c := range p.Changes {
		if c.Kind != plan.KindAssignment {
			out = append(out, item{changes: []plan.Change{c}})
			continue
		}
		k := gk{c.Action, c.Name}
		if i, ok := at[k]; ok {
			out[i].changes = append(out[i].changes, c)
			continue
		}
		at[k] = len(out)
		out = append(out, item{changes: []plan.Change{c}})
	}
	return out
}

// summaryLine is the one-line count every format shares.
func summaryLine(s plan.Summary) string {
	line := fmt.Sprintf("%d to create, %d to adopt, %d to update, %d to replace, %d to delete, %d to assign, %d to unassign",
		s.Create, s.Adopt, s.Update, s.Replace, s.Delete, s.Assign, s.Unassign)
	if s.Forget > 0 {
		// Rare (objects deleted outside psync): only shown when it happens.
		line += fmt.Sprintf(", %d to forget", s.Forget)
	}
	return line + "."
}

// unmanagedFates says what the plan does with each unmanaged object:
// "deleted by prune" when a delete of the same object is in the plan,
// "ignored" when the manifest ignores it, "kept" otherwise.
func unmanagedFates(p *plan.Plan) func(plan.Unmanaged) string {
	type key struct {
		kind     plan.Kind
		id, name string
	}
	deleted := map[key]bool{}
	for _, c := range p.Changes {
		if c.Action == plan.Delete {
			deleted[key{c.Kind, c.ID, ""}] = true
			if c.ID == "" {
				deleted[key{c.Kind, "", c.Name}] = true
			}
		}
	}
	return func(u plan.Unmanaged) string {
		switch {
		case u.Ignored:
			return "ignored"
		case deleted[key{u.Kind, u.ID, ""}] || deleted[key{u.Kind, "", u.Name}]:
			return "deleted by prune"
		}
		return "kept"
	}
}

// listMachines shows up to limit machines, then how many more.
func listMachines(ms []string, limit int) string {
	if limit <= 0 || len(ms) <= limit {
		return strings.Join(ms, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ms[:limit], ", "), len(ms)-limit)
}

// plural is "1 machine", "3 machines".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
