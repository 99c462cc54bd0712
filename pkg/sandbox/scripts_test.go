package sandbox_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

var ignoreIDAndTime = cmpopts.IgnoreFields(api.StartupScript{}, "ID", "DtCreated")

func TestStartupScriptLifecycle(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	before := time.Now().Add(-time.Second)

	// Create: flags omitted take the defaults.
	var a api.StartupScript
	e.call("POST", "/startup-scripts", api.StartupScriptCreate{Name: "a", Script: "echo a"}, http.StatusCreated, &a)
	want := api.StartupScript{Name: "a", RunOnce: false, IsEnabled: true, TeamID: sandbox.DefaultTeam}
	if diff := cmp.Diff(want, a, ignoreIDAndTime); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(a.ID, "scr_") || a.DtCreated.Before(before) || a.DtCreated.After(time.Now().Add(time.Second)) {
		t.Errorf("create: id %q dtCreated %v, want scr_… and now", a.ID, a.DtCreated)
	}
	var b api.StartupScript
	e.call("POST", "/startup-scripts", api.StartupScriptCreate{Name: "b", Script: "echo b", RunOnce: ptr(true), IsEnabled: ptr(false)}, http.StatusCreated, &b)
	if !b.RunOnce || b.IsEnabled || b.ID == a.ID {
		t.Errorf("create b with flags: %+v", b)
	}
	// The body is never returned.
	r := e.call("GET", "/startup-scripts/"+a.ID, nil, http.StatusOK, nil)
	if strings.Contains(string(r.body), "echo a") || strings.Contains(string(r.body), `"script"`) {
		t.Errorf("get returns the body: %s", r.body)
	}
	var got api.StartupScript
	e.call("GET", "/startup-scripts/"+a.ID, nil, http.StatusOK, &got)
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
	var list []api.StartupScript
	e.call("GET", "/startup-scripts", nil, http.StatusOK, &list)
	if diff := cmp.Diff([]api.StartupScript{a, b}, list); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}

	// Assign is idempotent, and needs an existing machine.
	for range 2 {
		e.call("POST", "/startup-scripts/"+b.ID+"/assign", api.MachineRef{MachineID: "psbox002"}, http.StatusOK, nil)
	}
	e.call("POST", "/startup-scripts/"+b.ID+"/assign", api.MachineRef{MachineID: "psbox010"}, http.StatusOK, nil)
	e.call("POST", "/startup-scripts/"+a.ID+"/assign", api.MachineRef{MachineID: "psbox002"}, http.StatusOK, nil)
	apiErr(t, e.do(e.key, "POST", "/startup-scripts/"+b.ID+"/assign", api.MachineRef{MachineID: "psbox011"}), 404, api.CodeNotFound)
	apiErr(t, e.do(e.key, "POST", "/startup-scripts/"+b.ID+"/unassign", api.MachineRef{MachineID: "nope"}), 404, api.CodeNotFound)
	wantAssign := []sandbox.Assignment{
		{ScriptID: a.ID, ScriptName: "a", MachineID: "psbox002"},
		{ScriptID: b.ID, ScriptName: "b", MachineID: "psbox002"},
		{ScriptID: b.ID, ScriptName: "b", MachineID: "psbox010"},
	}
	if diff := cmp.Diff(wantAssign, e.dump(e.key).Assignments); diff != "" {
		t.Errorf("assignments (-want +got):\n%s", diff)
	}

	// PUT replaces name, body and flags; omitted flags return to their
	// defaults; id, creation time and assignments stay.
	var b2 api.StartupScript
	e.call("PUT", "/startup-scripts/"+b.ID, api.StartupScriptCreate{Name: "b2", Script: "echo b2"}, http.StatusOK, &b2)
	wantB2 := b
	wantB2.Name, wantB2.RunOnce, wantB2.IsEnabled = "b2", false, true
	if diff := cmp.Diff(wantB2, b2); diff != "" {
		t.Errorf("put (-want +got):\n%s", diff)
	}
	d := e.dump(e.key)
	if diff := cmp.Diff([]sandbox.DumpScript{
		{StartupScript: a, Script: "echo a", MachineIDs: []string{"psbox002"}},
		{StartupScript: b2, Script: "echo b2", MachineIDs: []string{"psbox002", "psbox010"}},
	}, d.StartupScripts); diff != "" {
		t.Errorf("dump after put (-want +got):\n%s", diff)
	}

	// Unassign is idempotent.
	for range 2 {
		e.call("POST", "/startup-scripts/"+b.ID+"/unassign", api.MachineRef{MachineID: "psbox010"}, http.StatusOK, nil)
	}
	e.call("POST", "/startup-scripts/"+b.ID+"/unassign", api.MachineRef{MachineID: "psbox005"}, http.StatusOK, nil)
	wantAssign[1].ScriptName = "b2"
	if diff := cmp.Diff(wantAssign[:2], e.dump(e.key).Assignments); diff != "" {
		t.Errorf("assignments after unassign (-want +got):\n%s", diff)
	}

	// Delete removes the script and its assignments.
	r = e.call("DELETE", "/startup-scripts/"+b.ID, nil, http.StatusNoContent, nil)
	if len(r.body) != 0 {
		t.Errorf("delete answered a body: %s", r.body)
	}
	apiErr(t, e.do(e.key, "GET", "/startup-scripts/"+b.ID, nil), 404, api.CodeNotFound)
	apiErr(t, e.do(e.key, "DELETE", "/startup-scripts/"+b.ID, nil), 404, api.CodeNotFound)
	if diff := cmp.Diff(wantAssign[:1], e.dump(e.key).Assignments); diff != "" {
		t.Errorf("assignments after delete (-want +got):\n%s", diff)
	}
	e.call("GET", "/startup-scripts", nil, http.StatusOK, &list)
	if diff := cmp.Diff([]api.StartupScript{a}, list); diff != "" {
		t.Errorf("list after delete (-want +got):\n%s", diff)
	}
}

func TestStartupScriptBodyLimit(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	max := strings.Repeat("é", api.MaxScriptBytes/2) // exactly 16 KiB of UTF-8
	s := e.createScript("max", max)
	if got := e.dump(e.key).StartupScripts[0].Script; got != max {
		t.Errorf("a %d-byte body was stored as %d bytes", len(max), len(got))
	}
	tooBig := api.StartupScriptCreate{Name: "big", Script: max + "x"}
	er := apiErr(t, e.do(e.key, "POST", "/startup-scripts", tooBig), 400, api.CodeBadRequest)
	if !strings.Contains(er.Message, "16384") {
		t.Errorf("message %q does not say the limit", er.Message)
	}
	apiErr(t, e.do(e.key, "PUT", "/startup-scripts/"+s.ID, tooBig), 400, api.CodeBadRequest)
	// A request body beyond any valid one is refused before it is read.
	huge := `{"name":"x","script":"` + strings.Repeat("a", 2<<20) + `"}`
	apiErr(t, e.do(e.key, "POST", "/startup-scripts", huge), 413, api.CodePayloadTooLarge)
	if n := len(e.dump(e.key).StartupScripts); n != 1 {
		t.Errorf("%d scripts after refused creates, want 1", n)
	}
}

// TestRequestBodyErrors checks that every malformed body is a 400 naming the
// problem, on every operation that takes a body.
func TestRequestBodyErrors(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	s := e.createScript("s", "echo")
	var tpl api.CustomTemplate
	e.call("POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox001", Name: "t"}, http.StatusCreated, &tpl)

	type tc struct {
		body string
		want string // in the message
	}
	scriptCases := []tc{
		{``, "body is required"},
		{`   `, "body is required"},
		{`null`, "not null"},
		{`[]`, "JSON object"},
		{`"x"`, "JSON object"},
		{`{`, "not valid JSON"},
		{`{"name":"n","script":"s"} {}`, "after its JSON object"},
		{`{"script":"s"}`, "name is required"},
		{`{"name":"n"}`, "script is required"},
		{`{"name":null,"script":"s"}`, "name is required"},
		{`{"name":"","script":"s"}`, "name must not be empty"},
		{`{"name":1,"script":"s"}`, "name must be a string, not a number"},
		{`{"name":"n","script":["s"]}`, "script must be a string, not an array"},
		{`{"name":"n","script":"s","runOnce":"yes"}`, "runOnce must be a boolean, not a string"},
		{`{"name":"n","script":"s","isEnabled":1}`, "isEnabled must be a boolean, not a number"},
		{`{"name":"n","script":"s","isRunOnce":true}`, `unknown field "isRunOnce"`},
		{`{"name":"n","script":"s","description":"d"}`, `unknown field "description"`},
	}
	for _, path := range []string{"/startup-scripts", "/startup-scripts/" + s.ID} {
		method := map[bool]string{true: "POST", false: "PUT"}[path == "/startup-scripts"]
		for _, c := range scriptCases {
			er := apiErr(t, e.do(e.key, method, path, c.body), 400, api.CodeBadRequest)
			if !strings.Contains(er.Message, c.want) {
				t.Errorf("%s %s %s: message %q, want it to contain %q", method, path, c.body, er.Message, c.want)
			}
		}
	}
	// Every problem is listed, with its path.
	er := apiErr(t, e.do(e.key, "POST", "/startup-scripts", `{"runOnce":"x","extra":1}`), 400, api.CodeBadRequest)
	wantIssues := []api.Issue{
		{Message: "name is required", Path: []string{"name"}},
		{Message: "script is required", Path: []string{"script"}},
		{Message: "runOnce must be a boolean, not a string", Path: []string{"runOnce"}},
		{Message: `unknown field "extra"`, Path: []string{"extra"}},
	}
	if diff := cmp.Diff(wantIssues, er.Issues); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}

	others := []struct {
		method, path string
		cases        []tc
	}{
		{"POST", "/startup-scripts/" + s.ID + "/assign", []tc{{`{}`, "machineId is required"}, {`{"machineId":7}`, "machineId must be a string"}, {`{"machineId":"psbox001","x":1}`, `unknown field "x"`}}},
		{"POST", "/startup-scripts/" + s.ID + "/unassign", []tc{{`{}`, "machineId is required"}, {``, "body is required"}}},
		{"POST", "/custom-templates", []tc{{`{"name":"n"}`, "machineId is required"}, {`{"machineId":"psbox001"}`, "name is required"}, {`{"machineId":"psbox001","name":""}`, "must not be empty"}, {`{"machineId":"psbox001","name":"n","note":false}`, "note must be a string, not a boolean"}, {`{"machineId":"psbox001","name":"n","region":"ny2"}`, `unknown field "region"`}}},
		{"PUT", "/custom-templates/" + tpl.ID, []tc{{`{"name":""}`, "must not be empty"}, {`{"name":{}}`, "name must be a string, not an object"}, {`{"machineId":"psbox002"}`, `unknown field "machineId"`}, {`[1]`, "JSON object"}}},
	}
	for _, o := range others {
		for _, c := range o.cases {
			er := apiErr(t, e.do(e.key, o.method, o.path, c.body), 400, api.CodeBadRequest)
			if !strings.Contains(er.Message, c.want) {
				t.Errorf("%s %s %s: message %q, want it to contain %q", o.method, o.path, c.body, er.Message, c.want)
			}
		}
	}
	// A body that is not JSON by its type is refused.
	r, err := http.NewRequest("POST", e.url+"/startup-scripts", strings.NewReader(`name=x`))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+e.key)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := e.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("form body: status %d, want 400", res.StatusCode)
	}

	// Nothing was changed by any refused request.
	d := e.dump(e.key)
	if len(d.StartupScripts) != 1 || d.StartupScripts[0].Name != "s" || len(d.CustomTemplates) != 1 || d.CustomTemplates[0].Name != "t" || len(d.Assignments) != 0 {
		t.Errorf("refused requests changed the data: %+v", d)
	}
}

func TestUnknownIDs(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	body := api.StartupScriptCreate{Name: "n", Script: "s"}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/startup-scripts/scr_nope", nil},
		{"PUT", "/startup-scripts/scr_nope", body},
		{"DELETE", "/startup-scripts/scr_nope", nil},
		{"POST", "/startup-scripts/scr_nope/assign", api.MachineRef{MachineID: "psbox001"}},
		{"POST", "/startup-scripts/scr_nope/unassign", api.MachineRef{MachineID: "psbox001"}},
		{"GET", "/custom-templates/tpl_nope", nil},
		{"PUT", "/custom-templates/tpl_nope", api.CustomTemplateUpdate{Name: ptr("x")}},
		{"DELETE", "/custom-templates/tpl_nope", nil},
		{"POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox999", Name: "x"}},
	} {
		er := apiErr(t, e.do(e.key, c.method, c.path, c.body), 404, api.CodeNotFound)
		if !strings.Contains(er.Message, "nope") && !strings.Contains(er.Message, "psbox999") {
			t.Errorf("%s %s: message %q does not name the id", c.method, c.path, er.Message)
		}
	}
}

func TestMachinesFlag(t *testing.T) {
	e := newEnv(t, sandbox.Config{Machines: 3})
	if diff := cmp.Diff([]string{"psbox001", "psbox002", "psbox003"}, e.dump(e.key).Machines); diff != "" {
		t.Errorf("machines (-want +got):\n%s", diff)
	}
	s := e.createScript("s", "x")
	e.call("POST", "/startup-scripts/"+s.ID+"/assign", api.MachineRef{MachineID: "psbox003"}, http.StatusOK, nil)
	apiErr(t, e.do(e.key, "POST", "/startup-scripts/"+s.ID+"/assign", api.MachineRef{MachineID: "psbox004"}), 404, api.CodeNotFound)
	if e := newEnv(t, sandbox.Config{}); len(e.dump(e.key).Machines) != 10 {
		t.Errorf("default machines: %v, want 10", e.dump(e.key).Machines)
	}
}
