package render

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

func TestMarkdownReportStaysUnderTheLimit(t *testing.T) {
	r := &apply.Report{Parallelism: 10}
	for _, c := range hugePlan(1000, 1).Changes {
		r.Results = append(r.Results, apply.Result{Change: c, Status: apply.Failed, Error: strings.Repeat("API says no. ", 5)})
	}
	for _, limit := range []int{2000, 0} {
		out := string(renderReport(t, r, Markdown, Options{MaxMarkdownBytes: limit}))
		if limit == 0 {
			limit = DefaultMaxMarkdownBytes
		}
		if len(out) > limit || !strings.Contains(out, "rows are left out") {
			t.Errorf("limit %d: %d bytes, note present %v", limit, len(out), strings.Contains(out, "rows are left out"))
		}
	}
}

// benchPlan is the size of the planner benchmark: 10,000 scripts (one in
// ten with a changed body), 1,000 templates, 30,000 assignments.
func benchPlan() *plan.Plan {
	p := hugePlan(0, 0)
	for i := range 10000 {
		name := fmt.Sprintf("script-%05d", i)
		c := plan.Change{Key: "script/" + name, Kind: plan.KindScript, Action: plan.Create, Name: name,
			After: script(name, fmt.Sprintf("#!/bin/sh\necho %d\n", i), false, true)}
		if i%10 == 0 {
			c.Action, c.ID = plan.Update, fmt.Sprint(i)
			c.Before = script(name, fmt.Sprintf("#!/bin/sh\necho old %d\n", i), false, true)
		}
		p.Changes = append(p.Changes, c)
	}
	for i := range 1000 {
		name := fmt.Sprintf("template-%04d", i)
		p.Changes = append(p.Changes, plan.Change{Key: "template/" + name, Kind: plan.KindTemplate, Action: plan.Create, Name: name,
			After: &plan.Attributes{Name: name, MachineID: fmt.Sprintf("psbox%03d", i%100)}})
	}
	for i := range 30000 {
		p.Changes = append(p.Changes, assign(fmt.Sprintf("script-%05d", i%10000), fmt.Sprintf("psbox%03d", i/10000+i%97)))
	}
	return p
}

func BenchmarkPlan(b *testing.B) {
	p := benchPlan()
	for _, f := range allFormats {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Plan(io.Discard, p, f, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
