package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

var seedFlag = flag.Int64("seed", -1, "run only this chaos seed (TestChaos)")

// chaosSeeds are the seeds TestChaos runs by default. A failure names its
// seed; rerun it alone with -run TestChaos -seed N.
var chaosSeeds = []int64{
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
	21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
	31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50,
	1001, 7777, 31337, 424242,
}

// chaosFaults is one API request in five going wrong: 500/503, 429, and a
// write that is made and then answered 500 or cut off. Latency is small so
// that a seed takes a fraction of a second. Retry-After is 0: the test is
// about correctness, not about waiting.
func chaosFaults(seed int64) sandbox.Faults {
	return sandbox.Faults{
		Latency: time.Millisecond, Jitter: time.Millisecond,
		ErrorRate: 0.05, ThrottleRate: 0.05, AmbiguousRate: 0.10,
		Seed: seed, RetryAfter: -1,
	}
}

const chaosSteps = 5 // edit steps after the initial apply

// TestChaos applies, for each seed, a random manifest and then random edits
// of it against a faulty sandbox. After each step (at most two applies) a
// fresh plan without faults is empty, the sandbox's dump is exactly the
// manifest, no name is duplicated, and the state file agrees with the dump.
func TestChaos(t *testing.T) {
	seeds := chaosSeeds
	if *seedFlag >= 0 {
		seeds = []int64{*seedFlag}
	} else if testing.Short() {
		seeds = seeds[:10]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel() // mostly waiting on injected latency
			runChaos(t, seed)
		})
	}
}

// world is the desired state the test keeps, from which it writes the
// manifest and against which it checks the remote.
type world struct {
	scripts   []*wScript
	templates []*wTemplate
}

type wScript struct {
	name, body                    string
	runOnce, isEnabled, sensitive bool
	inFile                        bool     // body in scripts/NAME.sh rather than inline
	prev                          []string // previousNames, for the step that renames
	machines                      []string // sorted
}

type wTemplate struct {
	name, machine, note string
	prev                []string
}

var machines = []string{"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006", "psbox007", "psbox008", "psbox009", "psbox010"}

// gen draws everything random from one seed.
type gen struct {
	r       *rand.Rand
	seed    int64
	counter int
	// taken are the names a step must not reuse: current names and the
	// step's previousNames (the manifest refuses a previous name that is
	// also a current one).
	taken map[string]bool
}

func (g *gen) body() string {
	g.counter++
	var b strings.Builder
	if g.r.IntN(4) > 0 {
		b.WriteString("#!/bin/bash\nset -eu\n")
	}
	for i := range 1 + g.r.IntN(4) {
		fmt.Fprintf(&b, "echo 'seed %d body %d line %d' # %x\n", g.seed, g.counter, i, g.r.Uint32())
	}
	if g.r.IntN(5) == 0 {
		b.WriteString("exit 0") // no final newline
	}
	return b.String()
}

func (g *gen) machineSet() []string {
	var out []string
	for _, m := range machines {
		if g.r.IntN(3) == 0 {
			out = append(out, m)
		}
	}
	return out
}

// freshName picks an unused name from a small pool, so that names of
// deleted and renamed objects come back.
func (g *gen) freshName(prefix string, pool int) (string, bool) {
	for range 50 {
		n := fmt.Sprintf("%s-%02d", prefix, g.r.IntN(pool))
		if !g.taken[n] {
			g.taken[n] = true
			return n, true
		}
	}
	return "", false
}

func (g *gen) newScript() *wScript {
	name, ok := g.freshName("script", 30)
	if !ok {
		return nil
	}
	return &wScript{
		name: name, body: g.body(),
		runOnce: g.r.IntN(3) == 0, isEnabled: g.r.IntN(4) > 0, sensitive: g.r.IntN(6) == 0,
		inFile: g.r.IntN(2) == 0, machines: g.machineSet(),
	}
}

func (g *gen) newTemplate() *wTemplate {
	name, ok := g.freshName("tmpl", 12)
	if !ok {
		return nil
	}
	t := &wTemplate{name: name, machine: machines[g.r.IntN(len(machines))]}
	if g.r.IntN(2) == 0 {
		t.note = fmt.Sprintf("note %x", g.r.Uint32())
	}
	return t
}

// edit makes one random edit to w and describes it.
func (g *gen) edit(w *world) string {
	ns, nt := len(w.scripts), len(w.templates)
	k := g.r.IntN(12)
	if nt == 0 && k >= 8 {
		k = 1 // no template to edit: add one
	}
	switch {
	case k == 0 || ns == 0:
		if s := g.newScript(); s != nil {
			w.scripts = append(w.scripts, s)
			return "add script " + s.name
		}
	case k == 1 || nt == 0 && k < 4:
		if t := g.newTemplate(); t != nil {
			w.templates = append(w.templates, t)
			return "add template " + t.name
		}
	case k == 2:
		s := w.scripts[g.r.IntN(ns)]
		s.body = g.body()
		return "change body of " + s.name
	case k == 3:
		s := w.scripts[g.r.IntN(ns)]
		switch g.r.IntN(3) {
		case 0:
			s.runOnce = !s.runOnce
			return "toggle runOnce of " + s.name
		case 1:
			s.isEnabled = !s.isEnabled
			return "toggle isEnabled of " + s.name
		default:
			s.sensitive = !s.sensitive
			return "toggle sensitive of " + s.name
		}
	case k == 4:
		s := w.scripts[g.r.IntN(ns)]
		if len(s.prev) > 0 {
			break // renamed once this step already
		}
		name, ok := g.freshName("script", 30)
		if !ok {
			break
		}
		old := s.name
		s.prev, s.name = []string{old}, name
		return "rename script " + old + " to " + name
	case k == 5:
		i := g.r.IntN(ns)
		name := w.scripts[i].name
		w.scripts = slices.Delete(w.scripts, i, i+1)
		return "delete script " + name
	case k == 6 || k == 7:
		s := w.scripts[g.r.IntN(ns)]
		s.machines = g.machineSet()
		return fmt.Sprintf("reassign %s to %v", s.name, s.machines)
	case k == 8:
		t := w.templates[g.r.IntN(nt)]
		t.note = fmt.Sprintf("note %x", g.r.Uint32())
		return "change note of " + t.name
	case k == 9:
		t := w.templates[g.r.IntN(nt)]
		t.machine = machines[g.r.IntN(len(machines))]
		return "move template " + t.name + " to " + t.machine
	case k == 10:
		t := w.templates[g.r.IntN(nt)]
		if len(t.prev) > 0 {
			break
		}
		name, ok := g.freshName("tmpl", 12)
		if !ok {
			break
		}
		old := t.name
		t.prev, t.name = []string{old}, name
		return "rename template " + old + " to " + name
	default:
		i := g.r.IntN(nt)
		name := w.templates[i].name
		w.templates = slices.Delete(w.templates, i, i+1)
		return "delete template " + name
	}
	return "nothing"
}

// beginStep forgets the last step's renames and marks the current names
// taken.
func (g *gen) beginStep(w *world) {
	g.taken = map[string]bool{}
	for _, s := range w.scripts {
		s.prev = nil
		g.taken[s.name] = true
	}
	for _, t := range w.templates {
		t.prev = nil
		g.taken[t.name] = true
	}
}

// chaosEnv is one seed's sandbox, client and workspace.
type chaosEnv struct {
	inst      *sandbox.Instance
	dir       string // the manifest's directory
	statePath string
	target    string
	faults    sandbox.Faults
	applies   int
}

func runChaos(t *testing.T, seed int64) {
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (rerun: go test ./e2e -run TestChaos -seed %d): %s", seed, seed, fmt.Sprintf(format, args...))
	}
	inst, err := sandbox.Start(sandbox.Config{DataDir: t.TempDir(), Faults: chaosFaults(seed)}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	dir := t.TempDir()
	env := &chaosEnv{inst: inst, dir: dir, statePath: filepath.Join(dir, state.DefaultFileName), target: inst.URL, faults: chaosFaults(seed)}

	g := &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x5eed)), seed: seed}
	w := &world{}
	g.beginStep(w)
	for range 3 + g.r.IntN(10) {
		if s := g.newScript(); s != nil {
			w.scripts = append(w.scripts, s)
		}
	}
	for range g.r.IntN(5) {
		if tp := g.newTemplate(); tp != nil {
			w.templates = append(w.templates, tp)
		}
	}
	var history []string
	for step := 0; step <= chaosSteps; step++ {
		if step > 0 {
			g.beginStep(w)
			var edits []string
			for range 1 + g.r.IntN(4) {
				edits = append(edits, g.edit(w))
			}
			history = append(history, fmt.Sprintf("step %d: %s", step, strings.Join(edits, "; ")))
		} else {
			history = append(history, fmt.Sprintf("step 0: %d scripts, %d templates", len(w.scripts), len(w.templates)))
		}
		if err := writeManifest(dir, w); err != nil {
			t.Fatal(err)
		}
		m, err := manifest.Load(filepath.Join(dir, "psync.yaml"))
		if err != nil {
			fail("%s\nload manifest: %v", strings.Join(history, "\n"), err)
		}
		// The first apply gives up on a request after 2 attempts, so that
		// some changes fail, some after a write was made (ambiguous); the
		// second, like a user re-running, is patient.
		var outcome []string
		for attempt := 1; attempt <= 2; attempt++ {
			report, err := env.applyOnce(m, map[int]int{1: 2, 2: 10}[attempt])
			if err == nil && report.OK() {
				outcome = append(outcome, fmt.Sprintf("apply %d: ok (%d changes)", attempt, len(report.Results)))
				break
			}
			outcome = append(outcome, fmt.Sprintf("apply %d: %v %s", attempt, err, failures(report)))
		}
		if msg := env.verify(m, w); msg != "" {
			fail("%s\n%s\nafter step %d: %s", strings.Join(history, "\n"), strings.Join(outcome, "\n"), step, msg)
		}
		history = append(history, "  "+strings.Join(outcome, "; "))
	}
	if testing.Verbose() {
		t.Logf("seed %d:\n%s", seed, strings.Join(history, "\n"))
	}
}

func failures(r *apply.Report) string {
	if r == nil {
		return ""
	}
	var out []string
	for _, res := range r.Results {
		if res.Status != apply.Done {
			out = append(out, fmt.Sprintf("%s %s: %s", res.Change.Key, res.Status, res.Error))
		}
	}
	return strings.Join(out, "; ")
}

// applyOnce does what psync apply does: lock, load the state, check its
// target, fetch, plan, and run with the state journal.
func (e *chaosEnv) applyOnce(m *manifest.Manifest, attempts ...int) (*apply.Report, error) {
	ctx := context.Background()
	lock, err := state.Lock(e.statePath)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	st, err := state.Load(e.statePath)
	if err != nil {
		return nil, err
	}
	if err := st.CheckTarget(e.target, e.inst.TeamID); err != nil {
		return nil, err
	}
	client, err := e.newClient(attempts...)
	if err != nil {
		return nil, err
	}
	p, err := e.plan(ctx, client, m, st)
	if err != nil {
		return nil, err
	}
	journal := state.NewJournal(e.statePath, st)
	report, err := apply.Run(ctx, p, client, journal, apply.Options{Parallelism: 8})
	// Every other apply ends as a killed one does, without folding its
	// journal into the state file: the next Load replays it.
	if e.applies++; e.applies%2 == 0 {
		if cerr := journal.Close(); cerr != nil {
			return report, cerr
		}
	}
	return report, err
}

// newClient is a client as one psync process has it: each apply is a new
// process, with a new adaptive rate limiter. attempts bounds the attempts
// of one request (10 when 0).
func (e *chaosEnv) newClient(attempts ...int) (*remote.Client, error) {
	n := 10
	if len(attempts) > 0 {
		n = attempts[0]
	}
	return remote.New(remote.Config{
		BaseURL: e.inst.URL, APIKey: e.inst.Key,
		Timeout: 10 * time.Second, MaxAttempts: n, MaxRetryTime: 30 * time.Second,
		BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
	})
}

func (e *chaosEnv) plan(ctx context.Context, client *remote.Client, m *manifest.Manifest, st *state.State) (*plan.Plan, error) {
	snap, err := client.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	p, err := plan.Compute(m, snap, st, plan.Options{AllowMassDelete: true, APIURL: e.target, Team: e.inst.TeamID, Key: chaosKey})
	if err != nil {
		return nil, err
	}
	if p.Refused() {
		return nil, fmt.Errorf("plan refused: %+v", p.Findings)
	}
	return p, nil
}

// verify turns faults off and checks that a fresh plan is empty, that the
// dump is the world exactly, and that the state agrees with the dump. It
// returns what is wrong, or "".
func (e *chaosEnv) verify(m *manifest.Manifest, w *world) string {
	srv := e.inst.Server
	srv.SetFaults(sandbox.Faults{})
	defer srv.SetFaults(e.faults)

	var problems []string
	st, err := state.Load(e.statePath)
	if err != nil {
		return fmt.Sprintf("state file: %v", err)
	}
	client, err := e.newClient()
	if err != nil {
		return err.Error()
	}
	if p, err := e.plan(context.Background(), client, m, st); err != nil {
		problems = append(problems, fmt.Sprintf("fresh plan: %v", err))
	} else if !p.Empty() {
		var keys []string
		for _, c := range p.Changes {
			keys = append(keys, c.Action.String()+" "+c.Key)
		}
		problems = append(problems, fmt.Sprintf("fresh plan is not empty: %v", keys))
	}

	d, err := fetchDump(e.inst)
	if err != nil {
		return err.Error()
	}
	if dup := d.DuplicateNames(); len(dup) > 0 {
		problems = append(problems, fmt.Sprintf("duplicate names in the dump: %v", dup))
	}
	if diff := cmp.Diff(worldObjects(w), dumpObjects(d)); diff != "" {
		problems = append(problems, fmt.Sprintf("dump differs from the manifest (-want +got):\n%s", diff))
	}
	stObjs := stateObjects(st, d)
	if diff := cmp.Diff(dumpObjects(d), stObjs); diff != "" {
		problems = append(problems, fmt.Sprintf("state differs from the dump (-dump +state):\n%s", diff))
	}
	return strings.Join(problems, "\n")
}

// object is one remote object in a form all three sides can be put in.
type object struct {
	Kind, Name, ID string
	Body           string // scripts; "<sensitive>" where a side holds no body
	BodyHash       string
	RunOnce        bool
	IsEnabled      bool
	Machines       []string // scripts: assigned machines; templates: [machineId]
	Note           string
}

func worldObjects(w *world) []object {
	var out []object
	for _, s := range w.scripts {
		out = append(out, object{Kind: "script", Name: s.name, Body: s.body, BodyHash: state.BodyHash(s.body), RunOnce: s.runOnce, IsEnabled: s.isEnabled, Machines: s.machines})
	}
	for _, t := range w.templates {
		out = append(out, object{Kind: "template", Name: t.name, Machines: []string{t.machine}, Note: t.note})
	}
	return sortObjects(out)
}

// dumpObjects is the dump without ids (the world has none).
func dumpObjects(d sandbox.Dump) []object {
	var out []object
	for _, s := range d.StartupScripts {
		ms := slices.Clone(s.MachineIDs)
		sort.Strings(ms)
		if len(ms) == 0 {
			ms = nil
		}
		out = append(out, object{Kind: "script", Name: s.Name, Body: s.Script, BodyHash: state.BodyHash(s.Script), RunOnce: s.RunOnce, IsEnabled: s.IsEnabled, Machines: ms})
	}
	for _, t := range d.CustomTemplates {
		out = append(out, object{Kind: "template", Name: t.Name, Machines: []string{t.MachineID}, Note: t.Note})
	}
	return sortObjects(out)
}

// chaosKey keys the fingerprints of sensitive bodies.
var chaosKey = state.NewFingerprintKey("chaos API key")

// stateObjects is what the state records, each entry's id checked against
// the dump's object of that name. A sensitive script's body is not in the
// state: the dump's is used when the hash matches. Everything is compared:
// ownership, ids, names, flags, notes, body hashes, bodies, assignments and
// deposed marks (a gone object must have been forgotten, a lost answer
// refreshed).
func stateObjects(st *state.State, d sandbox.Dump) []object {
	ids := map[string]string{}
	scripts := map[string]sandbox.DumpScript{}
	for _, s := range d.StartupScripts {
		ids["script/"+s.Name] = s.ID
		scripts[s.ID] = s
	}
	templates := map[string]api.CustomTemplate{}
	for _, t := range d.CustomTemplates {
		ids["template/"+t.Name] = t.ID
		templates[t.ID] = t
	}
	var out []object
	for _, s := range st.Scripts {
		o := object{Kind: "script", Name: s.Name, BodyHash: s.BodySHA256, RunOnce: s.RunOnce, IsEnabled: s.IsEnabled, Machines: s.Assignments}
		r := scripts[s.ID]
		switch {
		case s.Body != nil && s.Sensitive:
			o.Body = "<a sensitive body stored in the state>"
		case s.Body != nil:
			o.Body = *s.Body
		case s.Sensitive && s.BodyHMAC != "" && s.BodyHMAC == chaosKey.Body(r.Script):
			// Keyed: the hash is compared as the dump's plain one.
			o.Body, o.BodyHash = r.Script, state.BodyHash(r.Script)
		default:
			o.Body = "<no body in the state>"
		}
		if ids["script/"+o.Name] != s.ID {
			o.Name += fmt.Sprintf(" (state id %s, dump id %s)", s.ID, ids["script/"+o.Name])
		}
		out = append(out, o)
	}
	for _, t := range st.Templates {
		o := object{Kind: "template", Name: t.Name, Machines: []string{t.MachineID}, Note: t.Note}
		if t.Deposed {
			o.Name += " (deposed)"
		}
		if ids["template/"+o.Name] != t.ID {
			o.Name += fmt.Sprintf(" (state id %s, dump id %s)", t.ID, ids["template/"+o.Name])
		}
		out = append(out, o)
	}
	return sortObjects(out)
}

func sortObjects(o []object) []object {
	sort.Slice(o, func(i, j int) bool {
		if o[i].Kind != o[j].Kind {
			return o[i].Kind < o[j].Kind
		}
		return o[i].Name < o[j].Name
	})
	return o
}

// fetchDump reads GET /v1/_sandbox/dump, as an outside observer would.
func fetchDump(inst *sandbox.Instance) (sandbox.Dump, error) {
	return getDump(inst.URL, inst.Key)
}

// writeManifest writes w as psync.yaml (strings JSON-quoted, which YAML
// reads as double-quoted scalars) and the file-backed bodies under
// scripts/.
func writeManifest(dir string, w *world) error {
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	list := func(xs []string) string {
		qs := make([]string, len(xs))
		for i, x := range xs {
			qs[i] = q(x)
		}
		return "[" + strings.Join(qs, ", ") + "]"
	}
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("version: 1\nsettings:\n  maxDeletePercent: 100\nscripts:")
	if len(w.scripts) == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	for _, s := range w.scripts {
		fmt.Fprintf(&b, "  - name: %s\n", q(s.name))
		if s.inFile {
			rel := "scripts/" + s.name + ".sh"
			if err := os.WriteFile(filepath.Join(dir, rel), []byte(s.body), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&b, "    file: %s\n", q(rel))
		} else {
			fmt.Fprintf(&b, "    script: %s\n", q(s.body))
		}
		fmt.Fprintf(&b, "    runOnce: %t\n    isEnabled: %t\n", s.runOnce, s.isEnabled)
		if s.sensitive {
			b.WriteString("    sensitive: true\n")
		}
		if len(s.prev) > 0 {
			fmt.Fprintf(&b, "    previousNames: %s\n", list(s.prev))
		}
	}
	b.WriteString("templates:")
	if len(w.templates) == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	for _, t := range w.templates {
		fmt.Fprintf(&b, "  - name: %s\n    machineId: %s\n", q(t.name), q(t.machine))
		if t.note != "" {
			fmt.Fprintf(&b, "    note: %s\n", q(t.note))
		}
		if len(t.prev) > 0 {
			fmt.Fprintf(&b, "    previousNames: %s\n", list(t.prev))
		}
	}
	var assigns []string
	for _, s := range w.scripts {
		if len(s.machines) > 0 {
			assigns = append(assigns, fmt.Sprintf("  - script: %s\n    machines: %s\n", q(s.name), list(s.machines)))
		}
	}
	b.WriteString("assignments:")
	if len(assigns) == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n" + strings.Join(assigns, ""))
	return os.WriteFile(filepath.Join(dir, "psync.yaml"), []byte(b.String()), 0o644)
}
