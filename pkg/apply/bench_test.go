package apply_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// benchLatency is the latency of every API call in the benchmarks.
const benchLatency = 20 * time.Millisecond

// benchPlan is the plan of an empty team and a manifest of n scripts each
// assigned to perMachine machines, and m templates, in the planner's order
// (scripts, templates, then assignments).
func benchPlan(n, perMachine, m int) *plan.Plan {
	var changes []plan.Change
	for i := range n {
		changes = append(changes, createScript(fmt.Sprintf("script-%04d", i)))
	}
	for i := range m {
		changes = append(changes, createTemplate(fmt.Sprintf("template-%03d", i), fmt.Sprintf("psbox%03d", i%8+1)))
	}
	for i := range n {
		for k := range perMachine {
			changes = append(changes, assign("", fmt.Sprintf("script-%04d", i), fmt.Sprintf("psbox%03d", k+1)))
		}
	}
	return newPlan(changes...)
}

// BenchmarkApply applies 1,000 script creates, 3,000 assigns and 100
// template creates through a writer with a fixed 20 ms latency per call, and
// reports the wall time against the ideal: requests ÷ parallelism × latency,
// or the critical path (a create then its assign) when that is longer. At
// parallelism 1 the plan is a tenth of the size (the full one takes 82 s).
func BenchmarkApply(b *testing.B) {
	for _, par := range []int{1, 4, 10, 32} {
		n, m := 1000, 100
		if par == 1 {
			n, m = 100, 10
		}
		b.Run(fmt.Sprintf("p=%d/scripts=%d", par, n), func(b *testing.B) {
			p := benchPlan(n, 3, m)
			benchApply(b, p, par, func() (remote.Writer, func() int) {
				f := newFakeAPI()
				f.Latency = benchLatency
				return f, func() int { return len(f.Calls()) }
			})
		})
	}
}

// benchApply runs the plan once per iteration against a fresh writer, whose
// requests counts the requests it served, and reports wall time, requests
// and the ratio to the ideal.
func benchApply(b *testing.B, p *plan.Plan, par int, newWriter func() (w remote.Writer, requests func() int)) {
	b.Helper()
	var wall time.Duration
	var requests, runs int
	for b.Loop() {
		w, served := newWriter()
		start := time.Now()
		report, err := apply.Run(context.Background(), p, w, newMemJournal(nil), apply.Options{Parallelism: par})
		wall += time.Since(start)
		if err != nil || !report.OK() {
			b.Fatalf("Run: %v, %v", err, report.Counts())
		}
		requests += served()
		runs++
	}
	avg := wall / time.Duration(runs)
	perRun := float64(requests) / float64(runs)
	b.ReportMetric(sleepOvershoot(par), "sleep-overshoot")
	ideal := max(time.Duration(perRun/float64(par)*float64(benchLatency)), 2*benchLatency)
	b.ReportMetric(avg.Seconds(), "wall-s")
	b.ReportMetric(perRun, "requests")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(avg.Seconds()/ideal.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op") // wall-s says it, in a unit people read
}

// BenchmarkApplyFileJournal is BenchmarkApply at parallelism 10 with the
// real journal, as the CLI runs it: every change is recorded by an atomic,
// fsynced save of the state file (shared by the changes that finish while
// the previous save is in progress).
func BenchmarkApplyFileJournal(b *testing.B) {
	p := benchPlan(1000, 3, 100)
	var wall time.Duration
	runs := 0
	for b.Loop() {
		f := newFakeAPI()
		f.Latency = benchLatency
		path := filepath.Join(b.TempDir(), state.DefaultFileName)
		j := state.NewJournal(path, state.New())
		start := time.Now()
		report, err := apply.Run(context.Background(), p, f, j, apply.Options{Parallelism: 10})
		if cerr := j.Close(); cerr != nil {
			b.Fatal(cerr)
		}
		wall += time.Since(start)
		if err != nil || !report.OK() {
			b.Fatalf("Run: %v, %v", err, report.Counts())
		}
		runs++
	}
	ideal := time.Duration(float64(len(p.Changes)) / 10 * float64(benchLatency))
	avg := wall / time.Duration(runs)
	b.ReportMetric(avg.Seconds(), "wall-s")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(avg.Seconds()/ideal.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}

// sleepOvershoot measures how much longer than asked a 20 ms sleep takes
// on this machine right now, with par sleepers: the floor under any ratio
// a latency-bound benchmark can reach. On a quiet machine it is about
// 1.01; on a shared, loaded one it can be 1.1 or more, and then the ratio
// the applier is responsible for is ratio ÷ sleep-overshoot.
func sleepOvershoot(par int) float64 {
	const rounds = 10
	var wg sync.WaitGroup
	start := time.Now()
	for range par {
		wg.Go(func() {
			for range rounds {
				time.Sleep(benchLatency)
			}
		})
	}
	wg.Wait()
	return time.Since(start).Seconds() / (rounds * benchLatency).Seconds()
}
