package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/psync-dev/psync/internal/procs"
	"github.com/psync-dev/psync/internal/s3test"
	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

var benchFull = flag.Bool("bench-full", false, "apply the whole manifest at parallelism 1 too (over 80 s at 20 ms)")

// TestMain doubles as a standalone sandbox server when BENCH_SANDBOX_SERVE
// is set, so that the memory benchmark measures the client's heap alone.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_SANDBOX_SERVE") != "" {
		serveSandbox()
		return
	}
	// As psync's main does: the figures are psync's.
	procs.Raise()
	os.Exit(m.Run())
}

// serveSandbox serves an in-memory sandbox, prints "URL KEY" on stdout and
// exits when stdin closes.
func serveSandbox() {
	inst, err := sandbox.Start(sandbox.Config{}, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s %s\n", inst.URL, inst.Key)
	io.Copy(io.Discard, os.Stdin)
	inst.Close()
}

// shape is a manifest: scripts each assigned to perScript machines, and
// templates.
type shape struct {
	scripts, perScript, templates int
}

func (s shape) scriptName(i int) string   { return fmt.Sprintf("script-%05d", i) }
func (s shape) templateName(i int) string { return fmt.Sprintf("template-%04d", i) }
func (s shape) body(i int) string {
	return fmt.Sprintf("#!/bin/bash\nset -euo pipefail\necho 'setting up machine, step %d'\napt-get install -y pkg-%d\n", i, i)
}
func machine(i int) string { return fmt.Sprintf("psbox%03d", i%10+1) }

// changes is the number of changes of a first apply.
func (s shape) changes() int { return s.scripts*(1+s.perScript) + s.templates }

// write writes the manifest into dir and loads it as psync does.
func (s shape) write(tb testing.TB, dir string) *manifest.Manifest {
	tb.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nscripts:\n")
	for i := range s.scripts {
		body, _ := json.Marshal(s.body(i))
		fmt.Fprintf(&b, "  - name: %s\n    script: %s\n", s.scriptName(i), body)
	}
	b.WriteString("templates:")
	if s.templates == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	for i := range s.templates {
		fmt.Fprintf(&b, "  - name: %s\n    machineId: %s\n", s.templateName(i), machine(i))
	}
	b.WriteString("assignments:")
	if s.perScript == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	if s.perScript > 0 {
		for i := range s.scripts {
			var ms []string
			for k := range s.perScript {
				ms = append(ms, machine(i+k))
			}
			fmt.Fprintf(&b, "  - script: %s\n    machines: [%s]\n", s.scriptName(i), strings.Join(ms, ", "))
		}
	}
	path := filepath.Join(dir, "psync.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	m, err := manifest.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func startSandbox(tb testing.TB, f sandbox.Faults) *sandbox.Instance {
	tb.Helper()
	inst, err := sandbox.Start(sandbox.Config{Faults: f}, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { inst.Close() })
	return inst
}

func newClient(tb testing.TB, url, key string, rateLimit float64) *remote.Client {
	tb.Helper()
	c, err := remote.New(remote.Config{BaseURL: url, APIKey: key, RateLimit: rateLimit})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// planFor does what psync plan does after loading: session, fetch, plan.
func planFor(tb testing.TB, c *remote.Client, m *manifest.Manifest, st *state.State, url string) *plan.Plan {
	tb.Helper()
	ctx := context.Background()
	team, err := c.Session(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := c.Fetch(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := plan.Compute(m, snap, st, plan.Options{APIURL: url, Team: team})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkApply applies 1,000 scripts, 3,000 assignments and 100
// templates into an empty sandbox with a fixed latency per request, at
// several parallelisms, through the real client and the real state
// journal, and reports the wall time against the ideal:
// requests ÷ parallelism × latency.
func BenchmarkApply(b *testing.B) {
	for _, latency := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond} {
		for _, par := range []int{1, 4, 10, 32} {
			s := shape{scripts: 1000, perScript: 3, templates: 100}
			if par == 1 && !*benchFull {
				s = shape{scripts: 100, perScript: 3, templates: 10}
			}
			b.Run(fmt.Sprintf("latency=%s/p=%d/changes=%d", latency, par, s.changes()), func(b *testing.B) {
				benchApply(b, s, latency, par)
			})
		}
	}
}

func benchApply(b *testing.B, s shape, latency time.Duration, par int) {
	benchApplyJournal(b, s, latency, par, func(path string, st *state.State) apply.Journal { return state.NewJournal(path, st) })
}

// BenchmarkApplyS3 is BenchmarkApply at 20 ms with the state in S3 (a real
// versitygw on loopback) instead of the local file: the journal changes the
// state in memory and a writer PUTs it whole, group-committed, at most
// every 500 ms; the last PUT is in the wall time. state-puts counts the
// PUTs of the state object.
func BenchmarkApplyS3(b *testing.B) {
	srv := s3test.Start(b)
	srv.Setenv(b)
	s := shape{scripts: 1000, perScript: 3, templates: 100}
	for _, par := range []int{10, 32} {
		b.Run(fmt.Sprintf("latency=20ms/p=%d/changes=%d", par, s.changes()), func(b *testing.B) {
			var backends []*state.S3
			benchApplyJournal(b, s, 20*time.Millisecond, par, func(_ string, st *state.State) apply.Journal {
				backend, err := state.OpenS3(context.Background(), "s3://"+srv.Bucket(b)+"/psync.state.json")
				if err != nil {
					b.Fatal(err)
				}
				backends = append(backends, backend)
				return backend.Journal(context.Background(), st)
			})
			var puts int64
			for _, backend := range backends {
				puts += backend.Puts()
			}
			b.ReportMetric(float64(puts)/float64(len(backends)), "state-puts")
		})
	}
}

// BenchmarkJournal is BenchmarkApply at 5 ms and parallelism 32, where the
// journal weighs most, with the state journal (appends, group-committed),
// with a journal that rewrites the state file once per change, as the
// first journal did, and with one that writes nothing.
func BenchmarkJournal(b *testing.B) {
	s := shape{scripts: 1000, perScript: 3, templates: 100}
	b.Run("group-commit", func(b *testing.B) {
		benchApplyJournal(b, s, 5*time.Millisecond, 32, func(path string, st *state.State) apply.Journal { return state.NewJournal(path, st) })
	})
	b.Run("save-per-change", func(b *testing.B) {
		benchApplyJournal(b, s, 5*time.Millisecond, 32, func(path string, st *state.State) apply.Journal { return &savePerChange{path: path, st: st} })
	})
	b.Run("memory-only", func(b *testing.B) {
		benchApplyJournal(b, s, 5*time.Millisecond, 32, func(path string, st *state.State) apply.Journal { return &memoryOnly{st: st} })
	})
}

// memoryOnly changes the state in memory and writes nothing: what an apply
// would cost with a free journal.
type memoryOnly struct {
	mu sync.Mutex
	st *state.State
}

func (j *memoryOnly) Update(fn func(*state.State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn(j.st)
	return nil
}

// savePerChange saves the whole state after every change, one at a time.
type savePerChange struct {
	mu   sync.Mutex
	path string
	st   *state.State
}

func (j *savePerChange) Update(fn func(*state.State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn(j.st)
	return j.st.Save(j.path)
}

// BenchmarkStateSave saves a state of 1,000 scripts with bodies: the unit
// cost of a journal write.
func BenchmarkStateSave(b *testing.B) {
	s := shape{scripts: 1000}
	st := state.New()
	for i := range s.scripts {
		body := s.body(i)
		st.PutScript(state.Script{ID: fmt.Sprintf("scr_%05d", i), Name: s.scriptName(i), Body: &body, BodySHA256: state.BodyHash(body), IsEnabled: true, Assignments: []string{machine(i), machine(i + 1)}})
	}
	path := filepath.Join(b.TempDir(), state.DefaultFileName)
	for b.Loop() {
		if err := st.Save(path); err != nil {
			b.Fatal(err)
		}
	}
	info, _ := os.Stat(path)
	b.ReportMetric(float64(info.Size())/1024, "file-KiB")
}

func benchApplyJournal(b *testing.B, s shape, latency time.Duration, par int, newJournal func(string, *state.State) apply.Journal) {
	var wall, planTime, closeTime time.Duration
	var requests, runs int
	for range b.N {
		inst := startSandbox(b, sandbox.Faults{Latency: latency})
		dir := b.TempDir()
		m := s.write(b, dir)
		c := newClient(b, inst.URL, inst.Key, 0)
		statePath := filepath.Join(dir, state.DefaultFileName)
		st := state.New()
		if err := st.CheckTarget(c.BaseURL(), inst.TeamID); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		p := planFor(b, c, m, st, c.BaseURL())
		planTime += time.Since(start)
		if len(p.Changes) != s.changes() {
			b.Fatalf("%d changes planned, want %d", len(p.Changes), s.changes())
		}
		inst.Server.ResetStats()
		start = time.Now()
		j := newJournal(statePath, st)
		report, err := apply.Run(context.Background(), p, c, j, apply.Options{Parallelism: par})
		// psync apply folds the journal into the state file before it
		// exits: that is part of the wall time.
		closeStart := time.Now()
		if closer, ok := j.(interface{ Close() error }); ok {
			if cerr := closer.Close(); cerr != nil {
				b.Fatal(cerr)
			}
		}
		closeTime += time.Since(closeStart)
		wall += time.Since(start)
		if err != nil || !report.OK() {
			b.Fatalf("apply: %v %v", err, report.Counts())
		}
		requests += inst.Server.Stats().Total
		runs++
		inst.Close()
	}
	perRun := float64(requests) / float64(runs)
	avg := wall / time.Duration(runs)
	ideal := time.Duration(perRun / float64(par) * float64(latency))
	b.ReportMetric(avg.Seconds(), "wall-s")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(avg.Seconds()/ideal.Seconds(), "ratio")
	b.ReportMetric(perRun, "requests")
	b.ReportMetric((planTime / time.Duration(runs)).Seconds(), "plan-s")
	b.ReportMetric((closeTime / time.Duration(runs)).Seconds(), "fold-s")
	b.ReportMetric(0, "ns/op")
}

// seedTeam creates the objects of s (no assignments) directly through the
// client, and returns the state psync would have journaled for them, so a
// plan of s is a no-op.
func seedTeam(tb testing.TB, c *remote.Client, s shape, apiURL, team string) *state.State {
	tb.Helper()
	st := state.New()
	st.APIURL, st.Team = apiURL, team
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for i := range s.scripts {
		g.Go(func() error {
			body := s.body(i)
			sc, err := c.CreateScript(ctx, remote.ScriptInput{Name: s.scriptName(i), Body: body, IsEnabled: true})
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			st.PutScript(state.Script{ID: sc.ID, Name: sc.Name, Body: &body, BodySHA256: state.BodyHash(body), IsEnabled: true})
			return nil
		})
	}
	for i := range s.templates {
		g.Go(func() error {
			t, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: s.templateName(i), MachineID: machine(i)})
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			st.PutTemplate(state.Template{ID: t.ID, Name: t.Name, MachineID: t.MachineID})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatal(err)
	}
	return st
}

// objects splits n objects into scripts and templates, nine to one.
func objects(n int) shape { return shape{scripts: n * 9 / 10, templates: n / 10} }

// BenchmarkNoopPlan plans a manifest the team already matches, as psync
// plan does (a new client: session, fetch, plan), and reports its requests
// against the fewest the API allows: the session, one request per list
// (the spec's script and template lists are not paged), the OS
// catalogue's pages (a full last page needs one more to see the end), and
// the machine list's 404 (the spec has none).
func BenchmarkNoopPlan(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			s := objects(n)
			inst := startSandbox(b, sandbox.Faults{})
			dir := b.TempDir()
			m := s.write(b, dir)
			c := newClient(b, inst.URL, inst.Key, 0)
			st := seedTeam(b, c, s, c.BaseURL(), inst.TeamID)
			snap, err := c.Fetch(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			minimum := 1 + 2 + (len(snap.OSTemplates)+api.MaxLimit)/api.MaxLimit + 1
			var requests, runs int
			var elapsed time.Duration
			for range b.N {
				inst.Server.ResetStats()
				c := newClient(b, inst.URL, inst.Key, 0)
				start := time.Now()
				p := planFor(b, c, m, st, c.BaseURL())
				elapsed += time.Since(start)
				if !p.Empty() {
					b.Fatalf("the no-op plan has %d changes, e.g. %s %s", len(p.Changes), p.Changes[0].Action, p.Changes[0].Key)
				}
				requests += inst.Server.Stats().Total
				runs++
			}
			perRun := float64(requests) / float64(runs)
			b.ReportMetric(perRun, "requests")
			b.ReportMetric(float64(minimum), "min-requests")
			b.ReportMetric((elapsed / time.Duration(runs)).Seconds(), "plan-s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkNoopPlanMachines is the no-op plan with machine checks: the
// live dialect, whose lists are paged, with 1,000 machines; 200 scripts
// assigned by id (3 machines each) and one by selectors (the six A100
// boxes and the 992 notebooks), applied once, then planned again. It
// reports the requests against the pagination minimum — the session and
// ⌈n/120⌉ pages of each list (scripts, templates, OS catalogue) — plus
// ⌈machines/120⌉ for the machine list.
func BenchmarkNoopPlanMachines(b *testing.B) {
	const machines, scripts = 1_000, 200
	inst, err := sandbox.Start(sandbox.Config{Dialect: sandbox.DialectPaperspace1, Machines: machines}, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { inst.Close() })
	dir := b.TempDir()
	var mf strings.Builder
	mf.WriteString("version: 1\nscripts:\n")
	for i := range scripts {
		fmt.Fprintf(&mf, "  - name: script-%05d\n    script: \"echo %d\\n\"\n", i, i)
	}
	mf.WriteString("  - name: fleet-agent\n    script: \"echo agent\\n\"\nassignments:\n")
	for i := range scripts {
		fmt.Fprintf(&mf, "  - script: script-%05d\n    machines: [psbox%03d, psbox%03d, psbox%03d]\n", i, i*5%machines+1, i*5%machines+2, i*5%machines+3)
	}
	mf.WriteString("  - script: fleet-agent\n    select:\n      - machineType: A100\n        region: ny2\n      - name: \"notebook-*\"\n")
	path := filepath.Join(dir, "psync.yaml")
	if err := os.WriteFile(path, []byte(mf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	m, err := manifest.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	c := newClient(b, inst.URL, inst.Key, 0)
	st := state.New()
	p := planFor(b, c, m, st, c.BaseURL())
	j := state.NewJournal(filepath.Join(dir, state.DefaultFileName), st)
	report, err := apply.Run(context.Background(), p, c, j, apply.Options{Parallelism: 32})
	if cerr := j.Close(); err != nil || cerr != nil || !report.OK() {
		b.Fatalf("apply: %v %v %v", err, cerr, report.Counts())
	}
	snap, err := c.Fetch(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	pages := func(n int) int { return max(1, (n+api.MaxLimit-1)/api.MaxLimit) }
	minimum := 1 + pages(len(snap.Scripts)) + pages(len(snap.Templates)) + pages(len(snap.OSTemplates))
	var requests, machineRequests, runs int
	var elapsed time.Duration
	for range b.N {
		inst.Server.ResetStats()
		c := newClient(b, inst.URL, inst.Key, 0)
		start := time.Now()
		p := planFor(b, c, m, st, c.BaseURL())
		elapsed += time.Since(start)
		if !p.Empty() || p.Refused() || p.RecordsSelections() || len(p.Selections) != 1 {
			b.Fatalf("the no-op plan has %d changes, %d findings, %d selections", len(p.Changes), len(p.Findings), len(p.Selections))
		}
		stats := inst.Server.Stats()
		requests += stats.Total
		machineRequests += stats.Count("GET /machines")
		runs++
	}
	b.ReportMetric(float64(requests)/float64(runs), "requests")
	b.ReportMetric(float64(machineRequests)/float64(runs), "machine-requests")
	b.ReportMetric(float64(minimum), "min-requests")
	b.ReportMetric(float64(pages(machines)), "machine-pages")
	b.ReportMetric((elapsed / time.Duration(runs)).Seconds(), "plan-s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRateLimited applies 300 scripts and 600 assignments at
// parallelism 10 against a sandbox that allows 50 and then 100 requests per
// second (burst: one second's worth; 429 with Retry-After beyond), with
// the client at its default (no limit: it learns the API's from the 429s)
// and with --rate-limit set to the server's rate, and reports throughput
// and 429s. Sustained is what was accepted beyond the server's initial
// burst, per second of the run; the goal at the defaults is at least 90%
// of the limit with under 2% of the requests answered 429.
func BenchmarkRateLimited(b *testing.B) {
	s := shape{scripts: 300, perScript: 2}
	for _, rps := range []float64{50, 100} {
		for _, clientRate := range []float64{0, rps} {
			b.Run(fmt.Sprintf("server-rps=%g/client-rate-limit=%g", rps, clientRate), func(b *testing.B) {
				benchRateLimited(b, s, rps, clientRate)
			})
		}
	}
}

func benchRateLimited(b *testing.B, s shape, rps, clientRate float64) {
	var wall time.Duration
	var requests, throttled, runs int
	for range b.N {
		inst := startSandbox(b, sandbox.Faults{Latency: 2 * time.Millisecond, RPS: rps})
		dir := b.TempDir()
		m := s.write(b, dir)
		c := newClient(b, inst.URL, inst.Key, clientRate)
		st := state.New()
		st.CheckTarget(c.BaseURL(), inst.TeamID)
		start := time.Now()
		p := planFor(b, c, m, st, c.BaseURL())
		j := state.NewJournal(filepath.Join(dir, state.DefaultFileName), st)
		stopTrace := make(chan struct{})
		if os.Getenv("BENCH_TRACE") != "" {
			go func() {
				for {
					select {
					case <-stopTrace:
						return
					case <-time.After(250 * time.Millisecond):
					}
					tr := c.Throttle()
					st := c.Stats()
					fmt.Fprintf(os.Stderr, "%6.2fs rate %.1f learnt %v holding %v requests %d 429s %d\n", time.Since(start).Seconds(), tr.Rate, tr.Learnt, tr.Holding, st.Requests, st.Throttled)
				}
			}()
		}
		report, err := apply.Run(context.Background(), p, c, j, apply.Options{Parallelism: 10})
		close(stopTrace)
		if cerr := j.Close(); cerr != nil {
			b.Fatal(cerr)
		}
		wall += time.Since(start)
		if err != nil || !report.OK() {
			b.Fatalf("apply: %v %v", err, report.Counts())
		}
		stats := inst.Server.Stats()
		requests += stats.Total
		for _, byStatus := range stats.Requests {
			throttled += byStatus[429]
		}
		runs++
		inst.Close()
	}
	avg := wall / time.Duration(runs)
	accepted := float64(requests-throttled) / float64(runs)
	sustained := max(0, accepted-rps) / avg.Seconds()
	b.ReportMetric(avg.Seconds(), "wall-s")
	b.ReportMetric(accepted/avg.Seconds(), "accepted-req/s")
	b.ReportMetric(sustained, "sustained-req/s")
	b.ReportMetric(100*sustained/rps, "%-of-limit")
	b.ReportMetric(float64(throttled)/float64(runs), "429s")
	b.ReportMetric(100*float64(throttled)/float64(requests), "%-429")
	// The server's bucket starts full: one second's worth of burst.
	b.ReportMetric(max(0, accepted-rps)/rps, "ideal-s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPlanMemory measures the peak heap in use while psync plans
// 10,000 objects it already manages: loading the manifest and the state,
// the session, the fetch and the plan. The sandbox runs in a child process
// so that only the client's heap is measured.
func BenchmarkPlanMemory(b *testing.B) {
	const n = 10_000
	s := objects(n)
	url, key := childSandbox(b)
	dir := b.TempDir()
	s.write(b, dir)
	seeder := newClient(b, url, key, 0)
	team, _ := seeder.Session(context.Background())
	st := seedTeam(b, seeder, s, seeder.BaseURL(), team)
	statePath := filepath.Join(dir, state.DefaultFileName)
	if err := st.Save(statePath); err != nil {
		b.Fatal(err)
	}
	st, seeder = nil, nil
	var peak, base uint64
	for range b.N {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base = ms.HeapInuse
		stop := sampleHeap()
		m, err := manifest.Load(filepath.Join(dir, "psync.yaml"))
		if err != nil {
			b.Fatal(err)
		}
		st, err := state.Load(statePath)
		if err != nil {
			b.Fatal(err)
		}
		c := newClient(b, url, key, 0)
		p := planFor(b, c, m, st, c.BaseURL())
		peak = max(peak, stop())
		if !p.Empty() {
			b.Fatalf("%d changes", len(p.Changes))
		}
		runtime.KeepAlive(m)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peak-base)/(1<<20), "above-baseline-MiB")
	b.ReportMetric(0, "ns/op")
}

// sampleHeap samples HeapInuse every millisecond until the returned func
// is called, which returns the highest sample (and a last one).
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak.Load() {
			peak.Store(ms.HeapInuse)
		}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		sample()
		return peak.Load()
	}
}

// childSandbox starts this test binary as a sandbox server and returns its
// URL and key; it stops when the benchmark ends.
func childSandbox(tb testing.TB) (url, key string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BENCH_SANDBOX_SERVE=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("child sandbox: %v", err)
	}
	url, key, _ = strings.Cut(strings.TrimSpace(line), " ")
	return url, key
}

// TestShapes checks the suite's own arithmetic quickly (it is what go test
// runs without -bench): a manifest of a shape plans its changes() changes
// into an empty team, and none once seeded.
func TestShapes(t *testing.T) {
	s := shape{scripts: 12, perScript: 3, templates: 2}
	inst := startSandbox(t, sandbox.Faults{})
	m := s.write(t, t.TempDir())
	c := newClient(t, inst.URL, inst.Key, 0)
	if p := planFor(t, c, m, state.New(), c.BaseURL()); len(p.Changes) != s.changes() {
		t.Errorf("%d changes into an empty team, want %d", len(p.Changes), s.changes())
	}
	o := objects(20)
	m = o.write(t, t.TempDir())
	inst2 := startSandbox(t, sandbox.Faults{})
	c2 := newClient(t, inst2.URL, inst2.Key, 0)
	st := seedTeam(t, c2, o, c2.BaseURL(), inst2.TeamID)
	if p := planFor(t, c2, m, st, c2.BaseURL()); !p.Empty() {
		t.Errorf("a seeded team plans %d changes, want none", len(p.Changes))
	}
}
