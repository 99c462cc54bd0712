package render

import (
	"fmt"
	"io"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

// Format names an output format.
type Format string

// The output formats. Reports (apply) come in text, JSON and Markdown too.
const (
	Text     Format = "text"
	JSON     Format = "json"
	Markdown Format = "markdown"
)

// DefaultMaxMarkdownBytes keeps a Markdown plan under GitHub's limit of
// 65,536 characters for a pull-request comment, with room to spare for
// whatever a CI workflow wraps around it.
const DefaultMaxMarkdownBytes = 60000

// ParseFormat reads a --output value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Text, JSON, Markdown:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q (want text, json or markdown)", s)
}

// Options tune the views. The zero value is plain text without colour and
// the default Markdown limit.
type Options struct {
	// Color adds ANSI colours to the text format; JSON and Markdown never
	// have any. Decide it with UseColor.
	Color bool
	// MaxMarkdownBytes bounds the size of a Markdown plan or report; 0 means
	// DefaultMaxMarkdownBytes.
	MaxMarkdownBytes int
	// Brief, for a text report, leaves out the changes that were done: a
	// Progress has already shown each of them as it completed.
	Brief bool
}

func (o Options) maxMarkdown() int {
	if o.MaxMarkdownBytes <= 0 {
		return DefaultMaxMarkdownBytes
	}
	return o.MaxMarkdownBytes
}

// UseColor decides whether text output is coloured: only on a terminal,
// never with --no-color, and never when NO_COLOR is present and not empty
// (https://no-color.org: "when present and not an empty string (regardless
// of its value), prevents the addition of ANSI color"). env is os.LookupEnv
// in production.
func UseColor(isTerminal, noColorFlag bool, env func(string) (string, bool)) bool {
	if !isTerminal || noColorFlag {
		return false
	}
	if env != nil {
		if v, ok := env("NO_COLOR"); ok && v != "" {
			return false
		}
	}
	return true
}

// Symbol is the one place an action becomes a symbol, Terraform's where
// Terraform has one: "+" create, "~" update, "-/+" replace, "-" delete,
// "<=" adopt (taking over an existing object, like terraform import),
// "+" / "-" for assign / unassign, and "x" forget (an object deleted outside
// psync, or now ignored, leaves the state).
func Symbol(a plan.Action) string {
	switch a {
	case plan.Create, plan.Assign:
		return "+"
	case plan.Adopt:
		return "<="
	case plan.Update:
		return "~"
	case plan.Replace:
		return "-/+"
	case plan.Delete, plan.Unassign:
		return "-"
	case plan.Forget:
		// Not "-": nothing is destroyed, the state only lets go.
		return "x"
	}
	return "?"
}

// view is one output format. Each format implements both documents, so
// that adding a format is adding one type.
type view interface {
	plan(w io.Writer, p *plan.Plan) error
	report(w io.Writer, r *apply.Report) error
}

func newView(f Format, o Options) (view, error) {
	switch f {
	case Text:
		return textView{st: styler{on: o.Color}, brief: o.Brief}, nil
	case JSON:
		return jsonView{}, nil
	case Markdown:
		return markdownView{max: o.maxMarkdown()}, nil
	}
	return nil, fmt.Errorf("unknown output format %q (want text, json or markdown)", string(f))
}

// Plan writes p in format f. It only shows what the plan says: an unsafe
// plan is shown in full with its findings, and the caller decides what to
// do about it.
func Plan(w io.Writer, p *plan.Plan, f Format, o Options) error {
	v, err := newView(f, o)
	if err != nil {
		return err
	}
	if p == nil {
		p = &plan.Plan{FormatVersion: plan.FormatVersion}
	}
	return v.plan(w, p)
}

// Report writes the outcome of an apply (or the schedule of a dry run) in
// format f.
func Report(w io.Writer, r *apply.Report, f Format, o Options) error {
	v, err := newView(f, o)
	if err != nil {
		return err
	}
	if r == nil {
		r = &apply.Report{}
	}
	return v.report(w, r)
}
