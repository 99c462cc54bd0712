package sandbox_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

func TestStatsAndReset(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	s := e.createScript("s", "x")
	e.call("POST", "/startup-scripts/"+s.ID+"/assign", api.MachineRef{MachineID: "psbox001"}, http.StatusOK, nil)
	e.call("POST", "/startup-scripts/"+s.ID+"/assign", api.MachineRef{MachineID: "psbox002"}, http.StatusOK, nil)
	e.do(e.key, "POST", "/startup-scripts/"+s.ID+"/assign", api.MachineRef{MachineID: "psbox999"})
	e.call("GET", "/startup-scripts", nil, http.StatusOK, nil)
	e.do("", "GET", "/startup-scripts", nil)
	e.do(e.key, "GET", "/nope", nil)
	e.dump(e.key) // not counted

	want := sandbox.Stats{
		Total: 7,
		Requests: map[string]map[int]int{
			"POST /startup-scripts":             {201: 1},
			"POST /startup-scripts/{id}/assign": {200: 2, 404: 1},
			"GET /startup-scripts":              {200: 1, 401: 1},
			"GET *":                             {404: 1},
		},
		ByMethod:     map[string]int{"GET": 3, "POST": 4},
		PeakInFlight: 1,
	}
	var got sandbox.Stats
	e.call("GET", "/_sandbox/stats", nil, http.StatusOK, &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, e.srv.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
	if got.Count("POST /startup-scripts/{id}/assign") != 3 || got.Writes() != 4 {
		t.Errorf("Count %d Writes %d", got.Count("POST /startup-scripts/{id}/assign"), got.Writes())
	}

	// Reset clears the stats and the log, not the data.
	e.call("POST", "/_sandbox/reset", nil, http.StatusNoContent, nil)
	got = sandbox.Stats{}
	e.call("GET", "/_sandbox/stats", nil, http.StatusOK, &got)
	if diff := cmp.Diff(sandbox.Stats{Requests: map[string]map[int]int{}, ByMethod: map[string]int{}}, got); diff != "" {
		t.Errorf("stats after reset (-want +got):\n%s", diff)
	}
	if log := e.srv.Requests(); len(log.Requests) != 0 {
		t.Errorf("log after reset: %v", log)
	}
	if d := e.dump(e.key); len(d.StartupScripts) != 1 || len(d.Assignments) != 2 {
		t.Errorf("reset changed the data: %+v", d)
	}
	e.call("GET", "/startup-scripts/"+s.ID, nil, http.StatusOK, nil)
	if st := e.srv.Stats(); st.Total != 1 || st.Writes() != 0 {
		t.Errorf("after reset and one GET: %+v", st)
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	s := e.createScript("s", "x")
	e.call("POST", "/startup-scripts/"+s.ID+"/assign", api.MachineRef{MachineID: "psbox001"}, http.StatusOK, nil)
	e.call("GET", "/os-templates?limit=2&order=asc", nil, http.StatusOK, nil)
	e.call("DELETE", "/startup-scripts/"+s.ID, nil, http.StatusNoContent, nil)
	e.do("nope", "GET", "/startup-scripts", nil)

	r := e.call("GET", "/_sandbox/requests", nil, http.StatusOK, nil)
	// Times are RFC 3339 with nanoseconds.
	var raw struct {
		Requests []struct{ Start, End string }
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, rec := range raw.Requests {
		for _, ts := range []string{rec.Start, rec.End} {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("time %q: %v", ts, err)
			}
		}
	}
	var log sandbox.RequestLog
	if err := json.Unmarshal(r.body, &log); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Seq                              uint64
		Method, Route, Path, Query, Team string
		Status                           int
	}
	var got []entry
	for i, rec := range log.Requests {
		got = append(got, entry{rec.Seq, rec.Method, rec.Route, rec.Path, rec.Query, rec.Team, rec.Status})
		if rec.End.Before(rec.Start) {
			t.Errorf("record %d ends before it starts", i)
		}
		if i > 0 && rec.Start.Before(log.Requests[i-1].End) {
			t.Errorf("sequential request %d starts before %d ended", i, i-1)
		}
	}
	team := sandbox.DefaultTeam
	want := []entry{
		{1, "POST", "/startup-scripts", "/startup-scripts", "", team, 201},
		{2, "POST", "/startup-scripts/{id}/assign", "/startup-scripts/" + s.ID + "/assign", "", team, 200},
		{3, "GET", "/os-templates", "/os-templates", "limit=2&order=asc", team, 200},
		{4, "DELETE", "/startup-scripts/{id}", "/startup-scripts/" + s.ID, "", team, 204},
		{5, "GET", "/startup-scripts", "/startup-scripts", "", "", 401},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(log, e.srv.Requests()); diff != "" {
		t.Errorf("Requests() (-want +got):\n%s", diff)
	}
}

// TestPeakInFlight runs n requests at once, each held by injected latency,
// and expects the sandbox to have seen n in flight.
func TestPeakInFlight(t *testing.T) {
	e := newEnv(t, sandbox.Config{Faults: sandbox.Faults{Latency: 400 * time.Millisecond}})
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.try(e.key, "GET", "/startup-scripts", nil)
		}()
	}
	// While they are in flight, the sandbox endpoints answer at once.
	var mid sandbox.Stats
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		mid = sandbox.Stats{}
		e.call("GET", "/_sandbox/stats", nil, http.StatusOK, &mid)
		if mid.InFlight == n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if mid.InFlight != n {
		t.Errorf("in flight %d, want %d", mid.InFlight, n)
	}
	wg.Wait()
	st := e.srv.Stats()
	if st.PeakInFlight != n || st.InFlight != 0 || st.Total != n {
		t.Errorf("peak %d in flight %d total %d, want %d 0 %d", st.PeakInFlight, st.InFlight, st.Total, n, n)
	}
	e.srv.ResetStats()
	e.call("GET", "/startup-scripts", nil, http.StatusOK, nil)
	if st := e.srv.Stats(); st.PeakInFlight != 1 {
		t.Errorf("peak after reset and one request: %d", st.PeakInFlight)
	}
}

func TestDumpOrder(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	for _, n := range []string{"zeta", "alpha", "mid", "alpha"} {
		s := e.createScript(n, "body of "+n)
		e.call("POST", "/startup-scripts/"+s.ID+"/assign", api.MachineRef{MachineID: "psbox003"}, http.StatusOK, nil)
		e.call("POST", "/startup-scripts/"+s.ID+"/assign", api.MachineRef{MachineID: "psbox001"}, http.StatusOK, nil)
		e.call("POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox002", Name: "t-" + n}, http.StatusCreated, nil)
	}
	d := e.dump(e.key)
	var names, tnames, assigned []string
	for _, s := range d.StartupScripts {
		names = append(names, s.Name)
		if s.Script != "body of "+s.Name || !cmp.Equal(s.MachineIDs, []string{"psbox001", "psbox003"}) {
			t.Errorf("dumped script %+v", s)
		}
	}
	for _, c := range d.CustomTemplates {
		tnames = append(tnames, c.Name)
	}
	for _, a := range d.Assignments {
		assigned = append(assigned, a.ScriptName+"→"+a.MachineID)
	}
	if diff := cmp.Diff([]string{"alpha", "alpha", "mid", "zeta"}, names); diff != "" {
		t.Errorf("script order (-want +got):\n%s", diff)
	}
	if d.StartupScripts[0].DtCreated.After(d.StartupScripts[1].DtCreated) {
		t.Error("same-name scripts are not in creation order")
	}
	if diff := cmp.Diff([]string{"t-alpha", "t-alpha", "t-mid", "t-zeta"}, tnames); diff != "" {
		t.Errorf("template order (-want +got):\n%s", diff)
	}
	want := []string{"alpha→psbox001", "alpha→psbox003", "alpha→psbox001", "alpha→psbox003", "mid→psbox001", "mid→psbox003", "zeta→psbox001", "zeta→psbox003"}
	if diff := cmp.Diff(want, assigned); diff != "" {
		t.Errorf("assignment order (-want +got):\n%s", diff)
	}
	// Two dumps of the same data are identical, byte for byte.
	a := e.call("GET", "/_sandbox/dump", nil, http.StatusOK, nil)
	b := e.call("GET", "/_sandbox/dump", nil, http.StatusOK, nil)
	if string(a.body) != string(b.body) {
		t.Error("dumps differ")
	}
}

func TestDumpDuplicateNames(t *testing.T) {
	d := sandbox.Dump{
		StartupScripts: []sandbox.DumpScript{
			{StartupScript: api.StartupScript{ID: "1", Name: "a"}}, {StartupScript: api.StartupScript{ID: "2", Name: "a"}},
			{StartupScript: api.StartupScript{ID: "3", Name: "b"}},
		},
		CustomTemplates: []api.CustomTemplate{{ID: "t1", Name: "a"}, {ID: "t2", Name: "t"}, {ID: "t3", Name: "t"}, {ID: "t4", Name: "t"}},
	}
	want := []string{"script/a x2", "template/t x3"}
	if diff := cmp.Diff(want, d.DuplicateNames()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := (sandbox.Dump{}).DuplicateNames(); got != nil {
		t.Errorf("empty dump: %v", got)
	}
}
