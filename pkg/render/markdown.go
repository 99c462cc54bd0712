package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

// Markers open every Markdown document, so that a CI workflow can find the
// comment it posted before and update it instead of adding another.
const (
	MarkdownPlanMarker   = "<!-- psync-plan -->"
	MarkdownReportMarker = "<!-- psync-apply -->"
)

// markdownView is a pull-request comment, bounded by max bytes.
type markdownView struct{ max int }

// mdMachineLimit caps the machines (and keys) listed in one table cell.
const mdMachineLimit = 10

// mdMinPartial is the least room worth filling with the start of a diff.
const mdMinPartial = 400

// mdEscaper turns into character references everything that GitHub's
// Markdown would read as markup in running text: HTML, table pipes, code
// spans, emphasis, links, strikethrough, math, @mentions and #references,
// and the autolinks GitHub makes of bare URLs ("https://", "www."), which a
// hostile name would otherwise turn into a link to anywhere.
var mdEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;",
	"|", "&#124;", "`", "&#96;", "*", "&#42;", "_", "&#95;",
	"[", "&#91;", "]", "&#93;", "~", "&#126;", `\`, "&#92;",
	"$", "&#36;", "@", "&#64;", "#", "&#35;", "://", "&#58;//",
	"www.", "www&#46;", "WWW.", "WWW&#46;", "Www.", "Www&#46;",
)

// md is user or remote text made inert for Markdown, on one line.
func md(s string) string { return mdEscaper.Replace(sanitize(s)) }

// mdCode shows text as code without Markdown code spans, whose backtick
// and pipe rules would need another kind of escaping.
func mdCode(s string) string { return "<code>" + md(s) + "</code>" }

// mdSymbol is the action's symbol as a code span; symbols are fixed
// strings without backticks.
func mdSymbol(a plan.Action) string { return "`" + Symbol(a) + "`" }

// fence is a code fence longer than any run of backticks in body, so that
// nothing in a script can close it early.
func fence(body string) string {
	longest, run := 0, 0
	for i := 0; i < len(body); i++ {
		if body[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// mdSection is a collapsible body section.
type mdSection struct {
	summary string // HTML inside <summary>
	lang    string // fence info string
	lines   []string
}

func (s mdSection) render(lines []string, note string) string {
	body := strings.Join(lines, "")
	f := fence(body)
	var b strings.Builder
	fmt.Fprintf(&b, "<details><summary>%s%s</summary>\n\n%s%s\n%s%s\n\n</details>\n\n", s.summary, note, f, s.lang, body, f)
	return b.String()
}

func (s mdSection) full() string { return s.render(s.lines, "") }

// partial is as much of the section as fits in room bytes, whole lines
// only, or "" when not even one line does.
func (s mdSection) partial(room int) (string, int) {
	const note = " (truncated)"
	tail := "… diff truncated here\n"
	overhead := len(s.render(nil, note)) + len(tail) + 3 // fence may grow
	n, used := 0, overhead
	for n < len(s.lines) && used+len(s.lines[n]) <= room {
		used += len(s.lines[n])
		n++
	}
	if n == 0 {
		return "", 0
	}
	lines := append(s.lines[:n:n], tail)
	out := s.render(lines, note)
	if len(out) > room {
		return "", 0
	}
	return out, n
}

func bodySection(c plan.Change) (mdSection, bool) {
	bv := bodyOf(c)
	// Inside <summary> Markdown is not parsed: HTML only.
	head := "<code>" + md(Symbol(c.Action)) + "</code> " + md(string(c.Kind)) + " " + mdCode(c.Name)
	switch bv.kind {
	case bodyDiff:
		var lines []string
		for _, h := range bv.diff.hunks {
			lines = append(lines, h.header()+"\n")
			for _, l := range h.lines {
				lines = append(lines, string(l.op)+sanitize(l.text)+"\n")
				if !l.eol {
					lines = append(lines, "\\ No newline at end of file\n")
				}
			}
		}
		stat := "body, " + diffStat(bv.diff)
		if c.Before == nil {
			stat = "body, " + plural(bv.diff.added, "line")
		}
		return mdSection{
			summary: head + ": " + md(stat),
			lang:    "diff",
			lines:   lines,
		}, true
	case bodyUnknownOld:
		var lines []string
		for _, l := range splitLines(*c.After.Body) {
			text, _ := strings.CutSuffix(l, "\n")
			lines = append(lines, sanitize(text)+"\n")
		}
		return mdSection{
			summary: fmt.Sprintf("%s: new body, previous content unknown (%s)", head, plural(bv.lines, "line")),
			lines:   lines,
		}, true
	}
	return mdSection{}, false
}

// row is one table row for an item.
func row(it item) string {
	c := it.first()
	name := mdCode(c.Name)
	if it.group() {
		name += " → " + mdMachines(it.machines())
	}
	// Only a sensitive body is described in the row: the others have a
	// section of their own. The planner's "body changed" says it already.
	hiddenBody, bodyDescribed := false, false
	if sensitive(c) {
		hiddenBody = bodyOf(c).kind == bodySensitive
	}
	reasons := make([]string, 0, len(it.reasons())+3)
	for _, r := range it.reasons() {
		if hiddenBody && r == "body changed" {
			r, bodyDescribed = "body changed (sensitive, not shown)", true
		}
		reasons = append(reasons, md(r))
	}
	if attrs := mdAttributes(c); attrs != "" {
		reasons = append(reasons, attrs)
	}
	if (c.Action == plan.Delete || c.Action == plan.Replace) && !it.group() {
		if c.Protected {
			reasons = append(reasons, "**protected** (preventDestroy)")
		}
		if n := len(c.AffectedMachines); n > 0 {
			reasons = append(reasons, fmt.Sprintf("stops configuring %s: %s", plural(n, "machine"), mdMachines(c.AffectedMachines)))
		}
		if c.Kind == plan.KindTemplate {
			reasons = append(reasons, md(templateDestroyNote(c)))
		}
	}
	if hiddenBody && !bodyDescribed {
		reasons = append(reasons, "sensitive body (not shown)")
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s |\n", mdSymbol(c.Action), c.Action, c.Kind, name, strings.Join(reasons, "<br>"))
}

// mdAttributes lists the attributes a create or a replace sets, as the
// text view does ("runOnce: true, isEnabled: false"). Updates need none:
// their reasons name every attribute that changes.
func mdAttributes(c plan.Change) string {
	if c.Before != nil && c.Action != plan.Replace {
		return ""
	}
	var parts []string
	for _, a := range attrChanges(c) {
		v := mdCode(*a.new)
		if a.old != nil {
			v = mdCode(*a.old) + " → " + v
		}
		if a.quoted && *a.new == "" {
			v = "(empty)"
		}
		parts = append(parts, md(a.name)+": "+v)
	}
	return strings.Join(parts, ", ")
}

// mdMachines shows up to mdMachineLimit machine ids, then how many more.
func mdMachines(ms []string) string {
	shown := make([]string, 0, min(len(ms), mdMachineLimit))
	for _, m := range ms[:min(len(ms), mdMachineLimit)] {
		shown = append(shown, mdCode(m))
	}
	out := strings.Join(shown, ", ")
	if more := len(ms) - mdMachineLimit; more > 0 {
		out += fmt.Sprintf(" and %d more", more)
	}
	return out
}

const mdTableHeader = "| | Action | Kind | Name | Reasons |\n|:-:|---|---|---|---|\n"

func (v markdownView) plan(w io.Writer, p *plan.Plan) error {
	_, err := io.WriteString(w, v.planDoc(p))
	return err
}

// mdRefreshed is the "Changed outside psync" table: every drifted
// attribute, last applied → now, and what apply does about it (at most
// mdRefreshLimit rows), then the note that bodies cannot be read back.
func mdRefreshed(p *plan.Plan) string {
	var b strings.Builder
	if len(p.Drift) > 0 {
		b.WriteString("#### Changed outside psync\n\nSince the last apply, on the team:\n\n| Object | Attribute | Last applied | Now | Apply |\n|---|---|---|---|---|\n")
		for _, d := range p.Drift[:min(len(p.Drift), mdRefreshLimit)] {
			fmt.Fprintf(&b, "| %s %s | %s | %s | %s | %s |\n", md(string(d.Kind)), mdCode(d.Name), md(d.Attribute),
				mdDriftValue(d, d.LastApplied), mdDriftValue(d, d.Remote), md(strings.TrimPrefix(resolution(d.Resolution), "apply ")))
		}
		b.WriteString("\n")
		if n := len(p.Drift) - mdRefreshLimit; n > 0 {
			fmt.Fprintf(&b, "… and %d more; run `psync plan` locally to see them all.\n\n", n)
		}
	}
	if p.BodiesUnreadable {
		b.WriteString("> [!NOTE]\n> The API does not return script bodies, so a body edited outside psync is not detected. `psync apply --replace script/NAME` pushes one again.\n\n")
	}
	return b.String()
}

// mdDriftValue is one side of a drifted attribute, or says it is empty.
func mdDriftValue(d plan.Drift, v string) string {
	switch {
	case v == "" && d.Attribute == "machines":
		return "(none)"
	case v == "":
		return "(empty)"
	}
	return mdCode(v)
}

// mdRefreshLimit caps the rows of the "Changed outside psync" table.
const mdRefreshLimit = 20

// planDoc lays the comment out as summary, findings, table, body diffs and
// unmanaged objects. When that is longer than v.max it leaves out the end
// of the body diffs first, then unmanaged objects, then table rows, and
// says so right under the summary.
func (v markdownView) planDoc(p *plan.Plan) string {
	var head strings.Builder
	head.WriteString(MarkdownPlanMarker + "\n### psync plan\n\n")
	if p.Empty() {
		head.WriteString("**No changes.** The team matches the manifest.\n\n")
	} else {
		fmt.Fprintf(&head, "**Plan:** %s\n\n", summaryLine(p.Summary()))
	}
	if p.APIURL != "" {
		fmt.Fprintf(&head, "Target: %s", mdCode(p.APIURL))
		if p.Team != "" {
			fmt.Fprintf(&head, " (team %s)", mdCode(p.Team))
		}
		head.WriteString("\n\n")
	}
	head.WriteString(mdFindings(p))
	head.WriteString(mdRefreshed(p))
	head.WriteString(mdSelections(p))

	var rows []string
	for _, it := range items(p) {
		rows = append(rows, row(it))
	}
	var sections []mdSection
	for _, c := range p.Changes {
		if s, ok := bodySection(c); ok {
			sections = append(sections, s)
		}
	}
	var unmanaged []string
	fate := unmanagedFates(p)
	for _, u := range p.Unmanaged {
		unmanaged = append(unmanaged, fmt.Sprintf("- %s %s (id %s): %s\n", md(string(u.Kind)), mdCode(u.Name), mdCode(u.ID), fate(u)))
	}

	l := mdLayout{head: head.String(), rows: rows, unmanaged: unmanaged}
	for _, s := range sections {
		l.diffs = append(l.diffs, s.full())
	}
	if doc := l.String(""); len(doc) <= v.max {
		return doc
	}
	return v.fit(l, sections)
}

// mdLayout is a plan comment's parts, some of which may be left out.
type mdLayout struct {
	head      string
	rows      []string
	diffs     []string // whole <details> sections, or a partial last one
	unmanaged []string
}

func (l mdLayout) String(note string) string {
	var b strings.Builder
	b.WriteString(l.head)
	b.WriteString(note)
	if len(l.rows) > 0 {
		b.WriteString(mdTableHeader)
		for _, r := range l.rows {
			b.WriteString(r)
		}
		b.WriteString("\n")
	}
	for _, d := range l.diffs {
		b.WriteString(d)
	}
	if len(l.unmanaged) > 0 {
		b.WriteString("#### Unmanaged objects\n\nNot in the manifest and not owned by psync; deleted only with prune, and never when ignored.\n\n")
		for _, u := range l.unmanaged {
			b.WriteString(u)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func sumLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// omission counts what a truncated comment leaves out.
type omission struct {
	diffs, diffsOf, rows, rowsOf, unmanaged, unmanagedOf, bytes int
	partial                                                     bool
}

func (o omission) note(limit int) string {
	var parts []string
	switch {
	case o.diffs > 0 && o.partial:
		parts = append(parts, fmt.Sprintf("%d of %d body diffs and the end of one more", o.diffs, o.diffsOf))
	case o.diffs > 0:
		parts = append(parts, fmt.Sprintf("%d of %d body diffs", o.diffs, o.diffsOf))
	case o.partial:
		parts = append(parts, "the end of one body diff")
	}
	if o.unmanaged > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d unmanaged objects", o.unmanaged, o.unmanagedOf))
	}
	if o.rows > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d table rows", o.rows, o.rowsOf))
	}
	return fmt.Sprintf("> [!WARNING]\n> This comment is truncated to stay under %d characters: it leaves out %s (%d bytes). Run `psync plan` locally to see the whole plan.\n\n",
		limit, strings.Join(parts, ", "), o.bytes)
}

// fit chooses what to keep so that the comment, note included, stays
// within v.max.
func (v markdownView) fit(full mdLayout, sections []mdSection) string {
	fullLen := len(full.String(""))
	// The note is longest when it counts everything: reserve that much.
	worst := omission{
		diffs: len(full.diffs), diffsOf: len(full.diffs), rows: len(full.rows), rowsOf: len(full.rows),
		unmanaged: len(full.unmanaged), unmanagedOf: len(full.unmanaged), bytes: fullLen, partial: true,
	}
	room := v.max - len(full.head) - len(worst.note(v.max))
	kept := mdLayout{head: full.head}
	tableLen := len(mdTableHeader) + sumLen(full.rows) + 1
	unmanagedHead := len(mdLayout{unmanaged: []string{""}}.String(""))
	unmanagedLen := unmanagedHead + sumLen(full.unmanaged)
	if len(full.unmanaged) == 0 {
		unmanagedLen = 0
	}
	partial := false
	switch {
	case tableLen+unmanagedLen <= room:
		// Every row and unmanaged object; as many diffs as fit.
		kept.rows, kept.unmanaged = full.rows, full.unmanaged
		room -= tableLen + unmanagedLen
		for i, d := range full.diffs {
			if len(d) <= room {
				kept.diffs = append(kept.diffs, d)
				room -= len(d)
				continue
			}
			if room >= mdMinPartial {
				if s, n := sections[i].partial(room); n > 0 {
					kept.diffs = append(kept.diffs, s)
					partial = true
				}
			}
			break
		}
	case tableLen <= room:
		// Every row, no diffs, as many unmanaged objects as fit.
		kept.rows = full.rows
		room -= tableLen + unmanagedHead
		for _, u := range full.unmanaged {
			if len(u) > room {
				break
			}
			kept.unmanaged = append(kept.unmanaged, u)
			room -= len(u)
		}
	default:
		// As many rows as fit.
		room -= len(mdTableHeader) + 1
		for _, r := range full.rows {
			if len(r) > room {
				break
			}
			kept.rows = append(kept.rows, r)
			room -= len(r)
		}
	}
	o := omission{
		// A partial diff is kept: it is in the "end of one" part.
		diffs: len(full.diffs) - len(kept.diffs), diffsOf: len(full.diffs),
		rows: len(full.rows) - len(kept.rows), rowsOf: len(full.rows),
		unmanaged: len(full.unmanaged) - len(kept.unmanaged), unmanagedOf: len(full.unmanaged),
		partial: partial,
	}
	o.bytes = fullLen - len(kept.String(""))
	doc := kept.String(o.note(v.max))
	if len(doc) > v.max {
		// Only when the summary and findings alone are too long.
		doc = cutLines(doc, v.max)
	}
	return doc
}

// cutLines cuts s at a line end so that it fits in n bytes with a note.
func cutLines(s string, n int) string {
	const note = "\n… cut to fit; run `psync plan` locally to see the whole plan.\n"
	limit := n - len(note)
	if limit <= 0 {
		return ""
	}
	i := strings.LastIndexByte(s[:limit], '\n')
	if i < 0 {
		return ""
	}
	return s[:i+1] + note
}

func mdFindings(p *plan.Plan) string {
	if len(p.Findings) == 0 {
		return ""
	}
	var b strings.Builder
	if p.Refused() {
		b.WriteString("⚠️ **This plan is refused:** it breaks a safety rule and will not be applied without the override named below.\n\n")
	}
	for _, f := range p.Findings {
		keys := make([]string, 0, min(len(f.Keys), mdMachineLimit))
		for _, k := range f.Keys[:min(len(f.Keys), mdMachineLimit)] {
			keys = append(keys, mdCode(k))
		}
		changes := strings.Join(keys, ", ")
		if more := len(f.Keys) - mdMachineLimit; more > 0 {
			changes += fmt.Sprintf(" and %d more", more)
		}
		if f.Overridden {
			fmt.Fprintf(&b, "- ⚠️ **%s** (allowed by %s): %s", md(string(f.Rule)), mdCode(f.Override), md(f.Message))
		} else {
			fmt.Fprintf(&b, "- 🛑 **%s**: %s", md(string(f.Rule)), md(f.Message))
		}
		if changes != "" {
			fmt.Fprintf(&b, " (changes: %s)", changes)
		}
		b.WriteString(".")
		if !f.Overridden {
			fmt.Fprintf(&b, " To apply it anyway, pass %s.", mdCode(f.Override))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}

func (v markdownView) report(w io.Writer, r *apply.Report) error {
	_, err := io.WriteString(w, v.reportDoc(r))
	return err
}

const mdReportHeader = "| Status | | Action | Object | Started | Duration | Details |\n|---|:-:|---|---|--:|--:|---|\n"

func (v markdownView) reportDoc(r *apply.Report) string {
	var head strings.Builder
	head.WriteString(MarkdownReportMarker + "\n")
	n := r.Counts()
	counts := fmt.Sprintf("%d done, %d failed, %d skipped", n[apply.Done], n[apply.Failed], n[apply.Skipped])
	if n[apply.Pending] > 0 {
		counts += fmt.Sprintf(", %d pending", n[apply.Pending])
	}
	switch {
	case r.DryRun:
		fmt.Fprintf(&head, "### psync apply (dry run)\n\nNothing was changed: %s would be applied in about %s at parallelism %d.\n\n",
			plural(len(r.Results), "change"), duration(r.Elapsed), r.Parallelism)
	case r.Interrupted:
		fmt.Fprintf(&head, "### psync apply\n\n⚠️ **Apply interrupted:** %s in %s.\n\n", counts, duration(r.Elapsed))
	case len(r.Results) == 0:
		head.WriteString("### psync apply\n\n**Apply complete:** nothing to do.\n\n")
	case r.OK():
		fmt.Fprintf(&head, "### psync apply\n\n**Apply complete:** %s in %s.\n\n", counts, duration(r.Elapsed))
	default:
		fmt.Fprintf(&head, "### psync apply\n\n⚠️ **Apply failed:** %s in %s.\n\n", counts, duration(r.Elapsed))
	}
	results := r.Results
	if r.DryRun {
		results = scheduleOrder(results)
	}
	var rows []string
	for _, res := range results {
		c := res.Change
		what := md(string(c.Kind)) + " " + mdCode(c.Name)
		if c.Kind == plan.KindAssignment {
			what = "script " + mdCode(c.Name) + " on " + mdCode(c.Machine)
		}
		detail := ""
		switch res.Status {
		case apply.Failed:
			detail = md(resultError(res))
		case apply.Skipped:
			detail = "because " + mdCode(res.SkippedBecause) + " failed"
		}
		status := res.Status.String()
		if r.DryRun && res.Status == apply.Done {
			status = "would " + verb(c.Action)
		}
		started, took := "+"+duration(res.Started), duration(res.Duration)
		if res.Status == apply.Pending || res.Status == apply.Skipped {
			started, took = "", "" // it never ran
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |\n",
			status, mdSymbol(c.Action), c.Action, what, started, took, detail))
	}
	doc := head.String()
	if len(rows) == 0 {
		return doc
	}
	room := v.max - len(doc) - len(mdReportHeader) - 200
	kept := 0
	var b strings.Builder
	for _, row := range rows {
		if len(row) > room {
			break
		}
		b.WriteString(row)
		room -= len(row)
		kept++
	}
	doc += mdReportHeader + b.String() + "\n"
	if kept < len(rows) {
		doc += fmt.Sprintf("> [!WARNING]\n> %d of %d rows are left out to stay under %d characters. Run `psync apply --output json` for the whole report.\n\n",
			len(rows)-kept, len(rows), v.max)
	}
	return doc
}
