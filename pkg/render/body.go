package render

import (
	"fmt"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/psync-dev/psync/pkg/plan"
)

// bodyKind is what a view may say about a script body change.
type bodyKind int

const (
	// bodyNone: no body, or the body does not change.
	bodyNone bodyKind = iota
	// bodyDiff: both sides known and not sensitive; a line diff is shown
	// (a create diffs against the empty body).
	bodyDiff
	// bodyUnknownOld: the new body is known but the old one is not (no
	// state, or the API never returns bodies): only its size is shown.
	bodyUnknownOld
	// bodySensitive: a sensitive body is written; its text is never shown.
	bodySensitive
)

// bodyView is the body part of a change, decided once for every format.
type bodyView struct {
	kind bodyKind
	// changed is false for a sensitive body whose old hash is unknown: it
	// is rewritten but may well be the same.
	changed bool
	diff    unified // for bodyDiff
	lines   int     // lines of the new body, for bodyUnknownOld
}

// sensitive is true when either side of a change is sensitive: a script
// that becomes sensitive had its secret in the old body too, and one that
// stops being sensitive had it until now.
func sensitive(c plan.Change) bool {
	return (c.Before != nil && c.Before.Sensitive) || (c.After != nil && c.After.Sensitive)
}

func bodyOf(c plan.Change) bodyView {
	if c.Kind != plan.KindScript || c.After == nil || c.Action == plan.Delete {
		return bodyView{}
	}
	before, after := c.Before, c.After
	if before != nil && before.Body != nil && after.Body != nil && *before.Body == *after.Body {
		return bodyView{}
	}
	if before != nil && (before.BodySHA256 != "" && before.BodySHA256 == after.BodySHA256 ||
		before.BodyHMAC != "" && before.BodyHMAC == after.BodyHMAC) {
		return bodyView{}
	}
	if after.Body == nil && after.BodySHA256 == "" && after.BodyHMAC == "" {
		return bodyView{} // the plan carries no body for this change
	}
	if sensitive(c) {
		known := before == nil || before.BodySHA256 != "" || before.BodyHMAC != "" || before.Body != nil
		return bodyView{kind: bodySensitive, changed: known}
	}
	if after.Body == nil {
		return bodyView{} // only a hash: nothing to show beyond the reasons
	}
	switch {
	case before == nil && (c.Action == plan.Create || c.Action == plan.Replace):
		return bodyView{kind: bodyDiff, changed: true, diff: diffLines("", *after.Body)}
	case before != nil && before.Body != nil:
		return bodyView{kind: bodyDiff, changed: true, diff: diffLines(*before.Body, *after.Body)}
	}
	return bodyView{kind: bodyUnknownOld, changed: true, lines: countLines(*after.Body)}
}

func countLines(s string) int {
	if s == "" {
		return 0
	}
	n := strings.Count(s, "\n")
	if !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}

// contextLines is how many unchanged lines surround each hunk, as diff -u.
const contextLines = 3

// unified is a unified diff: hunks of lines, each line starting with ' ',
// '-' or '+', without the "---"/"+++" file header (a plan has no files).
type unified struct {
	hunks          []hunk
	added, removed int
}

type hunk struct {
	oldStart, oldLines, newStart, newLines int
	lines                                  []diffLine
}

type diffLine struct {
	op   byte // ' ', '-' or '+'
	text string
	// eol is false for a last line without a newline.
	eol bool
}

func (h hunk) header() string {
	return fmt.Sprintf("@@ -%d,%d +%d,%d @@", h.oldStart, h.oldLines, h.newStart, h.newLines)
}

// String is the diff as diff -u prints it after the file header, with
// "\ No newline at end of file" where a side ends without one.
func (u unified) String() string {
	var b strings.Builder
	for _, h := range u.hunks {
		b.WriteString(h.header())
		b.WriteByte('\n')
		for _, l := range h.lines {
			b.WriteByte(l.op)
			b.WriteString(l.text)
			b.WriteByte('\n')
			if !l.eol {
				b.WriteString("\\ No newline at end of file\n")
			}
		}
	}
	return b.String()
}

// diffLines diffs two texts line by line (diffmatchpatch's line mode) and
// groups the result into hunks with contextLines of context.
func diffLines(old, new string) unified {
	dmp := diffmatchpatch.New()
	a, b, table := dmp.DiffLinesToRunes(old, new)
	diffs := dmp.DiffCharsToLines(dmp.DiffMainRunes(a, b, false), table)

	var ops []diffLine
	var u unified
	for _, d := range diffs {
		op := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			op = '-'
		case diffmatchpatch.DiffInsert:
			op = '+'
		}
		for _, line := range splitLines(d.Text) {
			text, eol := strings.CutSuffix(line, "\n")
			ops = append(ops, diffLine{op: op, text: text, eol: eol})
			switch op {
			case '-':
				u.removed++
			case '+':
				u.added++
			}
		}
	}
	u.hunks = hunks(ops)
	return u
}

// splitLines splits after each newline; a last line without one is kept.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// hunks groups changed lines that are at most 2*contextLines apart, each
// group with up to contextLines of unchanged lines on both sides.
func hunks(ops []diffLine) []hunk {
	var out []hunk
	// oldAt[i] and newAt[i] count the old and new lines before ops[i].
	oldAt := make([]int, len(ops)+1)
	newAt := make([]int, len(ops)+1)
	for i, l := range ops {
		oldAt[i+1], newAt[i+1] = oldAt[i], newAt[i]
		if l.op != '+' {
			oldAt[i+1]++
		}
		if l.op != '-' {
			newAt[i+1]++
		}
	}
	for i := 0; i < len(ops); {
		if ops[i].op == ' ' {
			i++
			continue
		}
		start := max(0, i-contextLines)
		end := i // one past the last changed line of the hunk
		for j := i; j < len(ops); j++ {
			if ops[j].op != ' ' {
				end = j + 1
				continue
			}
			if j-end >= 2*contextLines {
				break
			}
		}
		stop := min(len(ops), end+contextLines)
		h := hunk{
			oldStart: oldAt[start] + 1, oldLines: oldAt[stop] - oldAt[start],
			newStart: newAt[start] + 1, newLines: newAt[stop] - newAt[start],
			lines: ops[start:stop],
		}
		// diff -u numbers an empty range by the line before it.
		if h.oldLines == 0 {
			h.oldStart--
		}
		if h.newLines == 0 {
			h.newStart--
		}
		out = append(out, h)
		i = stop
	}
	return out
}
