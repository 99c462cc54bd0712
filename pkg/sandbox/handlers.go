package sandbox

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/api"
)

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
func (s *Server) listOsTemplates(c *call) *reply {
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

// --- Custom templates ---

func (s *Server) listCustomTemplates(c *call) *reply {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	out := make([]api.CustomTemplate, 0, len(c.team.templateOrder))
	at := time.Now()
	for _, id := range c.team.templateOrder {
		if r := c.team.templates[id]; !r.failed(at) {
			out = append(out, r.api())
		}
	}
	return ok(http.StatusOK, out)
}

func (s *Server) getCustomTemplate(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	t, found := c.team.template(id)
	if !found {
		return notFound("custom template", id)
	}
	return ok(http.StatusOK, t.api())
}

func (s *Server) createCustomTemplate(c *call) *reply {
	var body api.CustomTemplateCreate
	if rep := decodeBody(c.w, c.r,
		field{name: "machineId", required: true, into: &body.MachineID},
		field{name: "name", required: true, into: &body.Name},
		field{name: "note", into: &body.Note},
	); rep != nil {
		return rep
	}
	if body.Name == "" {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !c.team.machineOK[body.MachineID] {
		return notFound("machine", body.MachineID)
	}
	rec := &templateRec{ID: newID("tpl_", 10), TeamID: c.team.id, Name: body.Name, Note: body.Note, MachineID: body.MachineID, DtCreated: now()}
	if err := s.st.putTemplate(c.team, rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusCreated, rec.api())
}

func (s *Server) updateCustomTemplate(c *call) *reply {
	id := c.r.PathValue("id")
	var body api.CustomTemplateUpdate
	if rep := decodeBody(c.w, c.r,
		field{name: "name", into: &body.Name},
		field{name: "note", into: &body.Note},
	); rep != nil {
		return rep
	}
	if body.Name != nil && *body.Name == "" {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	old, found := c.team.template(id)
	if !found {
		return notFound("custom template", id)
	}
	rec := *old
	if body.Name != nil {
		rec.Name = *body.Name
	}
	if body.Note != nil {
		rec.Note = *body.Note
	}
	if err := s.st.putTemplate(c.team, &rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, rec.api())
}

func (s *Server) deleteCustomTemplate(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if _, found := c.team.template(id); !found {
		return notFound("custom template", id)
	}
	if err := s.st.deleteTemplate(c.team, id); err != nil {
		return storeError(err)
	}
	return ok(http.StatusNoContent, nil)
}

// --- Startup scripts ---

func (s *Server) listStartupScripts(c *call) *reply {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	out := make([]api.StartupScript, 0, len(c.team.scriptOrder))
	for _, id := range c.team.scriptOrder {
		out = append(out, c.team.scripts[id].api())
	}
	return ok(http.StatusOK, out)
}

func (s *Server) getStartupScript(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	r, found := c.team.scripts[id]
	if !found {
		return notFound("startup script", id)
	}
	return ok(http.StatusOK, r.api())
}

// decodeScript reads a StartupScriptCreate, the body of both POST and PUT,
// with the spec's defaults for omitted flags.
func decodeScript(c *call) (name, script string, runOnce, isEnabled bool, rep *reply) {
	var ro, en *bool
	if rep := decodeBody(c.w, c.r,
		field{name: "name", required: true, into: &name},
		field{name: "script", required: true, into: &script},
		field{name: "runOnce", into: &ro},
		field{name: "isEnabled", into: &en},
	); rep != nil {
		return "", "", false, false, rep
	}
	if name == "" {
		return "", "", false, false, errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	if len(script) > api.MaxScriptBytes {
		return "", "", false, false, errReply(http.StatusBadRequest, api.CodeBadRequest, "script is %d bytes; the most is %d", len(script), api.MaxScriptBytes)
	}
	runOnce, isEnabled = false, true
	if ro != nil {
		runOnce = *ro
	}
	if en != nil {
		isEnabled = *en
	}
	return name, script, runOnce, isEnabled, nil
}

func (s *Server) createStartupScript(c *call) *reply {
	name, script, runOnce, isEnabled, rep := decodeScript(c)
	if rep != nil {
		return rep
	}
	rec := &scriptRec{ID: newID("scr_", 10), TeamID: c.team.id, Name: name, Script: script, RunOnce: runOnce, IsEnabled: isEnabled, DtCreated: now()}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if err := s.st.putScript(c.team, rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusCreated, rec.api())
}

// updateStartupScript replaces the script's name, body and flags (omitted
// flags take their defaults again); its id, creation time and assignments
// stay.
func (s *Server) updateStartupScript(c *call) *reply {
	id := c.r.PathValue("id")
	name, script, runOnce, isEnabled, rep := decodeScript(c)
	if rep != nil {
		return rep
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	old, found := c.team.scripts[id]
	if !found {
		return notFound("startup script", id)
	}
	rec := *old
	rec.Name, rec.Script, rec.RunOnce, rec.IsEnabled = name, script, runOnce, isEnabled
	if err := s.st.putScript(c.team, &rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, rec.api())
}

// deleteStartupScript removes the script and, with it, its assignments.
func (s *Server) deleteStartupScript(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if _, found := c.team.scripts[id]; !found {
		return notFound("startup script", id)
	}
	if err := s.st.deleteScript(c.team, id); err != nil {
		return storeError(err)
	}
	return ok(http.StatusNoContent, nil)
}

func (s *Server) assignStartupScript(c *call) *reply {
	r, rep := s.setAssigned(c, true)
	if rep != nil {
		return rep
	}
	return ok(http.StatusOK, r.api())
}

func (s *Server) unassignStartupScript(c *call) *reply {
	r, rep := s.setAssigned(c, false)
	if rep != nil {
		return rep
	}
	return ok(http.StatusOK, r.api())
}

// setAssigned links or unlinks a script and a machine, and returns the
// script. Both are idempotent: assigning twice, or unassigning what is not
// assigned, succeeds without a change. (The spec defines no body for their
// answer; the sandbox gives the script, as the live API does.)
func (s *Server) setAssigned(c *call, assign bool) (*scriptRec, *reply) {
	id := c.r.PathValue("id")
	var machine string
	if rep := decodeBody(c.w, c.r, field{name: "machineId", required: true, into: &machine}); rep != nil {
		return nil, rep
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	old, found := c.team.scripts[id]
	if !found {
		return nil, notFound("startup script", id)
	}
	if !c.team.machineOK[machine] {
		return nil, notFound("machine", machine)
	}
	i, has := slices.BinarySearch(old.Machines, machine)
	if has == assign {
		return old, nil
	}
	rec := *old
	if assign {
		rec.Machines = slices.Insert(slices.Clone(old.Machines), i, machine)
	} else {
		rec.Machines = slices.Delete(slices.Clone(old.Machines), i, i+1)
	}
	if err := s.st.putScript(c.team, &rec); err != nil {
		return nil, storeError(err)
	}
	return &rec, nil
}

// template returns the team's template id unless it is unknown or its
// creation failed.
func (t *team) template(id string) (*templateRec, bool) {
	r, ok := t.templates[id]
	if !ok || r.failed(time.Now()) {
		return nil, false
	}
	return r, true
}

func storeError(err error) *reply {
	return errReply(http.StatusInternalServerError, api.CodeInternalServer, "sandbox store: %v", err)
}
