package main

import (
	"fmt"
	"path/filepath"

	"github.com/psync-dev/psync/internal/safefile"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/render"
)

// ShowCmd renders a saved plan, as terraform show does: no manifest, no
// state and no API call.
type ShowCmd struct {
	PlanFile string `arg:"" name:"planfile" help:"A plan saved with 'psync plan --out FILE'."`
	Output   string `name:"output" short:"o" enum:"text,json,markdown" default:"text" help:"Output format: text, json or markdown (a pull-request comment)."`
}

// Run reads the plan file and renders it. The plan is shown as it was
// made: whether it is still current is for apply to check.
func (c *ShowCmd) Run(g *Globals, streams *IO) error {
	o, err := parseOutput(c.Output)
	if err != nil {
		return err
	}
	return o.run(streams, render.PlanFormatVersion, func(streams *IO) error {
		// Read as apply reads it (it may come from a CI artifact): never a
		// FIFO that blocks, a device or a huge file.
		f, err := safefile.Open(c.PlanFile, safefile.Options{Root: filepath.Dir(c.PlanFile), Limit: maxPlanFileBytes, What: "saved plan"})
		if err != nil {
			return err
		}
		defer f.Close()
		p, err := plan.Read(f)
		if err != nil {
			return fmt.Errorf("read plan %s: %w", c.PlanFile, err)
		}
		if err := render.Plan(streams.Stdout, p, o.format, g.renderOptions(streams)); err != nil {
			return err
		}
		noteLeftOut(streams, p)
		return nil
	})
}
