package sandbox_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// machines lists every machine of the live dialect, following pages.
func (e *env) machines(query string) []api.Machine {
	e.t.Helper()
	var out []api.Machine
	after := ""
	for range 100 {
		p := "/machines?limit=4" + query
		if after != "" {
			p += "&after=" + after
		}
		var page api.Page[api.Machine]
		e.call("GET", p, nil, http.StatusOK, &page)
		out = append(out, page.Items...)
		if !page.HasMore {
			return out
		}
		after = *page.NextPage
	}
	e.t.Fatal("paging does not end")
	return nil
}

func names(ms []api.Machine) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID+" "+m.Name+" "+m.MachineType+" "+m.Region+" "+m.State)
	}
	return out
}

func TestLiveMachinesSeededAndPaged(t *testing.T) {
	e := newLive(t, sandbox.LiveConfig{})
	got := names(e.machines("&orderBy=dtCreated&order=asc"))
	want := []string{
		"psbox001 train-a100-1 A100 ny2 ready", "psbox002 train-a100-2 A100 ny2 ready", "psbox003 train-a100-3 A100 ny2 ready",
		"psbox004 train-a100-4 A100 ny2 ready", "psbox005 train-a100-5 A100 ny2 ready", "psbox006 train-a100-6 A100 ny2 ready",
		"psbox007 infer-1 A4000 ams1 ready", "psbox008 infer-2 A4000 ams1 ready",
		"psbox009 notebook-1 C5 ny2 ready", "psbox010 notebook-2 C5 ny2 ready",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seeded machines, 4 a page (-want +got):\n%s", diff)
	}
	// Filters: region, machineType and agentType exactly; name partially.
	if got := names(e.machines("&region=ams1")); len(got) != 2 {
		t.Errorf("region=ams1: %q", got)
	}
	if got := names(e.machines("&machineType=A100&region=ny2")); len(got) != 6 {
		t.Errorf("machineType=A100&region=ny2: %q", got)
	}
	if got := names(e.machines("&name=notebook")); len(got) != 2 {
		t.Errorf("name=notebook: %q", got)
	}
	if got := e.machines("&agentType=WindowsHost"); len(got) != 0 {
		t.Errorf("agentType=WindowsHost: %q", names(got))
	}
	var m api.Machine
	e.call("GET", "/machines/psbox007", nil, http.StatusOK, &m)
	if m.Name != "infer-1" || m.OS == "" || m.AgentType != "LinuxHost" {
		t.Errorf("GET /machines/psbox007: %+v", m)
	}
	apiErr(t, e.do(e.key, "GET", "/machines/psbox099", nil), http.StatusNotFound, api.CodeNotFound)
	apiErr(t, e.do(e.key, "GET", "/machines?limit=121", nil), http.StatusBadRequest, api.CodeBadRequest)
	apiErr(t, e.do("", "GET", "/machines", nil), http.StatusUnauthorized, api.CodeUnauthorized)
}

// The spec has no machine route: its dialect does not serve one.
func TestSpecHasNoMachineList(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	apiErr(t, e.do(e.key, "GET", "/machines", nil), http.StatusNotFound, api.CodeNotFound)
}

// The admin routes add, change and remove machines in both dialects; the
// API's checks (assign, template creation) follow them, a removed machine
// takes its assignments along, and the changes survive a restart.
func TestAdminMachines(t *testing.T) {
	for _, dialect := range []string{sandbox.DialectSpec, sandbox.DialectPaperspace1} {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			cfg := sandbox.Config{Dialect: dialect, DataDir: dir, Keys: map[string]string{"k1": "team-1", "k2": "team-2"}}
			s, err := sandbox.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := attachHTTPTest(t, s)
			if dialect == sandbox.DialectPaperspace1 {
				e.client.Transport = live.transport(http.DefaultTransport)
			}
			e.key = "k1"
			created := http.StatusCreated
			if dialect == sandbox.DialectPaperspace1 {
				created = http.StatusOK
			}
			assign := func(script, machine string) resp {
				return e.do("k1", "POST", "/startup-scripts/"+script+"/assign", api.MachineRef{MachineID: machine})
			}
			var sc struct{ ID string }
			body := map[string]any{"name": "cuda", "script": "echo"}
			e.call("POST", "/startup-scripts", body, created, &sc)

			// Added: assignable, with the next id.
			var m api.Machine
			e.call("POST", "/_sandbox/machines", map[string]any{"name": "train-a100-7", "machineType": "A100", "region": "ny2"}, http.StatusCreated, &m)
			if m.ID != "psbox011" || m.Name != "train-a100-7" || m.State != "ready" {
				t.Fatalf("created %+v", m)
			}
			if r := assign(sc.ID, "psbox011"); r.status >= 300 {
				t.Fatalf("assign to the new machine: %d %s", r.status, r.body)
			}
			// Changed: renamed, moved, stopped.
			e.call("PUT", "/_sandbox/machines/psbox011", map[string]any{"name": "gpu-7", "state": "off"}, http.StatusOK, &m)
			if m.Name != "gpu-7" || m.State != "off" || m.MachineType != "A100" {
				t.Fatalf("updated %+v", m)
			}
			// Bad input is a 400 naming it; another team's machine a 404.
			apiErr(t, e.do("k1", "POST", "/_sandbox/machines", map[string]any{"name": "x"}), http.StatusBadRequest, api.CodeBadRequest)
			apiErr(t, e.do("k1", "PUT", "/_sandbox/machines/psbox011", map[string]any{"state": "melted"}), http.StatusBadRequest, api.CodeBadRequest)
			apiErr(t, e.do("k1", "PUT", "/_sandbox/machines/psbox011", map[string]any{"color": "red"}), http.StatusBadRequest, api.CodeBadRequest)
			apiErr(t, e.do("k2", "PUT", "/_sandbox/machines/psbox011", map[string]any{"name": "mine"}), http.StatusNotFound, api.CodeNotFound)
			apiErr(t, e.do("", "POST", "/_sandbox/machines", map[string]any{"name": "x", "machineType": "C5", "region": "ny2"}), http.StatusUnauthorized, api.CodeUnauthorized)

			// Removed: its assignments go, it is assignable no more, and
			// its id is never given again.
			if r := assign(sc.ID, "psbox003"); r.status >= 300 {
				t.Fatalf("assign: %d %s", r.status, r.body)
			}
			e.call("DELETE", "/_sandbox/machines/psbox011", nil, http.StatusOK, &m)
			if m.ID != "psbox011" || m.DtDeleted == nil {
				t.Errorf("deleted %+v", m)
			}
			apiErr(t, e.do("k1", "DELETE", "/_sandbox/machines/psbox011", nil), http.StatusNotFound, api.CodeNotFound)
			apiErr(t, assign(sc.ID, "psbox011"), http.StatusNotFound, api.CodeNotFound)
			d := e.dump("k1")
			if diff := cmp.Diff([]string{"psbox003"}, d.StartupScripts[0].MachineIDs); diff != "" {
				t.Errorf("assignments after the delete (-want +got):\n%s", diff)
			}
			e.call("POST", "/_sandbox/machines", map[string]any{"name": "n", "machineType": "C5", "region": "ams1"}, http.StatusCreated, &m)
			if m.ID != "psbox012" {
				t.Errorf("id after a delete: %s, want psbox012", m.ID)
			}
			if got := len(e.dump("k2").Machines); got != 10 {
				t.Errorf("team-2 has %d machines, want its 10 untouched", got)
			}
			e.close()

			// A restart keeps the changed machines rather than seeding.
			s2, err := sandbox.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			e2 := attachHTTPTest(t, s2)
			want := []string{"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006", "psbox007", "psbox008", "psbox009", "psbox010", "psbox012"}
			if diff := cmp.Diff(want, e2.dump("k1").Machines); diff != "" {
				t.Errorf("machines after a restart (-want +got):\n%s", diff)
			}
		})
	}
}

// A machine deleted while DeletedLinger lasts is listed with dtDeleted,
// as the live API's deleted objects may be, but cannot be assigned.
func TestLiveDeletedMachineLingers(t *testing.T) {
	e := newLive(t, sandbox.LiveConfig{DeletedLinger: time.Hour})
	e.call("DELETE", "/_sandbox/machines/psbox010", nil, http.StatusOK, nil)
	ms := e.machines("")
	var found *api.Machine
	for i := range ms {
		if ms[i].ID == "psbox010" {
			found = &ms[i]
		}
	}
	if found == nil || found.DtDeleted == nil {
		t.Fatalf("deleted machine in the list: %+v", found)
	}
	var sc api.LiveStartupScript
	e.call("POST", "/startup-scripts", map[string]any{"name": "s", "script": "echo"}, http.StatusOK, &sc)
	apiErr(t, e.do(e.key, "POST", "/startup-scripts/"+sc.ID+"/assign", api.MachineRef{MachineID: "psbox010"}), http.StatusNotFound, api.CodeNotFound)
	if got := fmt.Sprint(len(e.dump(e.key).Machines)); got != "9" {
		t.Errorf("dump lists %s machines, want 9", got)
	}
}
