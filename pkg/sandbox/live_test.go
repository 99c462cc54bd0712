package sandbox_test

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

func newLive(t *testing.T, lc sandbox.LiveConfig) *env {
	return newEnv(t, sandbox.Config{Dialect: sandbox.DialectPaperspace1, Live: lc, Keys: map[string]string{"lk": "team-live"}})
}

func (e *env) liveScript(name string) api.LiveStartupScript {
	e.t.Helper()
	var s api.LiveStartupScript
	e.call("POST", "/startup-scripts", map[string]any{"name": name, "script": "echo " + name}, http.StatusOK, &s)
	return s
}

func TestLiveStartupScripts(t *testing.T) {
	e := newLive(t, sandbox.LiveConfig{})
	var a api.LiveStartupScript
	e.call("POST", "/startup-scripts", map[string]any{"name": "a", "script": "echo a", "isRunOnce": true}, http.StatusOK, &a)
	want := api.LiveStartupScript{Name: "a", IsEnabled: true, IsRunOnce: true, AssignedMachineIDs: []string{}}
	ignore := cmpopts.IgnoreFields(api.LiveStartupScript{}, "ID", "DtCreated")
	if diff := cmp.Diff(want, a, ignore); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}
	// The live create takes no isEnabled, and no runOnce.
	apiErr(t, e.do(e.key, "POST", "/startup-scripts", map[string]any{"name": "b", "script": "x", "isEnabled": false}), 400, api.CodeBadRequest)
	apiErr(t, e.do(e.key, "POST", "/startup-scripts", map[string]any{"name": "b", "script": "x", "runOnce": true}), 400, api.CodeBadRequest)
	apiErr(t, e.do(e.key, "POST", "/startup-scripts", map[string]any{"name": "b"}), 400, api.CodeBadRequest)

	// Update changes only what it is given.
	var got api.LiveStartupScript
	e.call("PUT", "/startup-scripts/"+a.ID, map[string]any{"isEnabled": false}, http.StatusOK, &got)
	want.IsEnabled = false
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("update isEnabled (-want +got):\n%s", diff)
	}
	e.call("PUT", "/startup-scripts/"+a.ID, map[string]any{"name": "a2", "script": "new", "isRunOnce": false}, http.StatusOK, &got)
	want.Name, want.IsRunOnce = "a2", false
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("update (-want +got):\n%s", diff)
	}
	if d := e.dump(e.key); d.StartupScripts[0].Script != "new" {
		t.Errorf("body after update: %q", d.StartupScripts[0].Script)
	}
	apiErr(t, e.do(e.key, "PUT", "/startup-scripts/"+a.ID, map[string]any{"runOnce": true}), 400, api.CodeBadRequest)
	apiErr(t, e.do(e.key, "PUT", "/startup-scripts/scr_nope", map[string]any{}), 404, api.CodeNotFound)

	// assign and unassign answer the script with its machines, which the
	// list shows too.
	e.call("POST", "/startup-scripts/"+a.ID+"/assign", api.MachineRef{MachineID: "psbox003"}, http.StatusOK, &got)
	e.call("POST", "/startup-scripts/"+a.ID+"/assign", api.MachineRef{MachineID: "psbox001"}, http.StatusOK, &got)
	if diff := cmp.Diff([]string{"psbox001", "psbox003"}, got.AssignedMachineIDs); diff != "" {
		t.Errorf("assigned (-want +got):\n%s", diff)
	}
	apiErr(t, e.do(e.key, "POST", "/startup-scripts/"+a.ID+"/assign", api.MachineRef{MachineID: "psbox777"}), 404, api.CodeNotFound)
	var page api.Page[api.LiveStartupScript]
	e.call("GET", "/startup-scripts?limit=120", nil, http.StatusOK, &page)
	if len(page.Items) != 1 || !cmp.Equal(page.Items[0].AssignedMachineIDs, []string{"psbox001", "psbox003"}) || page.HasMore || page.NextPage != nil {
		t.Errorf("list: %+v", page)
	}
	e.call("POST", "/startup-scripts/"+a.ID+"/unassign", api.MachineRef{MachineID: "psbox003"}, http.StatusOK, &got)
	if diff := cmp.Diff([]string{"psbox001"}, got.AssignedMachineIDs); diff != "" {
		t.Errorf("after unassign (-want +got):\n%s", diff)
	}
	var one api.LiveStartupScript
	e.call("GET", "/startup-scripts/"+a.ID, nil, http.StatusOK, &one)
	if diff := cmp.Diff(got, one); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}

	// Delete answers 200 with the object, deleted.
	var del api.LiveStartupScript
	e.call("DELETE", "/startup-scripts/"+a.ID, nil, http.StatusOK, &del)
	if del.ID != a.ID || del.DtDeleted == nil || len(del.AssignedMachineIDs) != 0 {
		t.Errorf("delete answered %+v", del)
	}
	apiErr(t, e.do(e.key, "GET", "/startup-scripts/"+a.ID, nil), 404, api.CodeNotFound)
	if d := e.dump(e.key); len(d.StartupScripts) != 0 || len(d.Assignments) != 0 {
		t.Errorf("dump after delete: %+v", d)
	}
}

// pageAll follows nextPage from path and returns the ids in order, with
// any repeats, and the number of pages.
func pageAll(e *env, path string) ([]string, int) {
	e.t.Helper()
	var ids []string
	after := ""
	for pages := 1; ; pages++ {
		if pages > 500 {
			e.t.Fatalf("%s: paging does not end", path)
		}
		p := path
		if after != "" {
			p += "&after=" + after
		}
		var page api.Page[struct{ ID string }]
		e.call("GET", p, nil, http.StatusOK, &page)
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.HasMore != (page.NextPage != nil) {
			e.t.Fatalf("%s: hasMore %v with nextPage %v", p, page.HasMore, page.NextPage)
		}
		if !page.HasMore {
			return ids, pages
		}
		after = *page.NextPage
	}
}

func TestLivePaging(t *testing.T) {
	for _, repeat := range []bool{false, true} {
		t.Run(fmt.Sprint("repeat=", repeat), func(t *testing.T) {
			e := newLive(t, sandbox.LiveConfig{RepeatItems: repeat})
			type obj struct {
				id, name string
				created  time.Time
				seq      int // creation order
			}
			var all []obj
			names := []string{"kilo", "alpha", "juliet", "bravo", "india", "charlie", "hotel", "delta", "golf", "echo", "foxtrot"}
			for i := range 23 {
				s := e.liveScript(fmt.Sprintf("%s-%02d", names[i%len(names)], i))
				all = append(all, obj{s.ID, s.Name, s.DtCreated, i})
			}
			sorted := func(by, order string) []string {
				o := slices.Clone(all)
				sort.SliceStable(o, func(i, j int) bool {
					a, b := o[i], o[j]
					if order == "desc" {
						a, b = b, a
					}
					if by == "name" {
						return a.name < b.name
					}
					if !a.created.Equal(b.created) {
						return a.created.Before(b.created)
					}
					// Same millisecond: creation order, as the store made them.
					return a.seq < b.seq
				})
				var ids []string
				for _, x := range o {
					ids = append(ids, x.id)
				}
				return ids
			}
			for _, by := range []string{"", "dtCreated", "name"} {
				for _, order := range []string{"", "asc", "desc"} {
					for _, limit := range []int{1, 2, 7, 120} {
						q := fmt.Sprintf("/startup-scripts?limit=%d", limit)
						if by != "" {
							q += "&orderBy=" + by
						}
						if order != "" {
							q += "&order=" + order
						}
						got, pages := pageAll(e, q)
						wantBy, wantOrder := or(by, "dtCreated"), or(order, "desc")
						want := sorted(wantBy, wantOrder)
						dedup := slices.Compact(slices.Clone(got))
						if diff := cmp.Diff(want, dedup); diff != "" {
							t.Errorf("%s (-want +got):\n%s", q, diff)
						}
						repeats := len(got) - len(dedup)
						switch {
						case !repeat && repeats != 0:
							t.Errorf("%s: %d repeated items", q, repeats)
						case repeat && limit > 1 && repeats != pages-1:
							t.Errorf("%s: %d repeated items over %d pages, want one per page after the first", q, repeats, pages)
						}
					}
				}
			}
			// The default page is 20.
			var p api.Page[api.LiveStartupScript]
			e.call("GET", "/startup-scripts", nil, http.StatusOK, &p)
			if len(p.Items) != 20 || !p.HasMore {
				t.Errorf("default page: %d items, hasMore %v", len(p.Items), p.HasMore)
			}
			// A cursor stays valid when its item is deleted.
			e.call("GET", "/startup-scripts?limit=5&orderBy=name&order=asc", nil, http.StatusOK, &p)
			e.call("DELETE", "/startup-scripts/"+p.Items[4].ID, nil, http.StatusOK, nil)
			var next api.Page[api.LiveStartupScript]
			e.call("GET", "/startup-scripts?limit=5&orderBy=name&order=asc&after="+*p.NextPage, nil, http.StatusOK, &next)
			if want := sorted("name", "asc")[5]; next.Items[0].ID != want {
				t.Errorf("after a deleted cursor item: first %s, want %s", next.Items[0].ID, want)
			}
			// A cursor is for its own order only.
			er := apiErr(t, e.do(e.key, "GET", "/startup-scripts?limit=5&orderBy=dtCreated&after="+*p.NextPage, nil), 400, api.CodeBadRequest)
			if !strings.Contains(er.Message, "cursor") {
				t.Errorf("message %q", er.Message)
			}
			// Partial, case-insensitive name matching.
			var f api.Page[api.LiveStartupScript]
			e.call("GET", "/startup-scripts?name=ALPHA&limit=120", nil, http.StatusOK, &f)
			for _, s := range f.Items {
				if !strings.Contains(s.Name, "alpha") {
					t.Errorf("name=ALPHA gave %s", s.Name)
				}
			}
			if len(f.Items) != 2 { // alpha-01 and alpha-12
				t.Errorf("name=ALPHA: %d items, want 2", len(f.Items))
			}
			for _, q := range []string{"limit=0", "limit=121", "limit=x", "orderBy=size", "order=sideways", "after=%21%21", "after=bm90anNvbg"} {
				apiErr(t, e.do(e.key, "GET", "/startup-scripts?"+q, nil), 400, api.CodeBadRequest)
			}
		})
	}
}

func TestLiveOsTemplates(t *testing.T) {
	e := newLive(t, sandbox.LiveConfig{})
	ids, _ := pageAll(e, "/os-templates?limit=5&order=asc")
	var p api.Page[api.LiveOsTemplate]
	e.call("GET", "/os-templates?limit=120&order=asc", nil, http.StatusOK, &p)
	var names, want []string
	nullSize := 0
	for _, o := range p.Items {
		names = append(names, o.Name)
		if o.AgentType == "" || o.OperatingSystemLabel == "" || o.DefaultSizeGb != nil && *o.DefaultSizeGb <= 0 || len(o.AvailableMachineTypes) == 0 {
			t.Errorf("incomplete %+v", o)
		}
		if o.DefaultSizeGb == nil {
			nullSize++
		}
	}
	// Some have no default size, as in the live catalogue.
	if nullSize == 0 || nullSize == len(p.Items) {
		t.Errorf("%d of %d OS templates have a null defaultSizeGb, want some", nullSize, len(p.Items))
	}
	want = slices.Clone(names)
	sort.Strings(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("default orderBy is name (-want +got):\n%s", diff)
	}
	if len(ids) != len(p.Items) || len(p.Items) < 12 {
		t.Errorf("paged %d, listed %d", len(ids), len(p.Items))
	}
	apiErr(t, e.do(e.key, "GET", "/os-templates?orderBy=dtCreated", nil), 400, api.CodeBadRequest)
	e.call("GET", "/os-templates?name=windows&limit=120", nil, http.StatusOK, &p)
	if len(p.Items) < 3 {
		t.Errorf("name=windows: %d", len(p.Items))
	}
}

func TestLiveCustomTemplates(t *testing.T) {
	const delay = 600 * time.Millisecond
	e := newLive(t, sandbox.LiveConfig{TemplateDelay: delay})
	var created api.LiveTemplateCreated
	start := time.Now()
	e.call("POST", "/custom-templates", api.MachineRef{MachineID: "psbox002"}, http.StatusBadRequest, nil)
	e.call("POST", "/custom-templates", map[string]any{"machineId": "psbox002", "name": "ml", "note": "n"}, http.StatusBadRequest, nil)
	apiErr(t, e.do(e.key, "POST", "/custom-templates", map[string]any{"machineId": "psbox404", "name": "ml"}), 404, api.CodeNotFound)
	e.call("POST", "/custom-templates", map[string]any{"machineId": "psbox002", "name": "ml"}, http.StatusOK, &created)
	tpl, ev := created.Data, created.Event
	if tpl.ParentMachineID != "psbox002" || tpl.Name != "ml" || ev.State != api.EventNew || ev.Name != "template-create" || ev.DtFinished != nil {
		t.Fatalf("create answered %+v", created)
	}
	// The event moves new → in progress → done with the clock.
	var states []string
	var final api.MachineEvent
	for time.Since(start) < 5*time.Second {
		var got api.MachineEvent
		e.call("GET", "/machine-events/"+ev.ID, nil, http.StatusOK, &got)
		if len(states) == 0 || states[len(states)-1] != got.State {
			states = append(states, got.State)
		}
		if got.State == api.EventDone {
			final = got
			break
		}
		time.Sleep(delay / 20)
	}
	if diff := cmp.Diff([]string{api.EventNew, api.EventInProgress, api.EventDone}, states); diff != "" {
		t.Errorf("event states (-want +got):\n%s", diff)
	}
	if final.DtFinished == nil || final.Error != nil || time.Since(start) < delay {
		t.Errorf("final event %+v after %v", final, time.Since(start))
	}
	apiErr(t, e.do(e.key, "GET", "/machine-events/evt_nope", nil), 404, api.CodeNotFound)

	var got api.LiveCustomTemplate
	e.call("GET", "/custom-templates/"+tpl.ID, nil, http.StatusOK, &got)
	if diff := cmp.Diff(tpl, got); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
	e.call("PUT", "/custom-templates/"+tpl.ID, map[string]any{"name": "ml-2"}, http.StatusOK, &got)
	if got.Name != "ml-2" {
		t.Errorf("renamed to %q", got.Name)
	}
	apiErr(t, e.do(e.key, "PUT", "/custom-templates/"+tpl.ID, map[string]any{"note": "x"}), 400, api.CodeBadRequest)

	// machineId filters the list.
	e.call("POST", "/custom-templates", map[string]any{"machineId": "psbox003", "name": "other"}, http.StatusOK, nil)
	var p api.Page[api.LiveCustomTemplate]
	e.call("GET", "/custom-templates?machineId=psbox002&limit=120", nil, http.StatusOK, &p)
	if len(p.Items) != 1 || p.Items[0].ID != tpl.ID {
		t.Errorf("machineId filter: %+v", p.Items)
	}
	e.call("GET", "/custom-templates?orderBy=name&order=asc", nil, http.StatusOK, &p)
	if len(p.Items) != 2 || p.Items[0].Name != "ml-2" {
		t.Errorf("list: %+v", p.Items)
	}

	var del api.LiveCustomTemplate
	e.call("DELETE", "/custom-templates/"+tpl.ID, nil, http.StatusOK, &del)
	if del.ID != tpl.ID || del.DtDeleted == nil {
		t.Errorf("delete answered %+v", del)
	}
	apiErr(t, e.do(e.key, "DELETE", "/custom-templates/"+tpl.ID, nil), 404, api.CodeNotFound)
	// The event outlives its template.
	e.call("GET", "/machine-events/"+ev.ID, nil, http.StatusOK, nil)
}

// TestLiveTemplateErrors: a failing creation's event ends in error, with
// or without a reason, and the template is then gone.
func TestLiveTemplateErrors(t *testing.T) {
	e := newLive(t, sandbox.LiveConfig{TemplateDelay: -1, TemplateErrorRate: 1})
	withReason, without := 0, 0
	for i := range 12 {
		var c api.LiveTemplateCreated
		e.call("POST", "/custom-templates", map[string]any{"machineId": "psbox001", "name": fmt.Sprint("t", i)}, http.StatusOK, &c)
		if c.Event.State != api.EventError {
			t.Fatalf("event %+v, want error at once", c.Event)
		}
		var ev api.MachineEvent
		e.call("GET", "/machine-events/"+c.Event.ID, nil, http.StatusOK, &ev)
		if ev.State != api.EventError || ev.DtFinished == nil {
			t.Errorf("event %+v", ev)
		}
		if ev.Error != nil {
			withReason++
		} else {
			without++
		}
		apiErr(t, e.do(e.key, "GET", "/custom-templates/"+c.Data.ID, nil), 404, api.CodeNotFound)
	}
	if withReason == 0 || without == 0 {
		t.Errorf("%d errors with a reason, %d without; want both", withReason, without)
	}
	var p api.Page[api.LiveCustomTemplate]
	e.call("GET", "/custom-templates", nil, http.StatusOK, &p)
	if len(p.Items) != 0 || len(e.dump(e.key).CustomTemplates) != 0 {
		t.Errorf("failed templates are listed: %+v", p.Items)
	}

	// Half the creations fail at rate 0.5, the same ones under one seed.
	fates := func() string {
		e := newEnv(t, sandbox.Config{Dialect: sandbox.DialectPaperspace1, Live: sandbox.LiveConfig{TemplateDelay: -1, TemplateErrorRate: 0.5}, Faults: sandbox.Faults{Seed: 11}})
		out := ""
		for range 40 {
			var c api.LiveTemplateCreated
			e.call("POST", "/custom-templates", map[string]any{"machineId": "psbox001", "name": "t"}, http.StatusOK, &c)
			out += c.Event.State[:1]
		}
		return out
	}
	a, b := fates(), fates()
	if a != b {
		t.Errorf("same seed, different fates: %s %s", a, b)
	}
	if n := strings.Count(a, "e"); n < 10 || n > 30 {
		t.Errorf("%d of 40 failed at rate 0.5: %s", n, a)
	}
}

func TestLiveSessionAndAuth(t *testing.T) {
	e := newEnv(t, sandbox.Config{Dialect: sandbox.DialectPaperspace1, Keys: map[string]string{"ka": "team-a", "kb": "team-b"}})
	for key, team := range map[string]string{"ka": "team-a", "kb": "team-b"} {
		var s api.Session
		r := e.do(key, "GET", "/auth/session", nil)
		if r.status != 200 {
			t.Fatalf("session: %d", r.status)
		}
		if err := jsonUnmarshal(r.body, &s); err != nil || s.Team.ID != team {
			t.Errorf("session of %s: %+v %v", key, s, err)
		}
	}
	s := e.liveScript("mine")
	for _, p := range []string{"/auth/session", "/startup-scripts", "/custom-templates", "/os-templates", "/machine-events/x", "/startup-scripts/" + s.ID} {
		apiErr(t, e.do("", "GET", p, nil), 401, api.CodeUnauthorized)
	}
	apiErr(t, e.do("kb", "GET", "/startup-scripts/"+s.ID, nil), 404, api.CodeNotFound)
	var p api.Page[api.LiveStartupScript]
	b := *e
	b.key = "kb"
	b.call("GET", "/startup-scripts", nil, http.StatusOK, &p)
	if len(p.Items) != 0 {
		t.Errorf("team b sees %v", p.Items)
	}
	// The spec dialect has no session.
	spec := newEnv(t, sandbox.Config{})
	apiErr(t, spec.do(spec.key, "GET", "/auth/session", nil), 404, api.CodeNotFound)
}

func TestLiveEventsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := sandbox.Config{Dialect: sandbox.DialectPaperspace1, DataDir: dir, Live: sandbox.LiveConfig{TemplateDelay: time.Hour}}
	s1, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := attachHTTPTest(t, s1)
	e.client.Transport = live.transport(http.DefaultTransport)
	var c api.LiveTemplateCreated
	e.call("POST", "/custom-templates", map[string]any{"machineId": "psbox001", "name": "slow"}, http.StatusOK, &c)
	e.close()
	s2, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e2 := attachHTTPTest(t, s2)
	e2.client.Transport = live.transport(http.DefaultTransport)
	var ev api.MachineEvent
	e2.call("GET", "/machine-events/"+c.Event.ID, nil, http.StatusOK, &ev)
	if ev.State != api.EventInProgress && ev.State != api.EventNew {
		t.Errorf("event after restart: %+v", ev)
	}
	// The same data serves the spec dialect too.
	e2.close()
	s3, err := sandbox.New(sandbox.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e3 := attachHTTPTest(t, s3)
	var list []api.CustomTemplate
	e3.call("GET", "/custom-templates", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].Name != "slow" || list[0].MachineID != "psbox001" {
		t.Errorf("spec list of live data: %+v", list)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestLiveDeletedLinger: deleted objects stay in lists, marked deleted,
// for a while.
func TestLiveDeletedLinger(t *testing.T) {
	const linger = 400 * time.Millisecond
	e := newLive(t, sandbox.LiveConfig{DeletedLinger: linger, TemplateDelay: -1})
	keep, gone := e.liveScript("keep"), e.liveScript("gone")
	var c api.LiveTemplateCreated
	e.call("POST", "/custom-templates", map[string]any{"machineId": "psbox001", "name": "t"}, http.StatusOK, &c)
	deleted := time.Now()
	e.call("DELETE", "/startup-scripts/"+gone.ID, nil, http.StatusOK, nil)
	e.call("DELETE", "/custom-templates/"+c.Data.ID, nil, http.StatusOK, nil)
	// Both objects linger until at most this moment.
	deletesDone := time.Now()
	// While it lingers, GET still answers the object, marked deleted.
	// (Only checked when the machine was quick enough to ask in time.)
	rs := e.do(e.key, "GET", "/startup-scripts/"+gone.ID, nil)
	rt := e.do(e.key, "GET", "/custom-templates/"+c.Data.ID, nil)
	if time.Since(deleted) < linger {
		var got api.LiveStartupScript
		var gotTpl api.LiveCustomTemplate
		if rs.status != http.StatusOK || rt.status != http.StatusOK || jsonUnmarshal(rs.body, &got) != nil || jsonUnmarshal(rt.body, &gotTpl) != nil ||
			got.ID != gone.ID || got.DtDeleted == nil || gotTpl.DtDeleted == nil {
			t.Errorf("GET while lingering: %d %s; %d %s", rs.status, rs.body, rt.status, rt.body)
		}
	}
	// It cannot be changed or deleted again.
	apiErr(t, e.do(e.key, "PUT", "/startup-scripts/"+gone.ID, map[string]any{"name": "x"}), 404, api.CodeNotFound)
	apiErr(t, e.do(e.key, "DELETE", "/startup-scripts/"+gone.ID, nil), 404, api.CodeNotFound)
	apiErr(t, e.do(e.key, "POST", "/startup-scripts/"+gone.ID+"/assign", api.MachineRef{MachineID: "psbox001"}), 404, api.CodeNotFound)

	var scripts api.Page[api.LiveStartupScript]
	e.call("GET", "/startup-scripts?order=asc", nil, http.StatusOK, &scripts)
	var tpls api.Page[api.LiveCustomTemplate]
	e.call("GET", "/custom-templates?machineId=psbox001", nil, http.StatusOK, &tpls)
	if time.Since(deleted) < linger {
		if len(scripts.Items) != 2 || scripts.Items[0].ID != keep.ID || scripts.Items[0].DtDeleted != nil || scripts.Items[1].ID != gone.ID || scripts.Items[1].DtDeleted == nil {
			t.Errorf("scripts while lingering: %+v", scripts.Items)
		}
		if len(tpls.Items) != 1 || tpls.Items[0].DtDeleted == nil {
			t.Errorf("templates while lingering: %+v", tpls.Items)
		}
	}
	time.Sleep(time.Until(deletesDone.Add(linger)))
	e.call("GET", "/startup-scripts", nil, http.StatusOK, &scripts)
	e.call("GET", "/custom-templates", nil, http.StatusOK, &tpls)
	if len(scripts.Items) != 1 || scripts.Items[0].ID != keep.ID || len(tpls.Items) != 0 {
		t.Errorf("after the linger: %+v %+v", scripts.Items, tpls.Items)
	}
	apiErr(t, e.do(e.key, "GET", "/startup-scripts/"+gone.ID, nil), 404, api.CodeNotFound)
	apiErr(t, e.do(e.key, "GET", "/custom-templates/"+c.Data.ID, nil), 404, api.CodeNotFound)
}

// TestLiveScriptSize: no v1 source gives a script limit, so the live
// dialect takes bodies above the spec's 16 KiB unless told a limit, which
// it then refuses with a message.
func TestLiveScriptSize(t *testing.T) {
	big := strings.Repeat("x", api.MaxScriptBytes+1)
	e := newLive(t, sandbox.LiveConfig{})
	e.call("POST", "/startup-scripts", map[string]any{"name": "big", "script": big}, http.StatusOK, nil)
	if d := e.dump(e.key); len(d.StartupScripts) != 1 || d.StartupScripts[0].Script != big {
		t.Errorf("dump: %d scripts", len(d.StartupScripts))
	}
	lim := newLive(t, sandbox.LiveConfig{MaxScriptBytes: 100})
	er := apiErr(t, lim.do(lim.key, "POST", "/startup-scripts", map[string]any{"name": "big", "script": big}), 400, api.CodeBadRequest)
	if !strings.Contains(er.Message, "the most is 100") {
		t.Errorf("message %q", er.Message)
	}
	var s api.LiveStartupScript
	lim.call("POST", "/startup-scripts", map[string]any{"name": "small", "script": "echo"}, http.StatusOK, &s)
	apiErr(t, lim.do(lim.key, "PUT", "/startup-scripts/"+s.ID, map[string]any{"script": big}), 400, api.CodeBadRequest)
}

// TestLiveRedundantAssign: a duplicate assign, or an unassign of a machine
// that is not assigned, is refused with 400 unless configured otherwise.
func TestLiveRedundantAssign(t *testing.T) {
	for _, status := range []int{0, 409, 200} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newLive(t, sandbox.LiveConfig{RedundantAssignStatus: status})
			s := e.liveScript("a")
			ref := api.MachineRef{MachineID: "psbox001"}
			e.call("POST", "/startup-scripts/"+s.ID+"/assign", ref, http.StatusOK, nil)
			want, code := status, api.CodeConflict
			if status == 0 {
				want, code = 400, api.CodeBadRequest
			}
			check := func(op string) {
				t.Helper()
				r := e.do(e.key, "POST", "/startup-scripts/"+s.ID+"/"+op, ref)
				if want == 200 {
					if r.status != 200 {
						t.Errorf("%s: %d %s", op, r.status, r.body)
					}
					return
				}
				apiErr(t, r, want, code)
			}
			check("assign")
			if d := e.dump(e.key); len(d.Assignments) != 1 {
				t.Errorf("assignments after a duplicate assign: %+v", d.Assignments)
			}
			e.call("POST", "/startup-scripts/"+s.ID+"/unassign", ref, http.StatusOK, nil)
			check("unassign")
			if d := e.dump(e.key); len(d.Assignments) != 0 {
				t.Errorf("assignments after a redundant unassign: %+v", d.Assignments)
			}
		})
	}
}
