package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/renameio/v2"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/render"
)

// PlanCmd shows what apply would change, and can save it for apply.
type PlanCmd struct {
	Out              string   `name:"out" placeholder:"FILE" help:"Save the plan to FILE, to apply exactly it with 'psync apply FILE'."`
	Output           string   `name:"output" short:"o" enum:"text,json,markdown,github" default:"text" help:"Output format: text, json, markdown (a pull-request comment) or github (text, then annotations for GitHub Actions)."`
	DetailedExitcode bool     `name:"detailed-exitcode" help:"Exit 0 when there are no changes, 2 when there are, 1 on error (3 when unsafe)."`
	Prune            bool     `name:"prune" help:"Also delete remote objects psync does not own (never ignored ones)."`
	Target           []string `name:"target" placeholder:"KIND/NAME" help:"Only plan these objects and their assignments (script/NAME or template/NAME; repeatable)."`
	Replace          []string `name:"replace" placeholder:"script/NAME" help:"Push this script's body again although the state says it matches (repeatable)."`
	AllowDestroy     bool     `name:"allow-destroy" help:"Allow deleting or replacing preventDestroy objects."`
	AllowMassDelete  bool     `name:"allow-mass-delete" help:"Allow deleting more than settings.maxDeletePercent of a kind, or forgetting every object the state owns."`
}

// Run plans and renders. Exit 3 when the plan is unsafe; with
// --detailed-exitcode, 2 when there are changes.
func (c *PlanCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	o, err := parseOutput(c.Output)
	if err != nil {
		return err
	}
	return o.run(streams, render.PlanFormatVersion, func(streams *IO) error { return c.run(g, streams, ctx, o) })
}

func (c *PlanCmd) run(g *Globals, streams *IO, ctx context.Context, o output) error {
	if c.Out != "" {
		if err := checkOut(c.Out); err != nil {
			return err
		}
	}
	ws, err := g.openWorkspace(ctx, streams, openOptions{})
	if err != nil {
		return err
	}
	defer ws.close()

	snap, err := fetch(ctx, ws.client)
	if err != nil {
		return err
	}
	if _, err := ws.learnTeam(snap); err != nil {
		return err
	}
	warnIgnoredNotes(streams.Stderr, ws.manifest, snap)
	p, err := plan.Compute(ws.manifest, snap, ws.state, plan.Options{
		UnboundState:    ws.unbound,
		Created:         ws.client.Created(),
		Prune:           c.Prune || ws.manifest.Settings.Prune,
		AllowDestroy:    c.AllowDestroy,
		AllowMassDelete: c.AllowMassDelete,
		Targets:         c.Target,
		Replace:         c.Replace,
		APIURL:          ws.target.APIURL,
		Team:            ws.target.Team,
		Key:             ws.target.Key,
	})
	if err != nil {
		return planFailed(err)
	}
	noteUnresolved(streams.Stderr, ws.manifest)
	if err := renderPlan(streams, p, o, g.renderOptions(streams), render.NewLocator(ws.manifest)); err != nil {
		return err
	}
	noteLeftOut(streams, p)
	if c.Out != "" {
		if err := savePlan(c.Out, p); err != nil {
			return err
		}
		fmt.Fprintf(streams.Stderr, "Saved the plan to %s. Apply exactly it with:\n  %s\n", c.Out, g.applyCommand(overrides(p), c.Out))
	}
	switch {
	case p.Refused():
		return withCode(ExitRefused, nil)
	case c.DetailedExitcode && !p.Empty():
		return withCode(ExitChanges, nil)
	}
	return nil
}

// planFailed is the error of a plan that could not be made: several
// problems are one a line under a line that says how many, as validate
// shows them, not the first glued to "psync: " and the rest below it.
func planFailed(err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	n := 0
	for _, e := range j.Unwrap() {
		if m, ok := e.(*manifest.Errors); ok {
			n += len(m.Diagnostics)
		} else {
			n++
		}
	}
	if n < 2 {
		return err
	}
	return fmt.Errorf("the plan failed: %d problems:\n%w", n, err)
}

// noteLeftOut says how many changes --target left out: a targeted plan
// that looks complete is how a change gets forgotten.
func noteLeftOut(streams *IO, p *plan.Plan) {
	switch {
	case p.LeftOut == 1:
		fmt.Fprintln(streams.Stderr, "1 other change was left out; run without --target to see it")
	case p.LeftOut > 1:
		fmt.Fprintf(streams.Stderr, "%d other changes were left out; run without --target to see them\n", p.LeftOut)
	}
}

// renderPlan shows p in o's format; github is the text view, fenced so
// that nothing in it is read as a workflow command, then a warning
// annotation per safety finding, on the manifest line of its object.
func renderPlan(streams *IO, p *plan.Plan, o output, ropts render.Options, locate render.Locator) error {
	if !o.github {
		return render.Plan(streams.Stdout, p, o.format, ropts)
	}
	ropts.Color = false
	if err := fenced(streams.Stdout, func(w io.Writer) error { return render.Plan(w, p, render.Text, ropts) }); err != nil {
		return err
	}
	return render.WriteAnnotations(streams.Stdout, render.FindingAnnotations(p, locate))
}

// overrides are the flags psync apply needs to run a saved plan: the apply
// judges the plan's safety findings by its own flags.
func overrides(p *plan.Plan) []string {
	var flags []string
	for _, f := range p.Findings {
		if !slices.Contains(flags, f.Override) {
			flags = append(flags, f.Override)
		}
	}
	return flags
}

// checkOut refuses an --out that cannot be written, before the team is
// read: a directory, or a file in a directory that does not exist (the
// atomic write would otherwise fail naming its temporary file). It also
// refuses a file that exists and is not a saved plan: --out psync.yaml
// (meant as -f, or a slip for -o) replaced the manifest with the plan,
// and the state file or a script would go the same way.
func checkOut(path string) error {
	fi, err := os.Stat(path)
	if err == nil && fi.IsDir() {
		return fmt.Errorf("--out %s: is a directory; name a file", path)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--out %s: directory %s does not exist", path, dir)
	}
	if err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && !isSavedPlan(path) {
		return fmt.Errorf("--out %s: the file exists and is not a saved plan; psync does not overwrite it (remove it first, or name another file)", path)
	}
	return nil
}

// isSavedPlan says whether the file at path looks like a plan saved by
// plan --out, of any format version: a JSON object with formatVersion
// and changes (a state has no changes, a manifest is no JSON).
func isSavedPlan(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSavedPlanBytes+1))
	if err != nil || len(data) > maxSavedPlanBytes {
		return false
	}
	var head struct {
		FormatVersion *json.RawMessage `json:"formatVersion"`
		Changes       *json.RawMessage `json:"changes"`
	}
	return json.Unmarshal(data, &head) == nil && head.FormatVersion != nil && head.Changes != nil
}

// maxSavedPlanBytes is the most of an existing --out file read to tell
// whether it is a saved plan (apply reads one of at most 64 MiB).
const maxSavedPlanBytes = 64 << 20

// savePlan writes a plan file atomically.
func savePlan(path string, p *plan.Plan) error {
	var buf bytes.Buffer
	if err := plan.Write(&buf, p); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := renameio.WriteFile(path, buf.Bytes(), 0o644, renameio.WithTempDir(filepath.Dir(path))); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	return nil
}
