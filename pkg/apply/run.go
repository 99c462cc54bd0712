package apply

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// DefaultParallelism is the limit of changes in flight when Options leaves
// it zero.
const DefaultParallelism = 10

// Options tune Run.
type Options struct {
	// Parallelism is the most changes making API calls at once: 0 means
	// DefaultParallelism, below 0 is an error. A change waiting for its
	// journal save does not count: the state journal shares one save among
	// the changes that finish meanwhile (group commit), and a save must not
	// hold back other changes' calls.
	Parallelism int
	// DryRun walks the same executor with a Writer that records the calls
	// and succeeds, and a journal that persists nothing: no API write and
	// no state write happen, whatever w and j are.
	DryRun bool
	// OnEvent, if set, receives progress. Run calls it from its workers but
	// never concurrently, so it needs no lock of its own; it should return
	// quickly, as it holds up the other workers' events.
	OnEvent func(Event)
	// Now is the clock, for tests; time.Now when nil.
	Now func() time.Time
}

// Run applies the plan's changes through w, journaling each success into j,
// and returns a report listing every change in plan order.
//
// A change starts as soon as the changes it depends on are done, with at
// most opts.Parallelism in flight. A failed change skips its transitive
// dependants (SkippedBecause names it) and nothing else. A failed change is
// not an error of Run: it is in the report, and Report.OK is false.
//
// When ctx is cancelled (Ctrl-C) Run starts nothing new, lets the changes in
// flight finish (their API calls and journaling are not cancelled), marks
// the rest Pending and returns the report, with Interrupted set, and
// ctx.Err().
//
// Run returns a nil report and an error, before doing anything, when the
// plan is malformed: a duplicate key, or a dependency that is unknown or
// that does not come earlier in the plan.
func Run(ctx context.Context, p *plan.Plan, w remote.Writer, j Journal, opts Options) (*Report, error) {
	if opts.Parallelism == 0 {
		opts.Parallelism = DefaultParallelism
	}
	if opts.Parallelism < 1 {
		return nil, fmt.Errorf("apply: parallelism must be at least 1, not %d", opts.Parallelism)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g, err := newGraph(p)
	if err != nil {
		return nil, err
	}
	// The one place a dry run differs: what the executor writes to.
	if opts.DryRun {
		w, j = newDryRunWriter(), scratchJournal{}
	}
	// First, what the API says of owned objects that the state records
	// otherwise: the changes below are planned against it.
	if len(p.Refresh) > 0 || len(p.Settled) > 0 {
		if err := j.Update(func(s *state.State) {
			for _, r := range p.Refresh {
				r.Apply(s)
			}
			for _, d := range p.Settled {
				d.Apply(s)
			}
		}); err != nil {
			return nil, fmt.Errorf("apply: record the refreshed objects: %w", err)
		}
	}
	r := &runner{
		plan:    p,
		graph:   g,
		w:       w,
		j:       j,
		opts:    opts,
		results: make([]Result, len(p.Changes)),
		ids:     make([]string, len(p.Changes)),
	}
	for i, c := range p.Changes {
		r.results[i].Change = c
	}
	r.start = opts.Now()
	r.loop(ctx)
	// Last, what the selectors matched, for the next plan's safety rule
	// (a selector that matched machines and matches none now). Recorded
	// whatever became of the changes, interrupted or not: it is what the
	// manifest's rule resolved to, not what was assigned.
	recordErr := r.recordSelections()
	// An interrupt that came once everything was finished interrupted
	// nothing.
	r.interrupted = r.interrupted && slices.ContainsFunc(r.results, func(res Result) bool { return res.Status == Pending })
	report := &Report{
		Results:     r.results,
		Elapsed:     opts.Now().Sub(r.start),
		DryRun:      opts.DryRun,
		Interrupted: r.interrupted,
		Parallelism: opts.Parallelism,
	}
	if r.interrupted {
		return report, ctx.Err()
	}
	return report, recordErr
}

// graph is the plan's dependency graph, by index into plan.Changes.
type graph struct {
	deps       [][]int
	dependants [][]int
	byKey      map[string]int
}

func newGraph(p *plan.Plan) (*graph, error) {
	g := &graph{
		deps:       make([][]int, len(p.Changes)),
		dependants: make([][]int, len(p.Changes)),
		byKey:      make(map[string]int, len(p.Changes)),
	}
	for i, c := range p.Changes {
		if _, dup := g.byKey[c.Key]; dup {
			return nil, fmt.Errorf("apply: malformed plan: two changes have the key %q", c.Key)
		}
		g.byKey[c.Key] = i
	}
	for i, c := range p.Changes {
		for _, k := range c.DependsOn {
			d, ok := g.byKey[k]
			switch {
			case !ok:
				return nil, fmt.Errorf("apply: malformed plan: %s depends on %q, which is not in the plan", c.Key, k)
			case d >= i:
				// Plan order is dependency order; this also rules out cycles.
				return nil, fmt.Errorf("apply: malformed plan: %s depends on %s, which comes after it", c.Key, k)
			}
			g.deps[i] = append(g.deps[i], d)
			g.dependants[d] = append(g.dependants[d], i)
		}
	}
	return g, nil
}

// runner is the state of one Run.
type runner struct {
	plan  *plan.Plan
	graph *graph
	w     remote.Writer
	j     Journal
	opts  Options
	start time.Time

	// results[i] and ids[i] are written by the worker running change i
	// before it reports on finished, and by the dispatcher otherwise; the
	// channel orders the two.
	results []Result
	// ids[i] is the remote id change i produced (creates and replaces),
	// which its dependants (assigns of a new script) need.
	ids         []string
	interrupted bool
	// recording tracks the goroutines journaling finished API calls.
	recording sync.WaitGroup

	eventMu  sync.Mutex
	finished int
}

// message tells the dispatcher about change i: its API calls are over
// (its slot is free), or it is finished (done or failed, journaled).
type message struct {
	i        int
	finished bool
}

// loop is the dispatcher: it launches ready changes, lowest plan index
// first, while fewer than Parallelism are making API calls, and settles
// each as it finishes. A change's journaling happens after its slot is
// freed: the limit is on concurrent API calls, and a change waiting for a
// state save should not keep another from calling the API.
func (r *runner) loop(ctx context.Context) {
	var g errgroup.Group
	g.SetLimit(r.opts.Parallelism)
	// In-flight changes finish even after an interrupt: a write cut in the
	// middle is the ambiguous case we would rather not create ourselves.
	work := context.WithoutCancel(ctx)

	n := len(r.plan.Changes)
	waiting := make([]int, n)
	ready := &indexHeap{}
	for i := range n {
		waiting[i] = len(r.graph.deps[i])
		if waiting[i] == 0 {
			*ready = append(*ready, i)
		}
	}
	heap.Init(ready)
	// Buffered for two messages per change, so that no sender ever blocks
	// and an errgroup slot is released promptly.
	msgs := make(chan message, 2*n)
	calling, unfinished, step := 0, 0, 0
	cancelled := ctx.Done()
	for {
		if ctx.Err() != nil {
			r.interrupted = true
		}
		for !r.interrupted && calling < r.opts.Parallelism && ready.Len() > 0 {
			i := heap.Pop(ready).(int)
			step++
			r.results[i].Step = step
			calling++
			unfinished++
			// g.Go blocks only while a worker that already said its slot
			// is free has not yet returned: calling counts below the
			// errgroup's own tally, which stays the hard limit.
			g.Go(func() error {
				r.execute(work, i, msgs)
				return nil
			})
		}
		if unfinished == 0 && calling == 0 {
			break
		}
		select {
		case m := <-msgs:
			if !m.finished {
				calling--
				continue
			}
			unfinished--
			r.settle(m.i, waiting, ready)
		case <-cancelled:
			cancelled = nil // seen; keep draining the changes in flight
		}
	}
	_ = g.Wait() // workers never return errors; results carry them
	r.recording.Wait()
}

// settle makes the dependants of a done change ready when it was their last
// dependency, or skips them all when it failed.
func (r *runner) settle(i int, waiting []int, ready *indexHeap) {
	if r.results[i].Status != Done {
		r.skipDependants(i)
		return
	}
	for _, d := range r.graph.dependants[i] {
		waiting[d]--
		if waiting[d] == 0 && r.results[d].Status == Pending {
			heap.Push(ready, d)
		}
	}
}

// skipDependants marks every change that transitively depends on the failed
// change i as Skipped because of it. A change already skipped (because of an
// earlier failure) keeps its first reason.
func (r *runner) skipDependants(i int) {
	cause := r.plan.Changes[i].Key
	stack := append([]int(nil), r.graph.dependants[i]...)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r.results[d].Status == Skipped {
			continue
		}
		r.results[d].Status = Skipped
		r.results[d].SkippedBecause = cause
		r.finish(r.results[d])
		stack = append(stack, r.graph.dependants[d]...)
	}
}

// execute runs change i's API calls, frees its slot, and then journals it
// on another goroutine, which reports it finished.
func (r *runner) execute(ctx context.Context, i int, msgs chan<- message) {
	c := r.plan.Changes[i]
	r.emit(Event{Kind: EventStarted, Result: Result{Change: c, Step: r.results[i].Step}})
	began := r.opts.Now()
	// A long call (an asynchronous template creation) reports how far it
	// has come; the change shows as in progress meanwhile.
	ctx = remote.WithProgress(ctx, func(msg string) {
		r.emit(Event{Kind: EventProgress, Result: Result{Change: c, Step: r.results[i].Step}, Message: msg})
	})
	id, record, err := r.perform(ctx, c)
	if err != nil {
		r.complete(i, began, "", err)
		msgs <- message{i: i}
		msgs <- message{i: i, finished: true}
		return
	}
	// The slot is free before the change can be finished, so the
	// dispatcher always hears of the two in this order. The event comes
	// first: a change the dispatcher starts in the freed slot is never
	// shown in progress beside this one.
	r.emit(Event{Kind: EventSaving, Result: Result{Change: c, Step: r.results[i].Step}})
	msgs <- message{i: i}
	r.recording.Add(1)
	go func() {
		defer r.recording.Done()
		r.complete(i, began, id, r.journal(c, id, record))
		msgs <- message{i: i, finished: true}
	}()
}

// complete records change i's result and reports it.
func (r *runner) complete(i int, began time.Time, id string, err error) {
	res := &r.results[i]
	res.Started = began.Sub(r.start)
	res.Duration = r.opts.Now().Sub(began)
	if err != nil {
		res.Status, res.Err, res.Error = Failed, err, err.Error()
	} else {
		res.Status = Done
		r.ids[i] = id
	}
	r.finish(*res)
}

// finish reports a change that will not change status again.
func (r *runner) finish(res Result) {
	r.eventMu.Lock()
	defer r.eventMu.Unlock()
	r.finished++
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(Event{Kind: EventFinished, Result: res, Done: r.finished, Total: len(r.plan.Changes)})
	}
}

func (r *runner) emit(e Event) {
	if r.opts.OnEvent == nil {
		return
	}
	r.eventMu.Lock()
	defer r.eventMu.Unlock()
	e.Done, e.Total = r.finished, len(r.plan.Changes)
	r.opts.OnEvent(e)
}

// indexHeap is a min-heap of change indexes: among ready changes, the one
// the plan lists first starts first, which keeps the schedule close to the
// plan a person read.
type indexHeap []int

func (h indexHeap) Len() int           { return len(h) }
func (h indexHeap) Less(a, b int) bool { return h[a] < h[b] }
func (h indexHeap) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *indexHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *indexHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// recordSelections journals what the plan's selectors matched, where the
// state records otherwise (ScriptSelection.Record): of scripts that exist,
// and of those this run created.
func (r *runner) recordSelections() error {
	var todo []plan.ScriptSelection
	var ids []string
	for _, sel := range r.plan.Selections {
		if !sel.Record {
			continue
		}
		id := sel.ScriptID
		if id == "" {
			if i, ok := r.graph.byKey["script/"+sel.Script]; ok && r.results[i].Status == Done {
				id = r.ids[i]
			}
		}
		if id != "" {
			todo, ids = append(todo, sel), append(ids, id)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if err := r.j.Update(func(s *state.State) {
		for i, sel := range todo {
			sel.Apply(s, ids[i])
		}
	}); err != nil {
		return fmt.Errorf("apply: record what the selectors matched: %w", err)
	}
	return nil
}
