package render

import (
	"encoding/json"
	"io"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

// PlanFormatVersion is the version of the JSON plan (see doc.go). It is
// 2 since a template's affectedMachines no longer holds its source machine
// (deleting or replacing a template touches no machine).
const PlanFormatVersion = 2

// ReportFormatVersion is the version of the JSON apply report (see doc.go).
const ReportFormatVersion = 1

// JSONPlan is the document `psync plan --output json` writes. Its fields
// are described in the package documentation.
type JSONPlan struct {
	FormatVersion int    `json:"formatVersion"`
	APIURL        string `json:"apiUrl"`
	Team          string `json:"team"`
	StateLineage  string `json:"stateLineage"`
	StateSerial   int64  `json:"stateSerial"`
	Empty         bool   `json:"empty"`
	Refused       bool   `json:"refused"`
	// LeftOut is how many changes --target left out of the plan.
	LeftOut   int             `json:"leftOut"`
	Summary   JSONSummary     `json:"summary"`
	Changes   []JSONChange    `json:"changes"`
	Unmanaged []JSONUnmanaged `json:"unmanaged"`
	Refresh   []JSONRefresh   `json:"refresh"`
	Drift     []plan.Drift    `json:"drift"`
	Findings  []JSONFinding   `json:"findings"`
	// BodiesUnreadable: the API returns no script bodies, so a body edited
	// outside psync cannot be detected (push one again with apply
	// --replace script/NAME).
	BodiesUnreadable bool `json:"bodiesUnreadable"`
	// Selections, Warnings and Notes: see the package documentation.
	Selections []plan.ScriptSelection `json:"selections"`
	Warnings   []string               `json:"warnings"`
	Notes      []string               `json:"notes"`
}

// JSONSummary counts changes by action, plus their total. Every count is
// present, 0 included.
type JSONSummary struct {
	Create   int `json:"create"`
	Adopt    int `json:"adopt"`
	Update   int `json:"update"`
	Replace  int `json:"replace"`
	Delete   int `json:"delete"`
	Assign   int `json:"assign"`
	Unassign int `json:"unassign"`
	Forget   int `json:"forget"`
	Total    int `json:"total"`
}

// JSONRefresh is an owned object whose new name, flags, note or
// assignments apply records in the state.
type JSONRefresh struct {
	Kind        plan.Kind `json:"kind"`
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	RunOnce     bool      `json:"runOnce"`
	IsEnabled   bool      `json:"isEnabled"`
	Assignments []string  `json:"assignments"`
	// AssignmentsKnown says whether assignments is what the API shows.
	AssignmentsKnown bool   `json:"assignmentsKnown"`
	MachineID        string `json:"machineId"`
	Note             string `json:"note"`
	NoteKnown        bool   `json:"noteKnown"`
}

// JSONFinding is a safety rule the plan breaks.
type JSONFinding struct {
	Rule       plan.Rule `json:"rule"`
	Keys       []string  `json:"keys"`
	Message    string    `json:"message"`
	Override   string    `json:"override"`
	Overridden bool      `json:"overridden"`
}

// JSONChange is one change. Before and After carry no body for a script
// that is sensitive on either side.
type JSONChange struct {
	Key              string           `json:"key"`
	Kind             plan.Kind        `json:"kind"`
	Action           plan.Action      `json:"action"`
	Name             string           `json:"name"`
	ID               string           `json:"id"`
	Machine          string           `json:"machine"`
	Reasons          []string         `json:"reasons"`
	Before           *plan.Attributes `json:"before"`
	After            *plan.Attributes `json:"after"`
	Protected        bool             `json:"protected"`
	AffectedMachines []string         `json:"affectedMachines"`
	DependsOn        []string         `json:"dependsOn"`
}

// JSONUnmanaged is an unmanaged object and what the plan does with it.
type JSONUnmanaged struct {
	Kind    plan.Kind `json:"kind"`
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Ignored bool      `json:"ignored"`
	// Fate is "kept", "ignored" or "deleted by prune".
	Fate string `json:"fate" jsonschema:"enum=kept,enum=ignored,enum=deleted by prune"`
}

// JSONReport is the document `psync apply --output json` writes.
type JSONReport struct {
	FormatVersion int          `json:"formatVersion"`
	DryRun        bool         `json:"dryRun"`
	Interrupted   bool         `json:"interrupted"`
	OK            bool         `json:"ok"`
	Parallelism   int          `json:"parallelism"`
	ElapsedMs     int64        `json:"elapsedMs"`
	Totals        JSONTotals   `json:"totals"`
	Results       []JSONResult `json:"results"`
}

// JSONTotals counts results by status.
type JSONTotals struct {
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Pending int `json:"pending"`
	Total   int `json:"total"`
}

// JSONResult is the outcome of one change.
type JSONResult struct {
	Key            string      `json:"key"`
	Kind           plan.Kind   `json:"kind"`
	Action         plan.Action `json:"action"`
	Name           string      `json:"name"`
	ID             string      `json:"id"`
	Machine        string      `json:"machine"`
	Status         string      `json:"status"`
	Error          string      `json:"error"`
	SkippedBecause string      `json:"skippedBecause"`
	Step           int         `json:"step"`
	StartedMs      int64       `json:"startedMs"`
	DurationMs     int64       `json:"durationMs"`
}

// jsonView is for programs.
type jsonView struct{}

func (jsonView) plan(w io.Writer, p *plan.Plan) error { return writeJSON(w, NewJSONPlan(p)) }

func (jsonView) report(w io.Writer, r *apply.Report) error { return writeJSON(w, NewJSONReport(r)) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Bodies are shell scripts: keep && and <<EOF readable.
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// NewJSONPlan is the JSON view of p. Slices are never null, so programs
// can iterate without checks.
func NewJSONPlan(p *plan.Plan) JSONPlan {
	s := p.Summary()
	out := JSONPlan{
		FormatVersion: PlanFormatVersion,
		APIURL:        p.APIURL,
		Team:          p.Team,
		StateLineage:  p.StateLineage,
		StateSerial:   p.StateSerial,
		Empty:         p.Empty(),
		Refused:       p.Refused(),
		LeftOut:       p.LeftOut,
		Summary: JSONSummary{
			Create: s.Create, Adopt: s.Adopt, Update: s.Update, Replace: s.Replace, Delete: s.Delete,
			Assign: s.Assign, Unassign: s.Unassign, Forget: s.Forget, Total: s.Total(),
		},
		Changes:          make([]JSONChange, 0, len(p.Changes)),
		Unmanaged:        make([]JSONUnmanaged, 0, len(p.Unmanaged)),
		Refresh:          make([]JSONRefresh, 0, len(p.Refresh)),
		Drift:            append([]plan.Drift{}, p.Drift...),
		Findings:         make([]JSONFinding, 0, len(p.Findings)),
		BodiesUnreadable: p.BodiesUnreadable,
		Selections:       make([]plan.ScriptSelection, 0, len(p.Selections)),
		Warnings:         nonNil(p.Warnings),
		Notes:            nonNil(p.Notes),
	}
	for _, s := range p.Selections {
		if len(s.Selectors) > 0 {
			s.Record = false // the applier's business
			out.Selections = append(out.Selections, s)
		}
	}
	for _, c := range p.Changes {
		out.Changes = append(out.Changes, JSONChange{
			Key: c.Key, Kind: c.Kind, Action: c.Action, Name: c.Name, ID: c.ID, Machine: c.Machine,
			Reasons:          nonNil(c.Reasons),
			Before:           publicAttributes(c.Before, sensitive(c)),
			After:            publicAttributes(c.After, sensitive(c)),
			Protected:        c.Protected,
			AffectedMachines: nonNil(c.AffectedMachines),
			DependsOn:        nonNil(c.DependsOn),
		})
	}
	fate := unmanagedFates(p)
	for _, u := range p.Unmanaged {
		out.Unmanaged = append(out.Unmanaged, JSONUnmanaged{Kind: u.Kind, Name: u.Name, ID: u.ID, Ignored: u.Ignored, Fate: fate(u)})
	}
	for _, r := range p.Refresh {
		out.Refresh = append(out.Refresh, JSONRefresh{
			Kind: r.Kind, ID: r.ID, Name: r.Name, RunOnce: r.RunOnce, IsEnabled: r.IsEnabled,
			Assignments: nonNil(r.Assignments), AssignmentsKnown: r.AssignmentsKnown,
			MachineID: r.MachineID, Note: r.Note, NoteKnown: r.NoteKnown,
		})
	}
	for _, f := range p.Findings {
		out.Findings = append(out.Findings, JSONFinding{Rule: f.Rule, Keys: nonNil(f.Keys), Message: f.Message, Override: f.Override, Overridden: f.Overridden})
	}
	return out
}

// publicAttributes copies a, without the body when the change is
// sensitive on either side, and never with the pushed body (which holds
// the values of secret variables).
func publicAttributes(a *plan.Attributes, sensitive bool) *plan.Attributes {
	if a == nil {
		return nil
	}
	c := *a
	if sensitive {
		c.Body = nil
	}
	c.Push = nil
	return &c
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// NewJSONReport is the JSON view of r.
func NewJSONReport(r *apply.Report) JSONReport {
	n := r.Counts()
	out := JSONReport{
		FormatVersion: ReportFormatVersion,
		DryRun:        r.DryRun,
		Interrupted:   r.Interrupted,
		OK:            r.OK(),
		Parallelism:   r.Parallelism,
		ElapsedMs:     r.Elapsed.Milliseconds(),
		Totals: JSONTotals{
			Done: n[apply.Done], Failed: n[apply.Failed], Skipped: n[apply.Skipped], Pending: n[apply.Pending],
			Total: len(r.Results),
		},
		Results: make([]JSONResult, 0, len(r.Results)),
	}
	for _, res := range r.Results {
		c := res.Change
		jr := JSONResult{
			Key: c.Key, Kind: c.Kind, Action: c.Action, Name: c.Name, ID: c.ID, Machine: c.Machine,
			Status:         res.Status.String(),
			SkippedBecause: res.SkippedBecause,
			Step:           res.Step,
			StartedMs:      res.Started.Milliseconds(),
			DurationMs:     res.Duration.Milliseconds(),
		}
		if res.Status == apply.Failed {
			jr.Error = resultError(res)
		}
		out.Results = append(out.Results, jr)
	}
	return out
}
