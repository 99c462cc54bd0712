package remote_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// The machine list is walked like every live list: limit 120, after the
// cursor, pages that repeat items de-duplicated, sorted by id. 1,000
// machines take ⌈1000/120⌉ = 9 requests.
func TestListMachinesPaged(t *testing.T) {
	cfg := liveSandbox(sandbox.LiveConfig{RepeatItems: true}, sandbox.Faults{})
	cfg.Machines = 1000
	inst, c := startSandboxConfig(t, cfg)
	ms, known, err := c.ListMachines(context.Background())
	if err != nil || !known {
		t.Fatalf("ListMachines: known %t, %v", known, err)
	}
	if len(ms) != 1000 {
		t.Fatalf("%d machines, want 1000 (each once)", len(ms))
	}
	seen := map[string]bool{}
	for i, m := range ms {
		if i > 0 && ms[i-1].ID >= m.ID {
			t.Fatalf("machine %d is %s after %s: not sorted by id", i, m.ID, ms[i-1].ID)
		}
		seen[m.ID] = true
	}
	for i := 1; i <= 1000; i++ {
		if id := fmt.Sprintf("psbox%03d", i); !seen[id] {
			t.Fatalf("%s is missing", id)
		}
	}
	if diff := cmp.Diff(remote.Machine{ID: "psbox007", Name: "infer-1", MachineType: "A4000", Region: "ams1", State: "ready"}, ms[slices.IndexFunc(ms, func(m remote.Machine) bool { return m.ID == "psbox007" })]); diff != "" {
		t.Errorf("psbox007 (-want +got):\n%s", diff)
	}
	st := settled(inst)
	if got := st.Count("GET /machines"); got != 9 {
		t.Errorf("%d requests for 1,000 machines, want 9", got)
	}
	for _, r := range inst.Server.Requests().Requests {
		if r.Route == "/machines" && !strings.Contains(r.Query, "limit=120") {
			t.Errorf("request %s?%s does not ask for 120 a page", r.Path, r.Query)
		}
	}
}

// The spec's API has no machine list: not an error, but not known.
func TestListMachinesSpec(t *testing.T) {
	_, c := startSandbox(t, sandbox.Faults{})
	ms, known, err := c.ListMachines(context.Background())
	if err != nil || known || ms != nil {
		t.Fatalf("ListMachines on the spec = %v, known %t, %v; want nothing, unknown, no error", ms, known, err)
	}
	snap, err := c.Fetch(context.Background())
	if err != nil || snap.MachinesKnown {
		t.Fatalf("Fetch: machines known %t, %v", snap.MachinesKnown, err)
	}
}

// A machine deleted but still listed (dtDeleted) is MachineDeleting; a
// machine added through the admin route shows in the next Fetch.
func TestFetchMachinesComingAndGoing(t *testing.T) {
	inst, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{DeletedLinger: time.Hour}, sandbox.Faults{}))
	admin := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, inst.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+inst.Key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s: %d", method, path, res.StatusCode)
		}
	}
	admin("POST", "/_sandbox/machines", `{"name":"train-a100-7","machineType":"A100","region":"ny2"}`)
	admin("DELETE", "/_sandbox/machines/psbox002", "")
	snap, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !snap.MachinesKnown || len(snap.Machines) != 11 {
		t.Fatalf("machines known %t, %d machines; want 11", snap.MachinesKnown, len(snap.Machines))
	}
	if m := snap.Machines[1]; m.ID != "psbox002" || m.State != remote.MachineDeleting {
		t.Errorf("deleted machine %+v, want state %q", m, remote.MachineDeleting)
	}
	if m := snap.Machines[10]; m.ID != "psbox011" || m.Name != "train-a100-7" {
		t.Errorf("added machine %+v", m)
	}
}

// settled returns the sandbox's stats once no request is in flight: the
// server counts a request just after answering it.
func settled(inst *sandbox.Instance) sandbox.Stats {
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := inst.Server.Stats()
		if st.InFlight == 0 || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}
