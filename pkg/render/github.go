package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
)

// Annotation is one GitHub Actions workflow command (::error or
// ::warning), which a pull request shows on the line it names
// (https://docs.github.com/actions/reference/workflow-commands-for-github-actions).
type Annotation struct {
	// Level is "error", "warning" or "notice".
	Level string
	// File, Line and Col place it; all optional (0 and "" omit them).
	File      string
	Line, Col int
	Title     string
	Message   string
}

// String is the workflow command, on one line. Its message and properties
// are escaped as GitHub's toolkit escapes them (% CR LF, and in properties
// also : and ,), so that no text in them, a hostile name included, can
// end the command early or start a second one.
func (a Annotation) String() string {
	var props []string
	if a.File != "" {
		props = append(props, "file="+escapeProperty(a.File))
	}
	if a.Line > 0 {
		props = append(props, "line="+strconv.Itoa(a.Line))
	}
	if a.Col > 0 {
		props = append(props, "col="+strconv.Itoa(a.Col))
	}
	if a.Title != "" {
		props = append(props, "title="+escapeProperty(a.Title))
	}
	cmd := "::" + a.Level
	if len(props) > 0 {
		cmd += " " + strings.Join(props, ",")
	}
	return cmd + "::" + escapeData(sanitize(a.Message))
}

var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

func escapeData(s string) string     { return dataEscaper.Replace(s) }
func escapeProperty(s string) string { return propertyEscaper.Replace(sanitize(s)) }

// WriteAnnotations writes one workflow command per line.
func WriteAnnotations(w io.Writer, as []Annotation) error {
	var b strings.Builder
	for _, a := range as {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// DiagnosticAnnotations are manifest problems as errors on their lines.
func DiagnosticAnnotations(diags []manifest.Diagnostic) []Annotation {
	out := make([]Annotation, 0, len(diags))
	for _, d := range diags {
		out = append(out, Annotation{Level: "error", File: d.Pos.File, Line: d.Pos.Line, Col: d.Pos.Column, Title: "psync: manifest", Message: d.Message})
	}
	return out
}

// Locator finds where the manifest declares the object of a change key
// ("script/NAME", "template/NAME", "assignment/SCRIPT/MACHINE"); ok is
// false for an object it does not declare (a delete).
type Locator func(key string) (pos manifest.Position, ok bool)

// NewLocator locates the scripts and templates of m, and the assignments
// of a script at the script. Files holds the manifest's first file, for
// objects m does not declare.
func NewLocator(m *manifest.Manifest) Locator {
	pos := map[string]manifest.Position{}
	for _, s := range m.Scripts {
		pos["script/"+s.Name] = s.Pos
	}
	for _, t := range m.Templates {
		pos["template/"+t.Name] = t.Pos
	}
	first := ""
	if len(m.Files) > 0 {
		first = m.Files[0]
	}
	return func(key string) (manifest.Position, bool) {
		k, _, _ := strings.Cut(key, "#")
		if rest, ok := strings.CutPrefix(k, "assignment/"); ok {
			script, _, _ := strings.Cut(rest, "/")
			k = "script/" + script
		}
		if p, ok := pos[k]; ok {
			return p, true
		}
		return manifest.Position{File: first}, false
	}
}

// FindingAnnotations are the plan's safety findings as warnings, each on
// the manifest line of the first change it names that the manifest
// declares (else on the manifest file).
func FindingAnnotations(p *plan.Plan, locate Locator) []Annotation {
	var out []Annotation
	for _, f := range p.Findings {
		a := Annotation{Level: "warning", Title: "psync: unsafe plan (" + string(f.Rule) + ")"}
		msg := f.Message
		if f.Overridden {
			msg += " (allowed by " + f.Override + ")"
		} else {
			msg += ". To apply it anyway, pass " + f.Override + "."
		}
		a.Message = msg
		var fallback manifest.Position
		for i, k := range f.Keys {
			pos, ok := locate(k)
			if i == 0 {
				fallback = pos
			}
			if ok {
				fallback = pos
				break
			}
		}
		a.File, a.Line, a.Col = fallback.File, fallback.Line, fallback.Column
		out = append(out, a)
	}
	return out
}

// ReportAnnotations are the changes an apply failed, as errors on the
// manifest line of their object.
func ReportAnnotations(r *apply.Report, locate Locator) []Annotation {
	var out []Annotation
	for _, res := range r.Results {
		if res.Status != apply.Failed {
			continue
		}
		pos, _ := locate(res.Change.Key)
		// The error names the operation and the object already.
		out = append(out, Annotation{Level: "error", File: pos.File, Line: pos.Line, Col: pos.Column,
			Title: fmt.Sprintf("psync: %s failed", verb(res.Change.Action)), Message: resultError(res)})
	}
	return out
}
