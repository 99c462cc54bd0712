package sandbox

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/psync-dev/psync/pkg/api"
)

// The spec dialect: api/openapi.yaml's wire. Lists are plain arrays (the
// OS-template catalogue paged by id), creates answer 201, deletes 204 with
// no body, and a PUT of a script replaces its name, body and flags.
type specDialect struct{}

// defaultLimit is the OS-template page size when limit is not given.
const defaultLimit = 20

func (r *scriptRec) api() api.StartupScript {
	return api.StartupScript{ID: r.ID, Name: r.Name, RunOnce: r.RunOnce, IsEnabled: r.IsEnabled, TeamID: r.TeamID, DtCreated: r.DtCreated}
}

func (r *templateRec) api() api.CustomTemplate {
	return api.CustomTemplate{ID: r.ID, Name: r.Name, Note: r.Note, MachineID: r.MachineID, TeamID: r.TeamID, DtCreated: r.DtCreated}
}

// --- OS templates ---

// listOsTemplates serves the catalogue: ordered by orderBy (dtCreated, the
// default, or name) and order (desc, the default, or asc), filtered by name
// (a case-insensitive substring, as the live API may match partially), and
// paged by limit with after, the id of the previous page's last item.
func (specDialect) listOsTemplates(c *call) *reply {
	q := c.r.URL.Query()
	limit := defaultLimit
	if v := q.Get("limit"); q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxLimit {
			return errReply(http.StatusBadRequest, api.CodeBadRequest, "limit must be an integer from 1 to %d, not %q", api.MaxLimit, v)
		}
		limit = n
	}
	orderBy := "dtCreated"
	if q.Has("orderBy") {
		orderBy = q.Get("orderBy")
	}
	order := "desc"
	if q.Has("order") {
		order = q.Get("order")
	}
	if order != "asc" && order != "desc" {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "order must be asc or desc, not %q", order)
	}
	all := slices.Clone(osTemplates)
	var less func(a, b api.OsTemplate) bool
	switch orderBy {
	case "dtCreated":
		less = func(a, b api.OsTemplate) bool { return createdBefore(a.DtCreated, a.ID, b.DtCreated, b.ID) }
	case "name":
		less = func(a, b api.OsTemplate) bool { return byName(a.Name, a.DtCreated, a.ID, b.Name, b.DtCreated, b.ID) }
	default:
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "orderBy must be dtCreated or name, not %q", orderBy)
	}
	sort.Slice(all, func(i, j int) bool {
		if order == "desc" {
			return less(all[j], all[i])
		}
		return less(all[i], all[j])
	})
	// The cursor is a position in the whole ordered catalogue, so it stays
	// valid whatever the name filter.
	if q.Has("after") {
		after := q.Get("after")
		i := slices.IndexFunc(all, func(t api.OsTemplate) bool { return t.ID == after })
		if i < 0 {
			return errReply(http.StatusBadRequest, api.CodeBadRequest, "after %q is not the id of an OS template", after)
		}
		all = all[i+1:]
	}
	name := strings.ToLower(q.Get("name"))
	page := []api.OsTemplate{}
	for _, t := range all {
		if len(page) == limit {
			break
		}
		if name == "" || strings.Contains(strings.ToLower(t.Name), name) {
			page = append(page, t)
		}
	}
	return ok(http.StatusOK, page)
}

// --- Scripts and templates ---

// decodeScript reads a StartupScriptCreate, the body of both POST and PUT:
// name and script are required, and omitted flags take the spec's defaults
// (a PUT replaces them too).
func (specDialect) decodeScript(c *call, _ bool) (scriptWrite, *reply) {
	w := scriptWrite{name: new(string), script: new(string), runOnce: new(bool), isEnabled: ptrTo(true)}
	rep := decodeBody(c.w, c.r,
		field{name: "name", required: true, into: w.name},
		field{name: "script", required: true, into: w.script},
		field{name: "runOnce", into: w.runOnce},
		field{name: "isEnabled", into: w.isEnabled},
	)
	return w, rep
}

func (specDialect) decodeTemplate(c *call, create bool) (templateWrite, *reply) {
	var w templateWrite
	fields := []field{{name: "name", required: create, into: &w.name}, {name: "note", into: &w.note}}
	if create {
		fields = append([]field{{name: "machineId", required: true, into: &w.machineID}}, fields...)
	}
	return w, decodeBody(c.w, c.r, fields...)
}

func (specDialect) maxScriptBytes() int { return api.MaxScriptBytes }

func (specDialect) script(r *scriptRec) any     { return r.api() }
func (specDialect) template(r *templateRec) any { return r.api() }

func (specDialect) listScripts(c *call, recs []*scriptRec) *reply {
	return ok(http.StatusOK, plainList(recs, (*scriptRec).api))
}

func (specDialect) listTemplates(c *call, recs []*templateRec) *reply {
	return ok(http.StatusOK, plainList(recs, (*templateRec).api))
}

// plainList is the spec's list: every object, in creation order.
func plainList[R, W any](recs []*R, wire func(*R) W) []W {
	out := make([]W, len(recs))
	for i, r := range recs {
		out[i] = wire(r)
	}
	return out
}

func (specDialect) createdStatus() int { return http.StatusCreated }

func (specDialect) startTemplate(*templateRec) {}

func (specDialect) templateCreated(r *templateRec) *reply { return ok(http.StatusCreated, r.api()) }

func (specDialect) deleted(any) *reply { return ok(http.StatusNoContent, nil) }

// redundantAssign: both are idempotent in the spec.
func (specDialect) redundantAssign(bool, string, string) *reply { return nil }

func (specDialect) routes() []apiRoute { return nil }
