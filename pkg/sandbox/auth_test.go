package sandbox_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// everyRoute is one request per operation of the spec, plus the sandbox's
// own endpoints.
func everyRoute(scriptID, templateID string) []struct {
	method, path string
	body         any
} {
	return []struct {
		method, path string
		body         any
	}{
		{"GET", "/os-templates", nil},
		{"GET", "/custom-templates", nil},
		{"POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox001", Name: "t"}},
		{"GET", "/custom-templates/" + templateID, nil},
		{"PUT", "/custom-templates/" + templateID, api.CustomTemplateUpdate{Name: ptr("x")}},
		{"DELETE", "/custom-templates/" + templateID, nil},
		{"GET", "/startup-scripts", nil},
		{"POST", "/startup-scripts", api.StartupScriptCreate{Name: "n", Script: "s"}},
		{"GET", "/startup-scripts/" + scriptID, nil},
		{"PUT", "/startup-scripts/" + scriptID, api.StartupScriptCreate{Name: "n", Script: "s"}},
		{"DELETE", "/startup-scripts/" + scriptID, nil},
		{"POST", "/startup-scripts/" + scriptID + "/assign", api.MachineRef{MachineID: "psbox001"}},
		{"POST", "/startup-scripts/" + scriptID + "/unassign", api.MachineRef{MachineID: "psbox001"}},
		{"GET", "/_sandbox/dump", nil},
		{"GET", "/_sandbox/stats", nil},
		{"GET", "/_sandbox/requests", nil},
		{"POST", "/_sandbox/reset", nil},
	}
}

func TestAuthRequired(t *testing.T) {
	e := newEnv(t, sandbox.Config{Keys: map[string]string{"good-key": "team-a"}})
	if e.key != "good-key" {
		t.Fatalf("key %q", e.key)
	}
	s := e.createScript("s", "body")
	var tpl api.CustomTemplate
	e.call("POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox001", Name: "t"}, http.StatusCreated, &tpl)
	before := e.dump(e.key)

	for _, rt := range everyRoute(s.ID, tpl.ID) {
		for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer bad-key", "Basic Z29vZC1rZXk6", "good-key", "Bearer good-key2", "Token good-key"} {
			r, err := http.NewRequest(rt.method, e.url+rt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			res, err := e.client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s with Authorization %q: %d %s, want 401 JSON", rt.method, rt.path, auth, res.StatusCode, res.Header.Get("Content-Type"))
			}
			if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: WWW-Authenticate %q", rt.method, rt.path, res.Header.Get("WWW-Authenticate"))
			}
		}
		er := apiErr(t, e.do("wrong", rt.method, rt.path, rt.body), 401, api.CodeUnauthorized)
		if strings.Contains(er.Message, "wrong") {
			t.Errorf("the 401 message repeats the key: %q", er.Message)
		}
	}
	if diff := cmp.Diff(before, e.dump(e.key)); diff != "" {
		t.Errorf("unauthorized requests changed the data (-want +got):\n%s", diff)
	}
	// The scheme is case-insensitive, as RFC 7235 says.
	req, _ := http.NewRequest("GET", e.url+"/startup-scripts", nil)
	req.Header.Set("Authorization", "bearer good-key")
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("lower-case bearer: %d", res.StatusCode)
	}
}

func TestTeamIsolation(t *testing.T) {
	e := newEnv(t, sandbox.Config{Keys: map[string]string{"key-a": "team-a", "key-b": "team-b", "key-b2": "team-b"}})
	if e.key != "key-a" {
		t.Fatalf("first key %q, want team-a's", e.key)
	}
	if diff := cmp.Diff(map[string]string{"team-a": "key-a", "team-b": "key-b"}, e.srv.Keys()); diff != "" {
		t.Errorf("Keys (-want +got):\n%s", diff)
	}
	a := e.createScript("shared-name", "a's body")
	var aTpl api.CustomTemplate
	e.call("POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox001", Name: "tpl"}, http.StatusCreated, &aTpl)
	if a.TeamID != "team-a" || aTpl.TeamID != "team-a" {
		t.Errorf("teamId %q %q, want team-a", a.TeamID, aTpl.TeamID)
	}

	b := &env{t: t, srv: e.srv, url: e.url, key: "key-b", client: e.client}
	bs := b.createScript("shared-name", "b's body")
	if bs.TeamID != "team-b" {
		t.Errorf("b's script teamId %q", bs.TeamID)
	}
	// Team b sees none of team a's objects, and cannot touch them.
	for _, rt := range everyRoute(a.ID, aTpl.ID) {
		if strings.Contains(rt.path, "/_sandbox/") || !strings.Contains(rt.path, a.ID) && !strings.Contains(rt.path, aTpl.ID) {
			continue
		}
		apiErr(t, b.do("key-b", rt.method, rt.path, rt.body), 404, api.CodeNotFound)
	}
	var list []api.StartupScript
	b.call("GET", "/startup-scripts", nil, http.StatusOK, &list)
	if diff := cmp.Diff([]api.StartupScript{bs}, list); diff != "" {
		t.Errorf("b's list (-want +got):\n%s", diff)
	}
	var tpls []api.CustomTemplate
	b.call("GET", "/custom-templates", nil, http.StatusOK, &tpls)
	if len(tpls) != 0 {
		t.Errorf("b sees templates %v", tpls)
	}
	// Both of b's keys are team b.
	b2 := &env{t: t, srv: e.srv, url: e.url, key: "key-b2", client: e.client}
	b2.call("GET", "/startup-scripts", nil, http.StatusOK, &list)
	if diff := cmp.Diff([]api.StartupScript{bs}, list); diff != "" {
		t.Errorf("b2's list (-want +got):\n%s", diff)
	}
	// a's objects are untouched, and the dumps are per team.
	da := e.dump("key-a")
	if len(da.StartupScripts) != 1 || da.StartupScripts[0].Script != "a's body" || len(da.CustomTemplates) != 1 || da.TeamID != "team-a" {
		t.Errorf("a's dump: %+v", da)
	}
	db := e.dump("key-b2")
	if len(db.StartupScripts) != 1 || db.StartupScripts[0].Script != "b's body" || len(db.CustomTemplates) != 0 || db.TeamID != "team-b" {
		t.Errorf("b's dump: %+v", db)
	}
}

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/startup-scripts/x/y", 404, ""},
		{"GET", "/machines", 404, ""},
		{"PATCH", "/startup-scripts/x", 405, "GET, PUT, DELETE"},
		{"DELETE", "/startup-scripts", 405, "GET, POST"},
		{"GET", "/startup-scripts/x/assign", 405, "POST"},
		{"POST", "/os-templates", 405, "GET"},
		{"PUT", "/_sandbox/dump", 405, "GET"},
	} {
		r := e.do(e.key, c.method, c.path, nil)
		code := map[int]string{404: api.CodeNotFound, 405: "METHOD_NOT_SUPPORTED"}[c.status]
		apiErr(t, r, c.status, code)
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	// Outside /v1 nothing is served.
	res, err := http.Get(strings.TrimSuffix(e.url, "/v1") + "/startup-scripts")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("without /v1: %d", res.StatusCode)
	}
	if got := e.srv.Stats().Requests["PATCH *"]; !cmp.Equal(got, map[int]int{405: 1}) {
		t.Errorf("unmatched requests counted as %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  sandbox.Config
		want string
	}{
		{sandbox.Config{Dialect: "paperspace-v1", Live: sandbox.LiveConfig{TemplateErrorRate: 2}}, "template error rate"},
		{sandbox.Config{Dialect: "paperspace-v1", Live: sandbox.LiveConfig{TemplateSpuriousErrorRate: -1}}, "template spurious error rate"},
		{sandbox.Config{Dialect: "paperspace-v1", Live: sandbox.LiveConfig{RedundantAssignStatus: 42}}, "not an HTTP status"},
		{sandbox.Config{Dialect: "paperspace-v1", Live: sandbox.LiveConfig{MaxScriptBytes: -1}}, "cannot be negative"},
		{sandbox.Config{Dialect: "v2"}, "unknown dialect"},
		{sandbox.Config{Machines: -1}, "negative"},
		{sandbox.Config{Keys: map[string]string{"": "team"}}, "empty"},
		{sandbox.Config{Keys: map[string]string{"k": ""}}, "empty"},
		{sandbox.Config{Keys: map[string]string{"a b": "t"}}, "white space"},
		{sandbox.Config{Faults: sandbox.Faults{ErrorRate: 1.5}}, "error rate"},
		{sandbox.Config{Faults: sandbox.Faults{ThrottleRate: -0.1}}, "throttle rate"},
		{sandbox.Config{Faults: sandbox.Faults{AmbiguousRate: 2}}, "ambiguous rate"},
		{sandbox.Config{Faults: sandbox.Faults{Latency: -1}}, "negative"},
		{sandbox.Config{Faults: sandbox.Faults{RPS: -1}}, "rps"},
	} {
		s, err := sandbox.New(c.cfg)
		if err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", c.cfg)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want it to mention %q", c.cfg, err, c.want)
		}
	}
	if _, err := sandbox.Start(sandbox.Config{}, "not-an-address"); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

// Listening on every interface still gives a URL a client can use: the
// loopback address, not the wildcard the listener reports.
func TestStartOnEveryInterface(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		in, err := sandbox.Start(sandbox.Config{}, addr)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(in.URL, "http://127.0.0.1:") {
			t.Errorf("Start(%q): URL %s, want one on 127.0.0.1", addr, in.URL)
		}
		req, _ := http.NewRequest(http.MethodGet, in.URL+"/startup-scripts", nil)
		req.Header.Set("Authorization", "Bearer "+in.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("Start(%q): GET %s: %v", addr, in.URL, err)
		} else {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("Start(%q): GET: %s", addr, resp.Status)
			}
		}
		in.Close()
	}
}
