package manifest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Diagnostic is one problem found in a manifest, at the position it was
// written.
type Diagnostic struct {
	Pos     Position
	Message string
	// Excerpt, for a YAML syntax error, is the offending line quoted
	// (short and sanitised) with a caret under the column, as lines
	// starting with "  | ". It is empty for every other problem.
	Excerpt string
}

// String is "file:line:column: message", or "file:line: message" when
// the column is unknown (YAML syntax errors, shell syntax errors).
// Excerpt, when there is one, follows on lines of its own.
func (d Diagnostic) String() string {
	s := d.Pos.String() + ": " + d.Message
	if d.Pos.Line != 0 && d.Pos.Column == 0 {
		s = fmt.Sprintf("%s:%d: %s", d.Pos.File, d.Pos.Line, d.Message)
	}
	if d.Excerpt != "" {
		s += "\n" + d.Excerpt
	}
	return s
}

// Errors is every problem found while loading a manifest. Load returns it
// (as its error) whenever the manifest is invalid, so callers can show all
// problems at once instead of one per run.
type Errors struct {
	// Diagnostics are sorted by file, line and column.
	Diagnostics []Diagnostic
}

// Error prints one "file:line:column: message" per line.
func (e *Errors) Error() string {
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// SortDiagnostics sorts ds by file, line, column and then message, so
// output is deterministic whatever order checks ran in.
func SortDiagnostics(ds []Diagnostic) {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

// diagnostics collects problems while loading.
type diagnostics struct {
	list []Diagnostic
}

func (d *diagnostics) add(pos Position, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Pos: pos, Message: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was found, else a sorted *Errors.
func (d *diagnostics) err() error {
	if len(d.list) == 0 {
		return nil
	}
	list := slices.Clone(d.list)
	SortDiagnostics(list)
	list = slices.Compact(list)
	return &Errors{Diagnostics: list}
}
