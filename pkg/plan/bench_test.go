package plan

import (
	"fmt"
	"testing"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// benchInputs builds a team of 10,000 scripts, 1,000 templates and 30,000
// assignments (3 machines per script). With churn, every 10th script has a
// new body, every 100th was deleted outside psync, every 100th manifest
// script is new, every 10th script has one machine swapped, and every 50th
// template moved to another source machine.
func benchInputs(first, churn, live bool) (*manifest.Manifest, *remote.Snapshot, *state.State) {
	const nScripts, nTemplates, perScript = 10000, 1000, 3
	m := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 25}}
	snap := &remote.Snapshot{Dialect: remote.DialectSpec}
	if live {
		snap.Dialect, snap.AssignmentsKnown = remote.DialectPaperspaceV1, true
	}
	st := state.New()
	st.Lineage, st.Serial = "bench", 1
	for i := range nScripts {
		name := fmt.Sprintf("script-%05d", i)
		id := fmt.Sprintf("scr%05d", i)
		body := fmt.Sprintf("#!/bin/sh\necho %d\n", i)
		machines := make([]string, perScript)
		for j := range machines {
			machines[j] = fmt.Sprintf("ps%05d", (i*perScript+j)%5000)
		}
		want := machines
		if churn && i%10 == 0 {
			want = append([]string{fmt.Sprintf("ps9%04d", i)}, machines[1:]...)
		}
		desiredBody := body
		if churn && i%10 == 0 {
			desiredBody += "# changed\n"
		}
		m.Scripts = append(m.Scripts, manifest.Script{Name: name, Body: desiredBody, IsEnabled: true})
		m.Assignments = append(m.Assignments, manifest.Assignment{Script: name, Machines: want})
		if first || churn && i%100 == 1 {
			continue // new in the manifest
		}
		st.Scripts = append(st.Scripts, state.Script{ID: id, Name: name, BodySHA256: state.BodyHash(body), Body: &body, IsEnabled: true, Assignments: machines})
		if churn && i%100 == 2 {
			continue // deleted outside psync
		}
		r := remote.Script{ID: id, Name: name, IsEnabled: true}
		if live {
			r.AssignedMachines = machines
		}
		snap.Scripts = append(snap.Scripts, r)
	}
	for i := range nTemplates {
		name := fmt.Sprintf("template-%04d", i)
		id := fmt.Sprintf("tpl%04d", i)
		machine := fmt.Sprintf("ps%05d", i)
		want := machine
		if churn && i%50 == 0 {
			want = fmt.Sprintf("ps8%04d", i)
		}
		m.Templates = append(m.Templates, manifest.Template{Name: name, MachineID: want})
		if first {
			continue
		}
		st.Templates = append(st.Templates, state.Template{ID: id, Name: name, MachineID: machine})
		snap.Templates = append(snap.Templates, remote.Template{ID: id, Name: name, MachineID: machine})
	}
	return m, snap, st
}

func BenchmarkCompute(b *testing.B) {
	for _, bc := range []struct {
		name               string
		first, churn, live bool
	}{
		{"no-op/spec", false, false, false},
		{"no-op/live", false, false, true},
		{"churn/spec", false, true, false},
		{"churn/live", false, true, true},
		{"first-apply", true, false, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, snap, st := benchInputs(bc.first, bc.churn, bc.live)
			var p *Plan
			b.ReportAllocs()
			start := cpuTime()
			n := 0
			for b.Loop() {
				var err error
				if p, err = Compute(m, snap, st, Options{}); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(len(p.Changes)), "changes")
			if used := cpuTime() - start; used > 0 {
				// CPU time (GC included), which a loaded machine does not inflate
				// the way it inflates ns/op.
				b.ReportMetric(float64(used.Milliseconds())/float64(n), "cpu-ms/op")
			}
		})
	}
}

// TestBenchInputs keeps the benchmark honest: its scenarios plan what they
// claim to.
func TestBenchInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	m, snap, st := benchInputs(false, false, true)
	p, err := Compute(m, snap, st, Options{})
	if err != nil || !p.Empty() {
		t.Fatalf("no-op scenario: err %v, %d changes", err, len(p.Changes))
	}
	m, snap, st = benchInputs(true, false, false)
	p, err = Compute(m, snap, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Summary(); got != (Summary{Create: 11000, Assign: 30000}) {
		t.Errorf("first apply: %+v", got)
	}
	m, snap, st = benchInputs(false, true, true)
	p, err = Compute(m, snap, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 100 new + 100 deleted outside psync (created again, and their old
	// ids forgotten); 1,000 bodies; 20 templates moved; 3 assigns per
	// created script plus one swapped machine per 10th script.
	want := Summary{Create: 200, Update: 1000, Replace: 20, Assign: 600 + 1000, Unassign: 1000, Forget: 100}
	if got := p.Summary(); got != want {
		t.Errorf("churn: %+v, want %+v", got, want)
	}
}
