package remote_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// The live API's schema is looser than its usual answers: these are the
// shapes its own OpenAPI document allows (../shared/paperspace-v1-notes.md).

// dtDeleted may be a date, null, absent or {}: only a date marks the
// object deleted, and no shape fails the list.
func TestLiveDtDeletedShapes(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/v1/startup-scripts":
			writeJSON(w, 200, `{"items":[
				{"id":"s1","name":"date","isRunOnce":false,"assignedMachineIds":[],"dtDeleted":"2024-02-01T00:00:00Z"},
				{"id":"s2","name":"null","isRunOnce":false,"assignedMachineIds":[],"dtDeleted":null},
				{"id":"s3","name":"absent","isRunOnce":false,"assignedMachineIds":[]},
				{"id":"s4","name":"empty","isRunOnce":false,"assignedMachineIds":[],"dtDeleted":{}}],
				"hasMore":false}`)
		case "/v1/custom-templates":
			writeJSON(w, 200, `{"items":[
				{"id":"c1","name":"date","parentMachineId":"m1","defaultSizeGb":null,"dtDeleted":"2024-02-01T00:00:00Z"},
				{"id":"c2","name":"empty","parentMachineId":"m1","defaultSizeGb":null,"dtDeleted":{}},
				{"id":"c3","name":"absent","parentMachineId":"m1"}],
				"hasMore":false}`)
		case "/v1/startup-scripts/s1":
			writeJSON(w, 200, `{"id":"s1","name":"date","isRunOnce":false,"assignedMachineIds":[],"dtDeleted":"2024-02-01T00:00:00Z"}`)
		case "/v1/startup-scripts/s4":
			writeJSON(w, 200, `{"id":"s4","name":"empty","isRunOnce":false,"assignedMachineIds":[],"dtDeleted":{}}`)
		case "/v1/custom-templates/c1":
			writeJSON(w, 200, `{"id":"c1","name":"date","parentMachineId":"m1","dtDeleted":"2024-02-01T00:00:00Z"}`)
		case "/v1/os-templates":
			writeJSON(w, 200, `{"items":[{"id":"o1","name":"Ubuntu 22 Desktop","operatingSystemLabel":"Ubuntu","defaultSizeGb":null}],"hasMore":false,"nextPage":null}`)
		case "/v1/auth/session":
			writeJSON(w, 200, `{"team":{"id":"team1"}}`)
		default:
			writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no"}`)
		}
	})
	c := f.client(t)
	ctx := context.Background()
	snap, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var scripts, templates []string
	for _, s := range snap.Scripts {
		scripts = append(scripts, s.Name)
	}
	for _, tp := range snap.Templates {
		templates = append(templates, tp.Name)
	}
	if diff := cmp.Diff([]string{"absent", "empty", "null"}, scripts); diff != "" {
		t.Errorf("scripts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"absent", "empty"}, templates); diff != "" {
		t.Errorf("templates (-want +got):\n%s", diff)
	}
	if len(snap.OSTemplates) != 1 {
		t.Errorf("OS templates with a null defaultSizeGb: %+v", snap.OSTemplates)
	}
	// GET treats a dated dtDeleted as gone, not {}.
	if _, err := c.GetScript(ctx, "s1"); !remote.IsNotFound(err) || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("GetScript of a deleted script: %v, want not found", err)
	}
	if _, err := c.GetTemplate(ctx, "c1"); !remote.IsNotFound(err) {
		t.Errorf("GetTemplate of a deleted template: %v, want not found", err)
	}
	if s, err := c.GetScript(ctx, "s4"); err != nil || s.Name != "empty" {
		t.Errorf("GetScript with dtDeleted {} = %+v, %v", s, err)
	}
}

// The sandbox's --deleted-linger: deleted objects stay listed and readable
// with dtDeleted, and the client sees them gone at once.
func TestLiveDeletedLingerIsGone(t *testing.T) {
	_, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{DeletedLinger: time.Minute, TemplateDelay: -1}, sandbox.Faults{}))
	ctx := context.Background()
	s, err := c.CreateScript(ctx, remote.ScriptInput{Name: "a", Body: "true", IsEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := c.CreateTemplate(ctx, remote.TemplateInput{Name: "t", MachineID: "psbox001"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteScript(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTemplate(ctx, tp.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetScript(ctx, s.ID); !remote.IsNotFound(err) {
		t.Errorf("GetScript while it lingers: %v, want not found", err)
	}
	if _, err := c.GetTemplate(ctx, tp.ID); !remote.IsNotFound(err) {
		t.Errorf("GetTemplate while it lingers: %v, want not found", err)
	}
	snap, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Scripts) != 0 || len(snap.Templates) != 0 {
		t.Errorf("lingering objects fetched: %+v %+v", snap.Scripts, snap.Templates)
	}
}

// An error's issues[].path may hold numbers, its code any string, and its
// details or issues a shape not foreseen: the code and message are shown
// whatever the rest.
func TestLiveErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"code":"BAD_REQUEST","message":"Invalid input","issues":[{"message":"Required","path":["items",0,"name"]},{"message":"Too long","path":["script"]}]}`,
			`create script "a": 400 BAD_REQUEST: Invalid input (items.0.name: Required; script: Too long)`},
		{`{"code":"SOMETHING_NEW","message":"a code psync has never seen"}`,
			`create script "a": 400 SOMETHING_NEW: a code psync has never seen`},
		{`{"code":"BAD_REQUEST","message":"odd issues","issues":[{"message":"x","path":[true]}]}`,
			`create script "a": 400 BAD_REQUEST: odd issues`},
	} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 400, tc.body) })
		_, err := f.client(t).CreateScript(context.Background(), remote.ScriptInput{Name: "a", Body: "true", IsEnabled: true})
		if err == nil || err.Error() != tc.want {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

// TIMEOUT (408) and CLIENT_CLOSED_REQUEST (499) are retried, by status or
// by code; a code psync does not know decides nothing.
func TestRetriesByCode(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		retry  bool
	}{
		{408, `{"code":"TIMEOUT","message":"took too long"}`, true},
		{499, `{"code":"CLIENT_CLOSED_REQUEST","message":"closed"}`, true},
		{499, ``, true},
		{400, `{"code":"TIMEOUT","message":"by code"}`, true},
		{200, `{"code":"CLIENT_CLOSED_REQUEST","message":"an error body in a 200"}`, true},
		{503, `{"code":"SERVICE_UNAVAILABLE","message":"a proxy's"}`, true},
		{400, `{"code":"SOMETHING_NEW","message":"unknown"}`, false},
		{501, `{"code":"INTERNAL_SERVER_ERROR","message":"not implemented"}`, false},
	} {
		t.Run(fmt.Sprint(tc.status, tc.body), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					writeJSON(w, tc.status, tc.body)
					return
				}
				writeJSON(w, 200, `[]`)
			})
			_, err := f.client(t).ListScripts(context.Background())
			if got := err == nil; got != tc.retry {
				t.Errorf("retried %v (err %v), want %v", got, err, tc.retry)
			}
		})
	}
}

// A retryable code on a create is ambiguous: the client looks the name up
// before sending it again.
func TestCreateTimeoutLooksFirst(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.Method == http.MethodPost:
			writeJSON(w, 408, `{"code":"TIMEOUT","message":"took too long"}`)
		default:
			writeJSON(w, 200, `[{"id":"s1","name":"a","runOnce":false,"isEnabled":true}]`)
		}
	})
	s, err := f.client(t).CreateScript(context.Background(), remote.ScriptInput{Name: "a", Body: "true", IsEnabled: true})
	if err != nil || s.ID != "s1" {
		t.Fatalf("CreateScript = %+v, %v; want s1 found after the timeout", s, err)
	}
	if diff := cmp.Diff([]string{"POST /v1/startup-scripts", "GET /v1/startup-scripts?limit=120&name=a"}, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// GET /auth/session answering null is a bad key, not an unknown team.
func TestSessionNull(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/v1/auth/session" {
			writeJSON(w, 200, `null`)
			return
		}
		writeJSON(w, 200, `{"items":[],"hasMore":false}`)
	})
	c := f.client(t)
	team, err := c.Session(context.Background())
	var e *remote.Error
	if team != "" || !errors.As(err, &e) || e.Code != api.CodeUnauthorized || !strings.Contains(err.Error(), "PAPERSPACE_API_KEY is not valid for this API") {
		t.Fatalf("Session() = %q, %v; want the key refused", team, err)
	}
	if _, err := c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("Fetch with a null session: %v", err)
	}
}

// A template-create event is judged whole: error with a message fails
// with it; error without one but finished looks at the template; cancelled
// fails. Its name is open and its dtStarted and machineId nullable.
func TestLiveEventOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name, event string
		template    int // status of GET /custom-templates/c1; 0: never asked
		want        string
	}{
		{"error with a message", `"state":"error","error":"disk full","dtFinished":"2024-01-01T00:00:00Z"`, 0,
			`create template "ml" (c1): the API's template-create event ended error: disk full`},
		{"error, finished, template there", `"state":"error","error":null,"dtFinished":"2024-01-01T00:00:00Z"`, 200, ``},
		{"error, finished, template gone", `"state":"error","error":null,"dtFinished":"2024-01-01T00:00:00Z"`, 404,
			`create template "ml" (c1): the API's template-create event ended error (the API gave no reason, and the template is not there)`},
		{"error, unfinished", `"state":"error","error":null,"dtFinished":null`, 0,
			`create template "ml" (c1): the API's template-create event ended error (the API gave no reason)`},
		{"cancelled", `"state":"cancelled","error":null,"dtFinished":"2024-01-01T00:00:00Z"`, 0,
			`create template "ml" (c1): the API's template-create event ended cancelled (the API gave no reason)`},
		{"done, other name", `"state":"done","name":"template-create-v2","error":null,"dtFinished":{}`, 0, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := 0
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				switch {
				case r.Method == http.MethodPost:
					writeJSON(w, 200, `{"data":{"id":"c1","name":"ml","parentMachineId":"psbox001"},"event":{"id":"ev1","name":"template-create","state":"new","machineId":null,"dtStarted":null}}`)
				case r.URL.Path == "/v1/machine-events/ev1":
					writeJSON(w, 200, `{"id":"ev1","name":"template-create","machineId":null,"dtStarted":null,`+tc.event+`}`)
				case r.URL.Path == "/v1/custom-templates/c1":
					asked++
					if tc.template == 200 {
						writeJSON(w, 200, `{"id":"c1","name":"ml","parentMachineId":"psbox001","dtDeleted":null}`)
					} else {
						writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no"}`)
					}
				default:
					writeJSON(w, 404, `{"code":"NOT_FOUND","message":"no"}`)
				}
			})
			c := f.client(t, func(c *remote.Config) { c.PollInterval = time.Millisecond; c.Dialect = remote.DialectPaperspaceV1 })
			got, err := c.CreateTemplate(context.Background(), remote.TemplateInput{Name: "ml", MachineID: "psbox001"})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.want == "" && got.ID != "c1":
				t.Errorf("got %+v", got)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
			if wantAsked := tc.template != 0; (asked > 0) != wantAsked {
				t.Errorf("GET of the template %d times; want asked %v", asked, wantAsked)
			}
		})
	}
}

// Through the sandbox: events that end in error without a message though
// the template was made succeed; real failures still fail.
func TestLiveSpuriousEventErrors(t *testing.T) {
	_, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{TemplateDelay: 20 * time.Millisecond, TemplateSpuriousErrorRate: 1}, sandbox.Faults{}))
	for i := range 3 {
		tp, err := c.CreateTemplate(context.Background(), remote.TemplateInput{Name: fmt.Sprintf("t%d", i), MachineID: "psbox001"})
		if err != nil || tp.ID == "" {
			t.Fatalf("CreateTemplate = %+v, %v; want it made", tp, err)
		}
	}
}

// After an ambiguous failure, an assign or unassign is judged from the
// script's assignedMachineIds, not sent again blindly: the live sandbox
// refuses a duplicate assign, as the live API may.
func TestLiveAssignAfterAmbiguousFailure(t *testing.T) {
	inst, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{}, sandbox.Faults{}))
	ctx := context.Background()
	s, err := c.CreateScript(ctx, remote.ScriptInput{Name: "a", Body: "true", IsEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	// Every write happens, then fails (500 or a dropped connection).
	inst.Server.SetFaults(sandbox.Faults{AmbiguousRate: 1, Seed: 5})
	inst.Server.ResetStats()
	for _, m := range []string{"psbox001", "psbox002", "psbox003"} {
		if err := c.AssignScript(ctx, s.ID, m); err != nil {
			t.Fatalf("assign %s: %v", m, err)
		}
	}
	if err := c.UnassignScript(ctx, s.ID, "psbox002"); err != nil {
		t.Fatalf("unassign: %v", err)
	}
	inst.Server.SetFaults(sandbox.Faults{})
	d := dump(t, inst)
	var got []string
	for _, a := range d.Assignments {
		got = append(got, a.MachineID)
	}
	if diff := cmp.Diff([]string{"psbox001", "psbox003"}, got); diff != "" {
		t.Errorf("assignments (-want +got):\n%s", diff)
	}
	st := inst.Server.Stats()
	if n := st.Count("POST /startup-scripts/{id}/assign"); n != 3 {
		t.Errorf("%d assign requests, want 3 (none repeated)", n)
	}
	if n := st.Count("POST /startup-scripts/{id}/unassign"); n != 1 {
		t.Errorf("%d unassign requests, want 1", n)
	}
	if n := st.Count("GET /startup-scripts/{id}"); n != 4 {
		t.Errorf("%d reads of the script, want 4 (one after each ambiguous failure)", n)
	}
}

// A refused assign is read back too: refused because it is done already
// is success; refused otherwise is the API's error.
func TestLiveAssignRefused(t *testing.T) {
	inst, c := startSandboxConfig(t, liveSandbox(sandbox.LiveConfig{}, sandbox.Faults{}))
	ctx := context.Background()
	s, err := c.CreateScript(ctx, remote.ScriptInput{Name: "a", Body: "true", IsEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.AssignScript(ctx, s.ID, "psbox001"); err != nil {
			t.Fatalf("assign: %v", err)
		}
	}
	for range 2 {
		if err := c.UnassignScript(ctx, s.ID, "psbox001"); err != nil {
			t.Fatalf("unassign: %v", err)
		}
	}
	if n := inst.Server.Stats().Requests["POST /startup-scripts/{id}/assign"][400]; n != 1 {
		t.Errorf("%d assigns refused with 400, want 1 (the duplicate)", n)
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.Method {
		case http.MethodPost:
			writeJSON(w, 400, `{"code":"BAD_REQUEST","message":"machine is off"}`)
		default:
			writeJSON(w, 200, `{"id":"s1","name":"a","isRunOnce":false,"assignedMachineIds":["psbox009"]}`)
		}
	})
	fc := f.client(t, func(c *remote.Config) { c.Dialect = remote.DialectPaperspaceV1 })
	err = fc.AssignScript(ctx, "s1", "psbox001")
	if err == nil || !strings.Contains(err.Error(), "400 BAD_REQUEST: machine is off") {
		t.Fatalf("got %v, want the API's refusal", err)
	}
	if reqs := f.requests(); !slices.Equal(reqs, []string{"POST /v1/startup-scripts/s1/assign", "GET /v1/startup-scripts/s1"}) {
		t.Errorf("requests %v", reqs)
	}
}
