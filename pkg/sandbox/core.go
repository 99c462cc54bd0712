package sandbox

import (
	"net/http"
	"slices"
	"time"

	"github.com/psync-dev/psync/pkg/api"
)

// The core: what every API operation does, written once for both dialects.
// A handler here has its dialect decode the request, checks it, applies it
// to the caller's team under the store's lock (persisting it first), and
// has its dialect encode the answer. A dialect (spec.go, live.go) owns only
// the wire: field names, which fields a body takes, object shapes, list
// envelopes and paging, status codes, and the routes only it has.
//
// Adding an operation means a core handler here, one line in routes, and a
// method of dialect for each wire's encoding.

// dialect is one wire encoding of the core's objects.
type dialect interface {
	// decodeScript reads a create (create is true) or an update body into
	// what it changes; nil fields are left as they are.
	decodeScript(c *call, create bool) (scriptWrite, *reply)
	// decodeTemplate likewise for custom templates; MachineID only on
	// create.
	decodeTemplate(c *call, create bool) (templateWrite, *reply)
	// maxScriptBytes is the largest script body accepted; 0: no limit but
	// the request's.
	maxScriptBytes() int

	// script and template are the wire forms of one object.
	script(r *scriptRec) any
	template(r *templateRec) any
	// listScripts, listTemplates and listOsTemplates answer a list from
	// every object (in creation order, deleted ones that linger last),
	// applying the query's filters, order and paging.
	listScripts(c *call, recs []*scriptRec) *reply
	listTemplates(c *call, recs []*templateRec) *reply
	listOsTemplates(c *call) *reply

	// createdStatus is the status of a successful create.
	createdStatus() int
	// startTemplate prepares a new template before it is stored (the live
	// dialect's asynchronous creation event), and templateCreated answers
	// its creation.
	startTemplate(r *templateRec)
	templateCreated(r *templateRec) *reply
	// deleted answers a successful delete; obj is the deleted object's
	// wire form, dtDeleted set.
	deleted(obj any) *reply
	// redundantAssign answers an assign of a machine the script already
	// has, or an unassign of one it does not have; nil succeeds without a
	// change.
	redundantAssign(assign bool, scriptID, machine string) *reply

	// routes are the operations only this dialect has.
	routes() []apiRoute
}

// scriptWrite is what a script create or update sets; nil: unchanged (on
// create: the dialect's default).
type scriptWrite struct {
	name, script       *string
	runOnce, isEnabled *bool
}

// templateWrite is what a template create or update sets.
type templateWrite struct {
	machineID, name, note *string
}

// kind is what listing and reading need of one kind of object, so that
// both kinds are listed and read (deleted ones that linger included) by the
// same code.
type kind[R any] struct {
	noun  string                         // for errors: "startup script"
	order func(*team) []string           // the ids, in creation order
	find  func(*team, string) (*R, bool) // an object that exists
	gone  func(*goneObj) *R              // g's object, when of this kind
	// wire and list are the dialect's encodings of one object and of a
	// list.
	wire func(dialect, *R) any
	list func(dialect, *call, []*R) *reply
	// remove deletes the object from the store, and bury makes the
	// record of it that lingers: a copy, deleted at the time given.
	remove func(*store, *team, string) error
	bury   func(R, *time.Time) goneObj
}

var (
	scriptKind = kind[scriptRec]{
		noun:   "startup script",
		order:  func(t *team) []string { return t.scriptOrder },
		find:   func(t *team, id string) (*scriptRec, bool) { r, ok := t.scripts[id]; return r, ok },
		gone:   func(g *goneObj) *scriptRec { return g.script },
		wire:   dialect.script,
		list:   dialect.listScripts,
		remove: (*store).deleteScript,
		bury: func(r scriptRec, at *time.Time) goneObj {
			r.Machines, r.deleted = nil, at // the assignments go with it
			return goneObj{script: &r}
		},
	}
	templateKind = kind[templateRec]{
		noun:   "custom template",
		order:  func(t *team) []string { return t.templateOrder },
		find:   (*team).template, // not one whose creation failed
		gone:   func(g *goneObj) *templateRec { return g.template },
		wire:   dialect.template,
		list:   dialect.listTemplates,
		remove: (*store).deleteTemplate,
		bury: func(r templateRec, at *time.Time) goneObj {
			r.deleted = at
			return goneObj{template: &r}
		},
	}
)

// all returns the team's objects of kind k in creation order, then the
// deleted ones that still linger. Callers hold the store's lock.
func (k kind[R]) all(t *team) []*R {
	ids := k.order(t)
	recs := make([]*R, 0, len(ids))
	for _, id := range ids {
		if r, ok := k.find(t, id); ok {
			recs = append(recs, r)
		}
	}
	at := time.Now()
	for i := range t.gone {
		if r := k.gone(&t.gone[i]); r != nil && at.Before(t.gone[i].until) {
			recs = append(recs, r)
		}
	}
	return recs
}

// get returns the object id, or the deleted one that still lingers, or a
// 404. Callers hold the store's lock.
func (k kind[R]) get(t *team, id string) (*R, *reply) {
	if r, ok := k.find(t, id); ok {
		return r, nil
	}
	if g := t.lingering(id, time.Now()); g != nil {
		if r := k.gone(g); r != nil {
			return r, nil
		}
	}
	return nil, notFound(k.noun, id)
}

// list answers every object of kind k, deleted ones that linger included.
func list[R any](s *Server, c *call, k kind[R]) *reply {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	return k.list(s.d, c, k.all(c.team))
}

// get answers one object of kind k, or one deleted that still lingers.
func get[R any](s *Server, c *call, k kind[R]) *reply {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	r, rep := k.get(c.team, c.r.PathValue("id"))
	if rep != nil {
		return rep
	}
	return ok(http.StatusOK, k.wire(s.d, r))
}

// remove deletes one object of kind k and answers it, deleted (which
// lingers, when the server keeps deleted objects).
func remove[R any](s *Server, c *call, k kind[R]) *reply {
	id := c.r.PathValue("id")
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	r, found := k.find(c.team, id)
	if !found {
		return notFound(k.noun, id)
	}
	if err := k.remove(s.st, c.team, id); err != nil {
		return storeError(err)
	}
	g := k.bury(*r, s.deletedAt())
	s.linger(c.team, g)
	return s.d.deleted(k.wire(s.d, k.gone(&g)))
}

// coreRoutes are the operations both dialects have.
func (s *Server) coreRoutes() []apiRoute {
	return []apiRoute{
		{"GET /os-templates", s.listOsTemplates},
		{"GET /custom-templates", s.listCustomTemplates},
		{"POST /custom-templates", s.createCustomTemplate},
		{"GET /custom-templates/{id}", s.getCustomTemplate},
		{"PUT /custom-templates/{id}", s.updateCustomTemplate},
		{"DELETE /custom-templates/{id}", s.deleteCustomTemplate},
		{"GET /startup-scripts", s.listStartupScripts},
		{"POST /startup-scripts", s.createStartupScript},
		{"GET /startup-scripts/{id}", s.getStartupScript},
		{"PUT /startup-scripts/{id}", s.updateStartupScript},
		{"DELETE /startup-scripts/{id}", s.deleteStartupScript},
		{"POST /startup-scripts/{id}/assign", s.assignStartupScript},
		{"POST /startup-scripts/{id}/unassign", s.unassignStartupScript},
	}
}

// --- OS templates ---

func (s *Server) listOsTemplates(c *call) *reply { return s.d.listOsTemplates(c) }

// --- Startup scripts ---

func (s *Server) listStartupScripts(c *call) *reply { return list(s, c, scriptKind) }
func (s *Server) getStartupScript(c *call) *reply   { return get(s, c, scriptKind) }

// checkScript is the validation every script write gets.
func (s *Server) checkScript(w scriptWrite) *reply {
	if w.name != nil && *w.name == "" {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	if limit := s.d.maxScriptBytes(); w.script != nil && limit > 0 && len(*w.script) > limit {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "script is %d bytes; the most is %d", len(*w.script), limit)
	}
	return nil
}

// apply sets what w gives.
func (w scriptWrite) apply(r *scriptRec) {
	if w.name != nil {
		r.Name = *w.name
	}
	if w.script != nil {
		r.Script = *w.script
	}
	if w.runOnce != nil {
		r.RunOnce = *w.runOnce
	}
	if w.isEnabled != nil {
		r.IsEnabled = *w.isEnabled
	}
}

// createStartupScript makes a script, enabled and not run-once unless the
// body says otherwise.
func (s *Server) createStartupScript(c *call) *reply {
	w, rep := s.d.decodeScript(c, true)
	if rep == nil {
		rep = s.checkScript(w)
	}
	if rep != nil {
		return rep
	}
	rec := &scriptRec{ID: newID("scr_", 10), TeamID: c.team.id, IsEnabled: true, DtCreated: now()}
	w.apply(rec)
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if err := s.st.putScript(c.team, rec); err != nil {
		return storeError(err)
	}
	return ok(s.d.createdStatus(), s.d.script(rec))
}

// updateStartupScript changes what the body gives; the id, creation time
// and assignments stay.
func (s *Server) updateStartupScript(c *call) *reply {
	id := c.r.PathValue("id")
	w, rep := s.d.decodeScript(c, false)
	if rep == nil {
		rep = s.checkScript(w)
	}
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
	w.apply(&rec)
	if err := s.st.putScript(c.team, &rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, s.d.script(&rec))
}

// deleteStartupScript removes the script and, with it, its assignments.
func (s *Server) deleteStartupScript(c *call) *reply { return remove(s, c, scriptKind) }

func (s *Server) assignStartupScript(c *call) *reply   { return s.setAssigned(c, true) }
func (s *Server) unassignStartupScript(c *call) *reply { return s.setAssigned(c, false) }

// setAssigned links or unlinks a script and a machine, and answers the
// script. (The spec defines no body for the answer; the sandbox gives the
// script, as the live API does.) Assigning what is assigned, or
// unassigning what is not, is answered as the dialect says.
func (s *Server) setAssigned(c *call, assign bool) *reply {
	id := c.r.PathValue("id")
	var machine string
	if rep := decodeBody(c.w, c.r, field{name: "machineId", required: true, into: &machine}); rep != nil {
		return rep
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	old, found := c.team.scripts[id]
	if !found {
		return notFound("startup script", id)
	}
	if !c.team.machineOK[machine] {
		return notFound("machine", machine)
	}
	i, has := slices.BinarySearch(old.Machines, machine)
	if has == assign {
		if rep := s.d.redundantAssign(assign, id, machine); rep != nil {
			return rep
		}
		return ok(http.StatusOK, s.d.script(old))
	}
	rec := *old
	if assign {
		rec.Machines = slices.Insert(slices.Clone(old.Machines), i, machine)
	} else {
		rec.Machines = slices.Delete(slices.Clone(old.Machines), i, i+1)
	}
	if err := s.st.putScript(c.team, &rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, s.d.script(&rec))
}

// --- Custom templates ---

func (s *Server) listCustomTemplates(c *call) *reply { return list(s, c, templateKind) }
func (s *Server) getCustomTemplate(c *call) *reply   { return get(s, c, templateKind) }

// createCustomTemplate makes a template of one of the team's machines.
func (s *Server) createCustomTemplate(c *call) *reply {
	w, rep := s.d.decodeTemplate(c, true)
	if rep != nil {
		return rep
	}
	if *w.name == "" {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !c.team.machineOK[*w.machineID] {
		return notFound("machine", *w.machineID)
	}
	rec := &templateRec{ID: newID("tpl_", 10), TeamID: c.team.id, Name: *w.name, MachineID: *w.machineID, DtCreated: now()}
	if w.note != nil {
		rec.Note = *w.note
	}
	s.d.startTemplate(rec)
	if err := s.st.putTemplate(c.team, rec); err != nil {
		return storeError(err)
	}
	return s.d.templateCreated(rec)
}

func (s *Server) updateCustomTemplate(c *call) *reply {
	id := c.r.PathValue("id")
	w, rep := s.d.decodeTemplate(c, false)
	if rep != nil {
		return rep
	}
	if w.name != nil && *w.name == "" {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	old, found := c.team.template(id)
	if !found {
		return notFound("custom template", id)
	}
	rec := *old
	if w.name != nil {
		rec.Name = *w.name
	}
	if w.note != nil {
		rec.Note = *w.note
	}
	if err := s.st.putTemplate(c.team, &rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, s.d.template(&rec))
}

func (s *Server) deleteCustomTemplate(c *call) *reply { return remove(s, c, templateKind) }

// --- Deleted objects that linger ---

// deletedAt is the dtDeleted of an object deleted now: nil when deleted
// objects are unmarked.
func (s *Server) deletedAt() *time.Time {
	if s.unmarked {
		return nil
	}
	return ptrTo(now())
}

// goneObj is a deleted object (its deleted time set) that lists and GET
// still show until until.
type goneObj struct {
	until    time.Time
	script   *scriptRec
	template *templateRec
}

// linger remembers a deleted object for Server.lingerFor, when that is
// set. Callers hold the store's write lock.
func (s *Server) linger(t *team, g goneObj) {
	if s.lingerFor <= 0 {
		return
	}
	at := time.Now()
	t.gone = slices.DeleteFunc(t.gone, func(o goneObj) bool { return !at.Before(o.until) })
	g.until = at.Add(s.lingerFor)
	t.gone = append(t.gone, g)
}

// lingering returns the deleted object id that still lingers at at, or nil.
func (t *team) lingering(id string, at time.Time) *goneObj {
	for i := range t.gone {
		g := &t.gone[i]
		if at.Before(g.until) && (g.script != nil && g.script.ID == id || g.template != nil && g.template.ID == id) {
			return g
		}
	}
	return nil
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

func ptrTo[T any](v T) *T { return &v }
