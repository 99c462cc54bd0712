package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/api"
)

// The paperspace-v1 dialect: the live API's shapes, as described in
// ../shared/paperspace-v1-notes.md and api/paperspace-v1.yaml.
// It shares the store with the spec dialect; only the wire differs.

// LiveConfig tunes the paperspace-v1 dialect.
type LiveConfig struct {
	// TemplateDelay is how long a template-create event takes: "new" for
	// its first third, then "in progress", then final. 0 means 300ms; a
	// negative value makes it final at once.
	TemplateDelay time.Duration
	// TemplateErrorRate is the share of template creations whose event
	// ends in "error"; the template then disappears. Deterministic under
	// Faults.Seed.
	TemplateErrorRate float64
	// RepeatItems starts each page after the first with the previous
	// page's last item (when limit > 1), as the live API has been seen to
	// repeat items: clients must de-duplicate by id.
	RepeatItems bool
	// DeletedLinger keeps deleted scripts and templates in lists, with
	// dtDeleted set, for this long after their deletion, as the live API
	// may: clients must drop them. 0: deleted objects vanish at once.
	DeletedLinger time.Duration
}

// goneObj is a deleted object that lists still show until until.
type goneObj struct {
	until    time.Time
	seq      uint64 // the deleted record's Seq, for its place in dtCreated order
	script   *api.LiveStartupScript
	template *api.LiveCustomTemplate
}

// linger remembers a deleted object for the lists. Callers hold the
// store's write lock.
func (s *Server) linger(t *team, g goneObj) {
	if s.cfg.Live.DeletedLinger <= 0 {
		return
	}
	at := time.Now()
	t.gone = slices.DeleteFunc(t.gone, func(o goneObj) bool { return !at.Before(o.until) })
	g.until = at.Add(s.cfg.Live.DeletedLinger)
	t.gone = append(t.gone, g)
}

// DefaultTemplateDelay is the duration of a template-create event.
const DefaultTemplateDelay = 300 * time.Millisecond

func (s *Server) liveRoutes() []apiRoute {
	return []apiRoute{
		{"GET /os-templates", s.liveListOsTemplates},
		{"GET /custom-templates", s.liveListCustomTemplates},
		{"POST /custom-templates", s.liveCreateCustomTemplate},
		{"GET /custom-templates/{id}", s.liveGetCustomTemplate},
		{"PUT /custom-templates/{id}", s.liveUpdateCustomTemplate},
		{"DELETE /custom-templates/{id}", s.liveDeleteCustomTemplate},
		{"GET /startup-scripts", s.liveListStartupScripts},
		{"POST /startup-scripts", s.liveCreateStartupScript},
		{"GET /startup-scripts/{id}", s.liveGetStartupScript},
		{"PUT /startup-scripts/{id}", s.liveUpdateStartupScript},
		{"DELETE /startup-scripts/{id}", s.liveDeleteStartupScript},
		{"POST /startup-scripts/{id}/assign", s.liveAssign(true)},
		{"POST /startup-scripts/{id}/unassign", s.liveAssign(false)},
		{"GET /machine-events/{id}", s.liveGetEvent},
		{"GET /auth/session", s.liveSession},
	}
}

func (r *scriptRec) live() api.LiveStartupScript {
	return api.LiveStartupScript{
		ID: r.ID, Name: r.Name, IsEnabled: r.IsEnabled, IsRunOnce: r.RunOnce,
		AssignedMachineIDs: append([]string{}, r.Machines...), DtCreated: r.DtCreated,
	}
}

var liveMachineTypes = []api.MachineTypeAvailability{
	{MachineTypeLabel: "C5", IsAvailable: true},
	{MachineTypeLabel: "P4000", IsAvailable: true},
	{MachineTypeLabel: "A4000", IsAvailable: true},
	{MachineTypeLabel: "A100-80G", IsAvailable: false},
}

func (r *templateRec) live() api.LiveCustomTemplate {
	return api.LiveCustomTemplate{
		ID: r.ID, Name: r.Name, AgentType: "LinuxHost", OperatingSystemLabel: "Ubuntu 22.04",
		Region: "East Coast (NY2)", DefaultSizeGb: 100, AvailableMachineTypes: slices.Clone(liveMachineTypes),
		ParentMachineID: r.MachineID, DtCreated: r.DtCreated,
	}
}

func liveOsTemplate(t api.OsTemplate) api.LiveOsTemplate {
	agent, size := "LinuxHost", 50
	if t.OS == "windows" {
		agent, size = "WindowsHost", 100
	}
	return api.LiveOsTemplate{
		ID: t.ID, Name: t.Name, AgentType: agent, OperatingSystemLabel: t.Name, DefaultSizeGb: size,
		AvailableMachineTypes: slices.Clone(liveMachineTypes), DtCreated: t.DtCreated,
	}
}

// event returns the machine event's state at time at.
func (e *eventRec) api(at time.Time) api.MachineEvent {
	ev := api.MachineEvent{ID: e.ID, Name: "template-create", State: api.EventNew, DtCreated: e.DtCreated}
	switch {
	case !at.Before(e.Finish):
		ev.State = api.EventDone
		if e.Fails {
			ev.State, ev.Error = api.EventError, e.Error
		}
		fin := e.Finish
		ev.DtFinished = &fin
	case !at.Before(e.Started):
		ev.State = api.EventInProgress
	}
	return ev
}

// --- Lists: envelopes with cursors ---

// listQuery is a live list's query.
type listQuery struct {
	after, orderBy, order, name, machineID string
	limit                                  int
}

func parseListQuery(q url.Values, orderBys []string) (listQuery, *reply) {
	lq := listQuery{limit: defaultLimit, orderBy: orderBys[0], order: "desc", name: q.Get("name"), after: q.Get("after"), machineID: q.Get("machineId")}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > api.MaxLimit {
			return lq, errReply(http.StatusBadRequest, api.CodeBadRequest, "limit must be an integer from 1 to %d, not %q", api.MaxLimit, q.Get("limit"))
		}
		lq.limit = n
	}
	if q.Has("orderBy") {
		lq.orderBy = q.Get("orderBy")
		if !slices.Contains(orderBys, lq.orderBy) {
			return lq, errReply(http.StatusBadRequest, api.CodeBadRequest, "orderBy must be %s, not %q", strings.Join(orderBys, " or "), lq.orderBy)
		}
	}
	if q.Has("order") {
		lq.order = q.Get("order")
		if lq.order != "asc" && lq.order != "desc" {
			return lq, errReply(http.StatusBadRequest, api.CodeBadRequest, "order must be asc or desc, not %q", lq.order)
		}
	}
	return lq, nil
}

// item is what paging needs of a listed object.
type item struct {
	id, name string
	created  time.Time
	// seq is the store's creation number: it orders objects created in
	// the same millisecond as they were created (0 for the catalogue).
	seq uint64
}

// cursor is the position after which the next page starts: the sort key of
// the previous page's last item, so it stays valid when items come and go.
type cursor struct {
	OrderBy string `json:"b"`
	Order   string `json:"o"`
	Key     string `json:"k"`
	ID      string `json:"i"`
}

func sortKey(it item, orderBy string) string {
	if orderBy == "name" {
		return it.name
	}
	return it.created.UTC().Format("2006-01-02T15:04:05.000000000Z") + fmt.Sprintf("/%020d", it.seq)
}

// page orders, filters and pages items as lq says; it returns the indexes
// of the page's items and the next cursor (nil on the last page).
func page(items []item, lq listQuery, repeat bool) ([]int, *string, *reply) {
	idx := make([]int, 0, len(items))
	needle := strings.ToLower(lq.name)
	for i, it := range items {
		if needle == "" || strings.Contains(strings.ToLower(it.name), needle) {
			idx = append(idx, i)
		}
	}
	// Keys are computed once: formatting a time inside the comparison made
	// a 10,000-object listing spend seconds per page.
	keys := make([]string, len(items))
	for _, i := range idx {
		keys[i] = sortKey(items[i], lq.orderBy)
	}
	compare := func(key, id string, b int) int {
		c := strings.Compare(key, keys[b])
		if c == 0 {
			c = strings.Compare(id, items[b].id)
		}
		if lq.order == "desc" {
			c = -c
		}
		return c
	}
	slices.SortFunc(idx, func(a, b int) int { return compare(keys[a], items[a].id, b) })
	start := 0
	if lq.after != "" {
		var cur cursor
		raw, err := base64.RawURLEncoding.DecodeString(lq.after)
		if err != nil || json.Unmarshal(raw, &cur) != nil {
			return nil, nil, errReply(http.StatusBadRequest, api.CodeBadRequest, "after %q is not a cursor this API gave", lq.after)
		}
		if cur.OrderBy != lq.orderBy || cur.Order != lq.order {
			return nil, nil, errReply(http.StatusBadRequest, api.CodeBadRequest, "after: the cursor is for orderBy=%s order=%s, not orderBy=%s order=%s", cur.OrderBy, cur.Order, lq.orderBy, lq.order)
		}
		// The first item strictly after the cursor (or at it, to repeat).
		start = sort.Search(len(idx), func(i int) bool {
			c := -compare(cur.Key, cur.ID, idx[i]) // item vs cursor
			return c > 0 || c == 0 && repeat && lq.limit > 1
		})
	}
	end := min(start+lq.limit, len(idx))
	out := idx[start:end]
	if end == len(idx) || len(out) == 0 {
		return out, nil, nil
	}
	last := items[out[len(out)-1]]
	data, _ := json.Marshal(cursor{OrderBy: lq.orderBy, Order: lq.order, Key: sortKey(last, lq.orderBy), ID: last.id})
	next := base64.RawURLEncoding.EncodeToString(data)
	return out, &next, nil
}

func envelope[T any](items []T, next *string) api.Page[T] {
	if items == nil {
		items = []T{}
	}
	return api.Page[T]{Items: items, HasMore: next != nil, NextPage: next}
}

func (s *Server) liveListOsTemplates(c *call) *reply {
	lq, rep := parseListQuery(c.r.URL.Query(), []string{"name"})
	if rep != nil {
		return rep
	}
	items := make([]item, len(osTemplates))
	for i, t := range osTemplates {
		items[i] = item{id: t.ID, name: t.Name, created: t.DtCreated}
	}
	idx, next, rep := page(items, lq, s.cfg.Live.RepeatItems)
	if rep != nil {
		return rep
	}
	out := make([]api.LiveOsTemplate, len(idx))
	for i, x := range idx {
		out[i] = liveOsTemplate(osTemplates[x])
	}
	return ok(http.StatusOK, envelope(out, next))
}

func (s *Server) liveListStartupScripts(c *call) *reply {
	lq, rep := parseListQuery(c.r.URL.Query(), []string{"dtCreated", "name"})
	if rep != nil {
		return rep
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	objs := make([]api.LiveStartupScript, 0, len(c.team.scriptOrder))
	seqs := make([]uint64, 0, len(c.team.scriptOrder))
	for _, id := range c.team.scriptOrder {
		r := c.team.scripts[id]
		objs = append(objs, r.live())
		seqs = append(seqs, r.Seq)
	}
	at := time.Now()
	for _, g := range c.team.gone {
		if g.script != nil && at.Before(g.until) {
			objs = append(objs, *g.script)
			seqs = append(seqs, g.seq)
		}
	}
	items := make([]item, len(objs))
	for i, o := range objs {
		items[i] = item{id: o.ID, name: o.Name, created: o.DtCreated, seq: seqs[i]}
	}
	idx, next, rep := page(items, lq, s.cfg.Live.RepeatItems)
	if rep != nil {
		return rep
	}
	out := make([]api.LiveStartupScript, len(idx))
	for i, x := range idx {
		out[i] = objs[x]
	}
	return ok(http.StatusOK, envelope(out, next))
}

func (s *Server) liveListCustomTemplates(c *call) *reply {
	lq, rep := parseListQuery(c.r.URL.Query(), []string{"dtCreated", "name"})
	if rep != nil {
		return rep
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	at := time.Now()
	var objs []api.LiveCustomTemplate
	var seqs []uint64
	for _, id := range c.team.templateOrder {
		if r := c.team.templates[id]; !r.failed(at) {
			objs = append(objs, r.live())
			seqs = append(seqs, r.Seq)
		}
	}
	for _, g := range c.team.gone {
		if g.template != nil && at.Before(g.until) {
			objs = append(objs, *g.template)
			seqs = append(seqs, g.seq)
		}
	}
	var items []item
	for i, o := range objs {
		if lq.machineID == "" || o.ParentMachineID == lq.machineID {
			items = append(items, item{id: o.ID, name: o.Name, created: o.DtCreated, seq: seqs[i]})
		}
	}
	objs = slices.DeleteFunc(objs, func(o api.LiveCustomTemplate) bool {
		return lq.machineID != "" && o.ParentMachineID != lq.machineID
	})
	idx, next, rep := page(items, lq, s.cfg.Live.RepeatItems)
	if rep != nil {
		return rep
	}
	out := make([]api.LiveCustomTemplate, len(idx))
	for i, x := range idx {
		out[i] = objs[x]
	}
	return ok(http.StatusOK, envelope(out, next))
}

// --- Startup scripts ---

func (s *Server) liveGetStartupScript(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	r, found := c.team.scripts[id]
	if !found {
		return notFound("startup script", id)
	}
	return ok(http.StatusOK, r.live())
}

// liveScriptBody reads the live create (name and script required, no
// isEnabled) or update (all optional) body.
func liveScriptBody(c *call, create bool) (api.LiveStartupScriptWrite, *reply) {
	var b api.LiveStartupScriptWrite
	fields := []field{
		{name: "name", required: create, into: &b.Name},
		{name: "script", required: create, into: &b.Script},
		{name: "isRunOnce", into: &b.IsRunOnce},
	}
	if !create {
		fields = append(fields, field{name: "isEnabled", into: &b.IsEnabled})
	}
	if rep := decodeBody(c.w, c.r, fields...); rep != nil {
		return b, rep
	}
	if b.Name != nil && *b.Name == "" {
		return b, errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	if b.Script != nil && len(*b.Script) > api.MaxScriptBytes {
		return b, errReply(http.StatusBadRequest, api.CodeBadRequest, "script is %d bytes; the most is %d", len(*b.Script), api.MaxScriptBytes)
	}
	return b, nil
}

func (s *Server) liveCreateStartupScript(c *call) *reply {
	b, rep := liveScriptBody(c, true)
	if rep != nil {
		return rep
	}
	rec := &scriptRec{ID: newID("scr_", 10), TeamID: c.team.id, Name: *b.Name, Script: *b.Script, IsEnabled: true, DtCreated: now()}
	if b.IsRunOnce != nil {
		rec.RunOnce = *b.IsRunOnce
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if err := s.st.putScript(c.team, rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, rec.live())
}

// liveUpdateStartupScript changes what the body gives, nothing else.
func (s *Server) liveUpdateStartupScript(c *call) *reply {
	id := c.r.PathValue("id")
	b, rep := liveScriptBody(c, false)
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
	if b.Name != nil {
		rec.Name = *b.Name
	}
	if b.Script != nil {
		rec.Script = *b.Script
	}
	if b.IsEnabled != nil {
		rec.IsEnabled = *b.IsEnabled
	}
	if b.IsRunOnce != nil {
		rec.RunOnce = *b.IsRunOnce
	}
	if err := s.st.putScript(c.team, &rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, rec.live())
}

// liveDeleteStartupScript answers 200 with the deleted script.
func (s *Server) liveDeleteStartupScript(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	r, found := c.team.scripts[id]
	if !found {
		return notFound("startup script", id)
	}
	if err := s.st.deleteScript(c.team, id); err != nil {
		return storeError(err)
	}
	out := r.live()
	out.AssignedMachineIDs = []string{}
	del := now()
	out.DtDeleted = &del
	s.linger(c.team, goneObj{script: &out, seq: r.Seq})
	return ok(http.StatusOK, out)
}

func (s *Server) liveAssign(assign bool) func(*call) *reply {
	return func(c *call) *reply {
		r, rep := s.setAssigned(c, assign)
		if rep != nil {
			return rep
		}
		return ok(http.StatusOK, r.live())
	}
}

// --- Custom templates ---

func (s *Server) liveGetCustomTemplate(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	r, found := c.team.template(id)
	if !found {
		return notFound("custom template", id)
	}
	return ok(http.StatusOK, r.live())
}

// liveCreateCustomTemplate answers {data, event} at once; the event then
// moves on with the clock (see eventRec).
func (s *Server) liveCreateCustomTemplate(c *call) *reply {
	var machine, name string
	if rep := decodeBody(c.w, c.r,
		field{name: "machineId", required: true, into: &machine},
		field{name: "name", required: true, into: &name},
	); rep != nil {
		return rep
	}
	if name == "" {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !c.team.machineOK[machine] {
		return notFound("machine", machine)
	}
	delay := s.cfg.Live.TemplateDelay
	switch {
	case delay == 0:
		delay = DefaultTemplateDelay
	case delay < 0:
		delay = 0
	}
	created := now()
	ev := &eventRec{ID: newID("evt_", 10), DtCreated: created, Started: created.Add(delay / 3), Finish: created.Add(delay)}
	r := rand.New(rand.NewPCG(uint64(s.faults.Load().Seed), 1<<63|s.templateSeq.Add(1)))
	if r.Float64() < s.cfg.Live.TemplateErrorRate {
		ev.Fails = true
		if r.IntN(2) == 0 {
			msg := "template creation failed: the machine's disk could not be imaged"
			ev.Error = &msg
		}
	}
	rec := &templateRec{ID: newID("tpl_", 10), TeamID: c.team.id, Name: name, MachineID: machine, DtCreated: created, Event: ev}
	if err := s.st.putTemplate(c.team, rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, api.LiveTemplateCreated{Data: rec.live(), Event: ev.api(created)})
}

// liveUpdateCustomTemplate accepts {name} only.
func (s *Server) liveUpdateCustomTemplate(c *call) *reply {
	id := c.r.PathValue("id")
	var name *string
	if rep := decodeBody(c.w, c.r, field{name: "name", into: &name}); rep != nil {
		return rep
	}
	if name != nil && *name == "" {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "name must not be empty")
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	old, found := c.team.template(id)
	if !found {
		return notFound("custom template", id)
	}
	rec := *old
	if name != nil {
		rec.Name = *name
	}
	if err := s.st.putTemplate(c.team, &rec); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, rec.live())
}

func (s *Server) liveDeleteCustomTemplate(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	r, found := c.team.template(id)
	if !found {
		return notFound("custom template", id)
	}
	if err := s.st.deleteTemplate(c.team, id); err != nil {
		return storeError(err)
	}
	out := r.live()
	del := now()
	out.DtDeleted = &del
	s.linger(c.team, goneObj{template: &out, seq: r.Seq})
	return ok(http.StatusOK, out)
}

func (s *Server) liveGetEvent(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	ev, found := c.team.events[id]
	if !found {
		return notFound("machine event", id)
	}
	return ok(http.StatusOK, ev.api(time.Now()))
}

// liveSession names the key's team, as GET /auth/session does.
func (s *Server) liveSession(c *call) *reply {
	return ok(http.StatusOK, map[string]any{
		"user": map[string]any{"id": "usr_sandbox", "email": "sandbox@psync.invalid"},
		"team": api.SessionTeam{ID: c.team.id, Namespace: c.team.id},
	})
}
