package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/psync-dev/psync/internal/safefile"
	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/render"
	"github.com/psync-dev/psync/pkg/state"
)

// ApplyCmd makes the team match the manifest, or applies a saved plan.
type ApplyCmd struct {
	PlanFile        string   `arg:"" optional:"" name:"planfile" help:"A plan saved with 'psync plan --out FILE'. Without it, apply plans afresh."`
	AutoApprove     bool     `name:"auto-approve" help:"Do not ask for confirmation (required when there is no terminal)."`
	DryRun          bool     `name:"dry-run" help:"Walk the schedule without writing anything."`
	Parallelism     int      `name:"parallelism" default:"10" help:"Most changes in flight at once (1-256)."`
	Prune           bool     `name:"prune" help:"Also delete remote objects psync does not own (never ignored ones)."`
	Target          []string `name:"target" placeholder:"KIND/NAME" help:"Only apply the changes of these objects and their assignments (script/NAME or template/NAME; repeatable)."`
	Replace         []string `name:"replace" placeholder:"script/NAME" help:"Push this script's body again although the state says it matches (repeatable)."`
	Output          string   `name:"output" short:"o" enum:"text,json,github" default:"text" help:"Output format: text, json or github (text, then annotations for GitHub Actions)."`
	AllowDestroy    bool     `name:"allow-destroy" help:"Allow deleting or replacing preventDestroy objects."`
	AllowMassDelete bool     `name:"allow-mass-delete" help:"Allow deleting more than settings.maxDeletePercent of a kind, or forgetting every object the state owns."`

	// learntTeam is set when the state learnt its team from this run's
	// read of the team.
	learntTeam bool
}

// Run applies. Exit 0 when every change is done, 1 when any failed, 3 when
// the plan is unsafe or a saved plan is stale, 130 when interrupted.
func (c *ApplyCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	if c.Parallelism < 1 || c.Parallelism > 256 {
		return fmt.Errorf("--parallelism must be between 1 and 256, not %d", c.Parallelism)
	}
	if c.PlanFile != "" {
		// A saved plan's changes are fixed; ignoring one of these flags
		// would leave the user thinking it had been applied.
		for _, f := range []struct {
			name string
			set  bool
		}{{"--prune", c.Prune}, {"--target", len(c.Target) > 0}, {"--replace", len(c.Replace) > 0}} {
			if f.set {
				return fmt.Errorf("%s cannot change a saved plan; plan again with %s --out FILE", f.name, f.name)
			}
		}
	}
	o, err := parseOutput(c.Output)
	if err != nil {
		return err
	}
	return o.run(streams, render.ReportFormatVersion, func(streams *IO) error { return c.run(g, streams, ctx, o) })
}

func (c *ApplyCmd) run(g *Globals, streams *IO, ctx context.Context, o output) error {
	format := o.format
	ropts := g.renderOptions(streams)
	if o.github {
		ropts.Color = false
	}
	ws, err := g.openWorkspace(ctx, streams, openOptions{lock: !c.DryRun})
	if err != nil {
		return err
	}
	defer ws.close()
	if err := requireSecrets(ws.manifest); err != nil {
		return err
	}
	// An older psync's bare hashes of secret bodies go now, even when
	// nothing else changes.
	migrated := migrateFingerprints(ws.state, ws.manifest, ws.target.Key)

	p, err := c.plan(ctx, ws, streams)
	if err != nil {
		return err
	}
	locate := render.NewLocator(ws.manifest)
	if format == render.Text {
		if err := renderPlan(streams, p, o, ropts, locate); err != nil {
			return err
		}
	}
	noteLeftOut(streams, p)
	if p.Refused() {
		if format != render.Text {
			render.Plan(streams.Stderr, p, render.Text, ropts)
		}
		return withCode(ExitRefused, unsafePlan(p))
	}
	if p.Empty() && len(p.Refresh) == 0 && len(p.Settled) == 0 && !p.RecordsSelections() {
		// Nothing to change, but the state may have learnt its team (keep
		// it, so that another team's key is refused next time), or a
		// killed apply's journal may hold its last changes: fold it in.
		if !c.DryRun && (ws.stateInfo.Pending || migrated || (c.learntTeam || ws.unbound) && len(ws.state.Scripts)+len(ws.state.Templates) > 0) {
			if err := state.Save(ctx, ws.backend, ws.state); err != nil {
				return err
			}
		}
		if format == render.JSON {
			return render.Report(streams.Stdout, &apply.Report{Parallelism: c.Parallelism, DryRun: c.DryRun}, format, ropts)
		}
		return nil
	}
	if c.PlanFile == "" && !c.AutoApprove && !c.DryRun && !p.Empty() {
		if err := confirm(ctx, streams); err != nil {
			return err
		}
	}

	// A dry run swaps in a journal that persists nothing, inside apply.Run.
	journal := ws.backend.Journal(ctx, ws.state)

	opts := apply.Options{Parallelism: c.Parallelism, DryRun: c.DryRun}
	// Each change is printed as it completes, with a live line on a
	// terminal; the final report then lists only what was not done.
	var progress *render.Progress
	notice := func(s string) { fmt.Fprintln(streams.Stderr, s) }
	if format == render.Text && !c.DryRun {
		popts := ropts
		popts.Color = render.UseColor(isTerminal(streams.Stderr), g.NoColor, os.LookupEnv)
		progress = render.NewProgress(streams.Stderr, len(p.Changes), popts, isTerminal(streams.Stderr))
		progress.SetPace(func() string { return pace(ws.client.Throttle()) })
		opts.OnEvent = progress.Event
		ropts.Brief = true
		notice = progress.Println
		// A second interrupt exits at once: it clears the live line first.
		streams.clearLive.Store(progress)
		defer streams.clearLive.Store(nil)
	}
	// An interrupt cancels ctx (see handleInterrupts): apply.Run then
	// starts nothing new and lets the changes in flight finish.
	noticed := make(chan struct{})
	stopNotice := context.AfterFunc(ctx, func() {
		defer close(noticed)
		notice("psync: interrupted: finishing the changes in flight (interrupt again to exit at once)")
	})
	// A state that changed underneath (this run's lock was removed by
	// force and another process wrote it) cannot take this run's changes:
	// start nothing more.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	report, runErr := apply.Run(runCtx, p, ws.client, stopOnLostState{journal, stopRun}, opts)
	// Fold the journal into the state file, whatever happened: every
	// change done is in it.
	closeErr := journal.Close()
	if closeErr != nil {
		closeErr = ws.rescue(journal, closeErr)
	}
	if !stopNotice() {
		<-noticed // the notice comes before the report
	}
	if progress != nil {
		progress.Close()
	}
	if t := ws.client.Throttle(); t.Learnt && !c.DryRun {
		// Said once at the end too: a CI log has no status line.
		fmt.Fprintf(streams.Stderr, "psync: note: the API rate-limited this apply: psync held to about %.0f requests/s after %s (pass --rate-limit to start there)\n",
			t.Rate, plural(int(ws.client.Stats().Throttled), "429 answer"))
	}
	if report != nil {
		if err := renderReport(streams, report, o, ropts, locate); err != nil {
			return err
		}
	}
	switch {
	case closeErr != nil:
		return closeErr
	case report != nil && report.Interrupted:
		return withCode(ExitInterrupted, fmt.Errorf("interrupted; the state %s records every change that was done: run 'psync apply' again to finish", ws.backend))
	case runErr != nil:
		return runErr
	case !report.OK():
		return withCode(ExitError, nil)
	}
	return nil
}

// renderReport shows the apply's report in o's format; github is the text
// view, fenced, then an error annotation per failed change, on the manifest
// line of its object.
func renderReport(streams *IO, r *apply.Report, o output, ropts render.Options, locate render.Locator) error {
	if !o.github {
		return render.Report(streams.Stdout, r, o.format, ropts)
	}
	if err := fenced(streams.Stdout, func(w io.Writer) error { return render.Report(w, r, render.Text, ropts) }); err != nil {
		return err
	}
	return render.WriteAnnotations(streams.Stdout, render.ReportAnnotations(r, locate))
}

// unsafePlan is the refusal of an unsafe plan: one line, which unwraps to
// each finding not overridden, for the JSON view.
func unsafePlan(p *plan.Plan) error {
	errs := []error{errors.New("the plan is unsafe; nothing was applied")}
	for _, f := range p.Findings {
		if !f.Overridden {
			errs = append(errs, fmt.Errorf("safety rule %s: %s; to apply it anyway, pass %s", f.Rule, f.Message, f.Override))
		}
	}
	return &refusal{errs: errs}
}

type refusal struct{ errs []error }

func (r *refusal) Error() string   { return r.errs[0].Error() }
func (r *refusal) Unwrap() []error { return r.errs }

// maxPlanFileBytes caps a saved plan file: one holds every change of a
// manifest, not every body.
const maxPlanFileBytes = 64 << 20

// plan computes a fresh plan, or reads the saved one and checks that
// nothing it was planned against has moved.
func (c *ApplyCmd) plan(ctx context.Context, ws *workspace, streams *IO) (*plan.Plan, error) {
	snap, err := fetch(ctx, ws.client)
	if err != nil {
		return nil, err
	}
	if c.learntTeam, err = ws.learnTeam(snap); err != nil {
		return nil, err
	}
	warnIgnoredNotes(streams.Stderr, ws.manifest, snap)
	if c.PlanFile == "" {
		p, err := plan.Compute(ws.manifest, snap, ws.state, plan.Options{
			Prune:           c.Prune || ws.manifest.Settings.Prune,
			AllowDestroy:    c.AllowDestroy,
			AllowMassDelete: c.AllowMassDelete,
			UnboundState:    ws.unbound,
			Created:         ws.client.Created(),
			Targets:         c.Target,
			Replace:         c.Replace,
			APIURL:          ws.target.APIURL,
			Team:            ws.target.Team,
			Key:             ws.target.Key,
		})
		return p, planFailed(err)
	}
	// A saved plan may come from a CI artifact: never a FIFO that blocks,
	// a device or a huge file.
	f, err := safefile.Open(c.PlanFile, safefile.Options{Root: filepath.Dir(c.PlanFile), Limit: maxPlanFileBytes, What: "saved plan"})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := plan.Read(f)
	if err != nil {
		if ext := strings.ToLower(filepath.Ext(c.PlanFile)); ext == ".yaml" || ext == ".yml" {
			// A manifest where a saved plan goes, as in `psync apply psync.yaml`.
			return nil, fmt.Errorf("read plan %s: %w (apply takes a manifest with -f: psync -f %s apply)", c.PlanFile, err, c.PlanFile)
		}
		return nil, fmt.Errorf("read plan %s: %w", c.PlanFile, err)
	}
	if p.APIURL != ws.target.APIURL {
		return nil, withCode(ExitRefused, fmt.Errorf("plan %s was made for %s, not %s", c.PlanFile, p.APIURL, ws.target.APIURL))
	}
	if p.Team != "" && ws.target.Team != "" && p.Team != ws.target.Team {
		return nil, withCode(ExitRefused, fmt.Errorf("plan %s was made for team %s, but the API key belongs to team %s", c.PlanFile, p.Team, ws.target.Team))
	}
	if err := p.FillBodies(ws.manifest, ws.target.Key); err != nil {
		return nil, withCode(ExitRefused, fmt.Errorf("plan %s is stale: %w", c.PlanFile, err))
	}
	if err := apply.CheckPreconditions(p, snap, ws.state); err != nil {
		return nil, withCode(ExitRefused, fmt.Errorf("plan %s is stale, nothing was applied: %w", c.PlanFile, err))
	}
	p.Override(c.AllowDestroy, c.AllowMassDelete)
	return p, nil
}

// pace says when a rate limit, not the API's latency, sets the apply's
// pace: the one learnt from the API's 429s or --rate-limit.
func pace(t remote.Throttle) string {
	switch {
	case !t.Holding:
		return ""
	case t.Learnt:
		return fmt.Sprintf("rate-limited by the API: %.0f req/s", t.Rate)
	}
	return fmt.Sprintf("rate-limited by --rate-limit: %.0f req/s", t.Rate)
}

// confirm asks for "yes" on a terminal and refuses without one. An
// interrupt ends the question (a blocked read would ignore it).
func confirm(ctx context.Context, streams *IO) error {
	if !isTerminal(streams.Stdin) {
		return withCode(ExitError, errors.New("no terminal to confirm on; pass --auto-approve to apply without confirmation"))
	}
	fmt.Fprint(streams.Stdout, "\nDo you want to apply these changes? Only 'yes' will be accepted: ")
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(streams.Stdin).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(streams.Stdout)
		return ctx.Err()
	case line := <-answer:
		if ctx.Err() != nil {
			// The interrupt may also end the read (an empty line): it
			// is an interrupt all the same.
			fmt.Fprintln(streams.Stdout)
			return ctx.Err()
		}
		if strings.TrimSpace(line) != "yes" {
			return withCode(ExitError, errors.New("apply cancelled"))
		}
		return nil
	}
}

// stopOnLostState stops the apply once the state changed underneath.
type stopOnLostState struct {
	state.Recorder
	stop context.CancelFunc
}

func (r stopOnLostState) Update(fn func(*state.State)) error {
	err := r.Recorder.Update(fn)
	if errors.Is(err, state.ErrStateChanged) {
		r.stop()
	}
	return err
}
