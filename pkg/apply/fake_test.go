package apply_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// fakeAPI is an in-memory remote.Writer that behaves like the API (ids,
// 404 for unknown objects, idempotent assigns) and records what it was
// asked, when, and how many calls overlapped.
type fakeAPI struct {
	// Latency is how long every call takes; Slow overrides it per object
	// key ("script/NAME", "template/NAME", "assignment/NAME/MACHINE").
	Latency time.Duration
	Slow    map[string]time.Duration
	// Fail makes the calls on an object key fail with this error.
	Fail map[string]error
	// OnCall, if set, runs at the start of every call (outside the lock).
	OnCall func(call)

	mu          sync.Mutex
	nextID      int
	scripts     map[string]remote.Script // by id
	bodies      map[string]string
	templates   map[string]remote.Template
	calls       []call
	inFlight    int
	peak        int
	assignments map[string][]string // script id → machines
}

// call is one recorded Writer call.
type call struct {
	Op  string // CreateScript, AssignScript, ...
	Key string // the object key
	ID  string // the id acted on (empty for creates)
	// Start and End order calls in time.
	Start, End time.Time
}

// notFound is the fake's 404, as the client reports it.
func notFound(op, kind, id string) error {
	return &remote.Error{Op: op, Kind: kind, ID: id, Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "not found"}
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{
		scripts:     map[string]remote.Script{},
		bodies:      map[string]string{},
		templates:   map[string]remote.Template{},
		assignments: map[string][]string{},
	}
}

// seedScript and seedTemplate put existing objects in the fake.
func (f *fakeAPI) seedScript(id, name string, machines ...string) {
	f.scripts[id] = remote.Script{ID: id, Name: name, IsEnabled: true}
	f.assignments[id] = machines
}

func (f *fakeAPI) seedTemplate(id, name, machine string) {
	f.templates[id] = remote.Template{ID: id, Name: name, MachineID: machine}
}

// do runs one call: it waits the latency (concurrently with other calls),
// then applies fn under the lock.
func (f *fakeAPI) do(ctx context.Context, op, key, id string, fn func() error) error {
	c := call{Op: op, Key: key, ID: id, Start: time.Now()}
	if f.OnCall != nil {
		f.OnCall(c)
	}
	f.mu.Lock()
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	f.mu.Unlock()
	d := f.Latency
	if s, ok := f.Slow[key]; ok {
		d = s
	}
	if d > 0 {
		time.Sleep(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	c.End = time.Now()
	f.calls = append(f.calls, c)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.Fail[key]; err != nil {
		return err
	}
	return fn()
}

func (f *fakeAPI) newID(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s%03d", prefix, f.nextID)
}

// scriptName names a script by id for keys; unknown ids keep the id.
func (f *fakeAPI) scriptName(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.scripts[id]; ok {
		return s.Name
	}
	return id
}

func (f *fakeAPI) templateName(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.templates[id]; ok {
		return t.Name
	}
	return id
}

func (f *fakeAPI) CreateScript(ctx context.Context, in remote.ScriptInput) (remote.Script, error) {
	var s remote.Script
	err := f.do(ctx, "CreateScript", "script/"+in.Name, "", func() error {
		s = remote.Script{ID: f.newID("scr"), Name: in.Name, RunOnce: in.RunOnce, IsEnabled: in.IsEnabled}
		f.scripts[s.ID] = s
		f.bodies[s.ID] = in.Body
		return nil
	})
	return s, err
}

func (f *fakeAPI) UpdateScript(ctx context.Context, id string, in remote.ScriptInput) (remote.Script, error) {
	var s remote.Script
	err := f.do(ctx, "UpdateScript", "script/"+f.scriptName(id), id, func() error {
		if _, ok := f.scripts[id]; !ok {
			return notFound("update", "script", id)
		}
		s = remote.Script{ID: id, Name: in.Name, RunOnce: in.RunOnce, IsEnabled: in.IsEnabled}
		f.scripts[id] = s
		f.bodies[id] = in.Body
		return nil
	})
	return s, err
}

func (f *fakeAPI) DeleteScript(ctx context.Context, id string) error {
	return f.do(ctx, "DeleteScript", "script/"+f.scriptName(id), id, func() error {
		if _, ok := f.scripts[id]; !ok {
			return notFound("delete", "script", id)
		}
		delete(f.scripts, id)
		delete(f.assignments, id)
		return nil
	})
}

func (f *fakeAPI) AssignScript(ctx context.Context, id, machine string) error {
	return f.do(ctx, "AssignScript", "assignment/"+f.scriptName(id)+"/"+machine, id, func() error {
		if _, ok := f.scripts[id]; !ok {
			return notFound("assign", "script", id)
		}
		if !slices.Contains(f.assignments[id], machine) {
			f.assignments[id] = append(f.assignments[id], machine)
		}
		return nil
	})
}

func (f *fakeAPI) UnassignScript(ctx context.Context, id, machine string) error {
	return f.do(ctx, "UnassignScript", "assignment/"+f.scriptName(id)+"/"+machine, id, func() error {
		if _, ok := f.scripts[id]; !ok {
			return notFound("unassign", "script", id)
		}
		f.assignments[id] = slices.DeleteFunc(f.assignments[id], func(m string) bool { return m == machine })
		return nil
	})
}

func (f *fakeAPI) CreateTemplate(ctx context.Context, in remote.TemplateInput) (remote.Template, error) {
	var t remote.Template
	err := f.do(ctx, "CreateTemplate", "template/"+in.Name, "", func() error {
		t = remote.Template{ID: f.newID("tpl"), Name: in.Name, MachineID: in.MachineID, Note: in.Note}
		f.templates[t.ID] = t
		return nil
	})
	return t, err
}

func (f *fakeAPI) UpdateTemplate(ctx context.Context, id string, in remote.TemplateInput) (remote.Template, error) {
	var t remote.Template
	err := f.do(ctx, "UpdateTemplate", "template/"+f.templateName(id), id, func() error {
		cur, ok := f.templates[id]
		if !ok {
			return notFound("update", "template", id)
		}
		cur.Name, cur.Note = in.Name, in.Note
		f.templates[id] = cur
		t = cur
		return nil
	})
	return t, err
}

func (f *fakeAPI) DeleteTemplate(ctx context.Context, id string) error {
	return f.do(ctx, "DeleteTemplate", "template/"+f.templateName(id), id, func() error {
		if _, ok := f.templates[id]; !ok {
			return notFound("delete", "template", id)
		}
		delete(f.templates, id)
		return nil
	})
}

// Calls returns the recorded calls in the order they finished.
func (f *fakeAPI) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeAPI) Peak() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peak
}

// Objects describes what the fake holds, sorted, for comparisons:
// "script NAME [m1 m2]", "template NAME on MACHINE".
func (f *fakeAPI) Objects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, s := range f.scripts {
		m := slices.Clone(f.assignments[id])
		slices.Sort(m)
		out = append(out, fmt.Sprintf("script %s %v", s.Name, m))
	}
	for _, t := range f.templates {
		out = append(out, fmt.Sprintf("template %s on %s", t.Name, t.MachineID))
	}
	sort.Strings(out)
	return out
}

// memJournal is an in-memory Journal that counts its updates and can be
// told to fail.
type memJournal struct {
	mu      sync.Mutex
	state   *state.State
	updates int
	// FailAfter, when > 0, makes every update after that many fail.
	FailAfter int
	// Delay is how long each save takes (an encode and an fsync).
	Delay time.Duration
}

func newMemJournal(st *state.State) *memJournal {
	if st == nil {
		st = &state.State{}
	}
	return &memJournal{state: st}
}

func (j *memJournal) Update(fn func(*state.State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.FailAfter > 0 && j.updates >= j.FailAfter {
		return fmt.Errorf("disk full")
	}
	fn(j.state)
	time.Sleep(j.Delay)
	j.updates++
	j.state.Serial++
	return nil
}

// snapshot returns a copy of the state and the update count.
func (j *memJournal) snapshot() (state.State, int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := *j.state
	st.Scripts = slices.Clone(st.Scripts)
	for i := range st.Scripts {
		st.Scripts[i].Assignments = slices.Clone(st.Scripts[i].Assignments)
	}
	st.Templates = slices.Clone(st.Templates)
	return st, j.updates
}
