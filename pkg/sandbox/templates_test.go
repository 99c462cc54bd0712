package sandbox_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

func TestCustomTemplateLifecycle(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	var a, b api.CustomTemplate
	e.call("POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox001", Name: "gpu-base"}, http.StatusCreated, &a)
	e.call("POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox002", Name: "cpu-base", Note: "for CI"}, http.StatusCreated, &b)
	ignore := cmpopts.IgnoreFields(api.CustomTemplate{}, "ID", "DtCreated")
	if diff := cmp.Diff(api.CustomTemplate{Name: "gpu-base", MachineID: "psbox001", TeamID: sandbox.DefaultTeam}, a, ignore); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(a.ID, "tpl_") || a.ID == b.ID || a.DtCreated.IsZero() {
		t.Errorf("ids %q %q, dtCreated %v", a.ID, b.ID, a.DtCreated)
	}
	var got api.CustomTemplate
	e.call("GET", "/custom-templates/"+b.ID, nil, http.StatusOK, &got)
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
	var list []api.CustomTemplate
	e.call("GET", "/custom-templates", nil, http.StatusOK, &list)
	if diff := cmp.Diff([]api.CustomTemplate{a, b}, list); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}

	// PUT changes what it is given, nothing else.
	steps := []struct {
		body api.CustomTemplateUpdate
		name string
		note string
	}{
		{api.CustomTemplateUpdate{Name: ptr("gpu-base-2")}, "gpu-base-2", ""},
		{api.CustomTemplateUpdate{Note: ptr("nightly")}, "gpu-base-2", "nightly"},
		{api.CustomTemplateUpdate{Name: ptr("gpu"), Note: ptr("n2")}, "gpu", "n2"},
		{api.CustomTemplateUpdate{}, "gpu", "n2"},
		{api.CustomTemplateUpdate{Note: ptr("")}, "gpu", ""},
	}
	for _, st := range steps {
		got = api.CustomTemplate{}
		e.call("PUT", "/custom-templates/"+a.ID, st.body, http.StatusOK, &got)
		want := a
		want.Name, want.Note = st.name, st.note
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("put %+v (-want +got):\n%s", st.body, diff)
		}
	}

	r := e.call("DELETE", "/custom-templates/"+a.ID, nil, http.StatusNoContent, nil)
	if len(r.body) != 0 {
		t.Errorf("delete answered a body: %s", r.body)
	}
	apiErr(t, e.do(e.key, "GET", "/custom-templates/"+a.ID, nil), 404, api.CodeNotFound)
	apiErr(t, e.do(e.key, "PUT", "/custom-templates/"+a.ID, api.CustomTemplateUpdate{Name: ptr("x")}), 404, api.CodeNotFound)
	e.call("GET", "/custom-templates", nil, http.StatusOK, &list)
	if diff := cmp.Diff([]api.CustomTemplate{b}, list); diff != "" {
		t.Errorf("list after delete (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]api.CustomTemplate{b}, e.dump(e.key).CustomTemplates); diff != "" {
		t.Errorf("dump (-want +got):\n%s", diff)
	}
	// Empty lists are [] (an array), never null.
	e.call("DELETE", "/custom-templates/"+b.ID, nil, http.StatusNoContent, nil)
	r = e.call("GET", "/custom-templates", nil, http.StatusOK, nil)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty list: %s", r.body)
	}
	r = e.call("GET", "/startup-scripts", nil, http.StatusOK, nil)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty list: %s", r.body)
	}
}

func TestOsTemplates(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	var all []api.OsTemplate
	e.call("GET", "/os-templates?limit=120", nil, http.StatusOK, &all)
	if len(all) < 12 {
		t.Fatalf("catalogue of %d, want a dozen or more", len(all))
	}
	kinds := map[string]int{}
	ids := map[string]bool{}
	for _, o := range all {
		kinds[o.OS]++
		ids[o.ID] = true
		if o.ID == "" || o.Name == "" || o.DefaultUser == "" || o.DtCreated.IsZero() {
			t.Errorf("incomplete template %+v", o)
		}
	}
	if kinds["ubuntu"] < 4 || kinds["windows"] < 3 || len(ids) != len(all) {
		t.Errorf("catalogue by os %v with %d unique ids of %d", kinds, len(ids), len(all))
	}
	// The default order is newest first.
	byTime := append([]api.OsTemplate{}, all...)
	sort.Slice(byTime, func(i, j int) bool { return byTime[i].DtCreated.After(byTime[j].DtCreated) })
	if diff := cmp.Diff(byTime, all); diff != "" {
		t.Errorf("default order (-want +got):\n%s", diff)
	}
	var def []api.OsTemplate
	e.call("GET", "/os-templates", nil, http.StatusOK, &def)
	if want := min(20, len(all)); len(def) != want {
		t.Errorf("default page of %d, want %d", len(def), want)
	}

	sorted := func(by, order string) []api.OsTemplate {
		out := append([]api.OsTemplate{}, all...)
		sort.Slice(out, func(i, j int) bool {
			a, b := out[i], out[j]
			if order == "desc" {
				a, b = b, a
			}
			if by == "name" {
				return a.Name < b.Name
			}
			return a.DtCreated.Before(b.DtCreated)
		})
		return out
	}
	// Paging with after through every order gives the whole catalogue
	// once, in order.
	for _, by := range []string{"", "dtCreated", "name"} {
		for _, order := range []string{"", "asc", "desc"} {
			for _, limit := range []int{1, 5, 120} {
				var got []api.OsTemplate
				after := ""
				for pages := 0; ; pages++ {
					if pages > len(all)+1 {
						t.Fatalf("orderBy=%s order=%s limit=%d: paging does not end", by, order, limit)
					}
					kv := []string{"limit", fmt.Sprint(limit)}
					if by != "" {
						kv = append(kv, "orderBy", by)
					}
					if order != "" {
						kv = append(kv, "order", order)
					}
					if after != "" {
						kv = append(kv, "after", after)
					}
					var page []api.OsTemplate
					e.call("GET", withQuery("/os-templates", kv...), nil, http.StatusOK, &page)
					if len(page) > limit {
						t.Fatalf("page of %d over limit %d", len(page), limit)
					}
					got = append(got, page...)
					if len(page) < limit {
						break
					}
					after = page[len(page)-1].ID
				}
				wantBy, wantOrder := by, order
				if wantBy == "" {
					wantBy = "dtCreated"
				}
				if wantOrder == "" {
					wantOrder = "desc"
				}
				if diff := cmp.Diff(sorted(wantBy, wantOrder), got); diff != "" {
					t.Errorf("orderBy=%q order=%q limit=%d (-want +got):\n%s", by, order, limit, diff)
				}
			}
		}
	}

	// name filters, ignoring case, by substring.
	var ml []api.OsTemplate
	e.call("GET", withQuery("/os-templates", "name", "ml-IN-a-box", "orderBy", "name", "order", "asc"), nil, http.StatusOK, &ml)
	var wantML []api.OsTemplate
	for _, o := range sorted("name", "asc") {
		if strings.Contains(strings.ToLower(o.Name), "ml-in-a-box") {
			wantML = append(wantML, o)
		}
	}
	if len(wantML) < 2 {
		t.Fatalf("catalogue has %d ML-in-a-Box images", len(wantML))
	}
	if diff := cmp.Diff(wantML, ml); diff != "" {
		t.Errorf("name filter (-want +got):\n%s", diff)
	}
	// A filtered page continues after its cursor.
	var rest []api.OsTemplate
	e.call("GET", withQuery("/os-templates", "name", "ML-in-a-Box", "orderBy", "name", "order", "asc", "after", wantML[0].ID), nil, http.StatusOK, &rest)
	if diff := cmp.Diff(wantML[1:], rest); diff != "" {
		t.Errorf("filtered page after cursor (-want +got):\n%s", diff)
	}
	var none []api.OsTemplate
	e.call("GET", withQuery("/os-templates", "name", "Solaris"), nil, http.StatusOK, &none)
	if len(none) != 0 {
		t.Errorf("name=Solaris: %v", none)
	}

	for _, q := range []string{"limit=0", "limit=121", "limit=-1", "limit=ten", "limit=", "limit=1.5", "order=up", "orderBy=size", "orderBy=", "after=nope"} {
		er := apiErr(t, e.do(e.key, "GET", "/os-templates?"+q, nil), 400, api.CodeBadRequest)
		name, _, _ := strings.Cut(q, "=")
		if !strings.Contains(er.Message, name) {
			t.Errorf("%s: message %q does not name %s", q, er.Message, name)
		}
	}
}
