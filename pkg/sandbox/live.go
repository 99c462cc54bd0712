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
	// TemplateSpuriousErrorRate is the share of the other creations whose
	// event ends in "error" with no message although the template was made
	// (as the live API's events have been seen to): clients must look at
	// the template before failing. Deterministic under Faults.Seed.
	TemplateSpuriousErrorRate float64
	// RepeatItems starts each page after the first with the previous
	// page's last item (when limit > 1), as the live API has been seen to
	// repeat items: clients must de-duplicate by id.
	RepeatItems bool
	// DeletedLinger keeps deleted scripts and templates in lists and
	// readable by GET, with dtDeleted set, for this long after their
	// deletion, as the live API may: clients must drop them. 0: deleted
	// objects vanish at once.
	DeletedLinger time.Duration
	// DeletedUnmarked leaves dtDeleted out of deleted objects (the
	// delete's answer, and those that linger), as no source says the live
	// API sets it: a lingering object then looks like any other.
	DeletedUnmarked bool
	// RedundantAssignStatus answers an assign of a machine the script
	// already has, or an unassign of one it does not have (no source says
	// how the live API does): 0 means 400 BAD_REQUEST; a 2xx status makes
	// both succeed without a change.
	RedundantAssignStatus int
	// MaxScriptBytes refuses larger script bodies with 400; 0: no limit
	// but the request's 1 MiB (no v1 source gives one).
	MaxScriptBytes int
}

// DefaultTemplateDelay is the duration of a template-create event.
const DefaultTemplateDelay = 300 * time.Millisecond

// liveDialect is the paperspace-v1 wire: envelope lists with cursors,
// isRunOnce and assignedMachineIds, 200 for every success (a delete answers
// the deleted object), a PUT that changes only what it is given, and
// asynchronous template creation polled at /machine-events/{id}.
type liveDialect struct{ s *Server }

func (d liveDialect) routes() []apiRoute {
	return []apiRoute{
		{"GET /machine-events/{id}", d.s.liveGetEvent},
		{"GET /auth/session", d.s.liveSession},
		{"GET /machines", d.s.liveListMachines},
		{"GET /machines/{id}", d.s.liveGetMachine},
	}
}

func (r *scriptRec) live() api.LiveStartupScript {
	return api.LiveStartupScript{
		ID: r.ID, Name: r.Name, IsEnabled: r.IsEnabled, IsRunOnce: r.RunOnce,
		AssignedMachineIDs: append([]string{}, r.Machines...), DtCreated: r.DtCreated, DtDeleted: r.deleted,
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
		Region: "East Coast (NY2)", DefaultSizeGb: ptrTo(100), AvailableMachineTypes: slices.Clone(liveMachineTypes),
		ParentMachineID: r.MachineID, DtCreated: r.DtCreated, DtDeleted: r.deleted,
	}
}

// liveOsTemplate is t as the live API shows it. Desktop images have no
// default disk size (null), as some of the live catalogue's have not.
func liveOsTemplate(t api.OsTemplate) api.LiveOsTemplate {
	agent, size := "LinuxHost", ptrTo(50)
	if t.OS == "windows" {
		agent, size = "WindowsHost", ptrTo(100)
	}
	if strings.Contains(t.Name, "Desktop") || strings.Contains(t.Name, "Parsec") {
		size = nil
	}
	return api.LiveOsTemplate{
		ID: t.ID, Name: t.Name, AgentType: agent, OperatingSystemLabel: t.Name, DefaultSizeGb: size,
		AvailableMachineTypes: slices.Clone(liveMachineTypes), DtCreated: t.DtCreated,
	}
}

// event returns the machine event's state at time at.
func (e *eventRec) api(at time.Time) api.MachineEvent {
	ev := api.MachineEvent{ID: e.ID, Name: "template-create", State: api.EventNew, DtCreated: e.DtCreated}
	if e.MachineID != "" {
		ev.MachineID = ptrTo(e.MachineID)
	}
	switch {
	case !at.Before(e.Finish):
		ev.State = api.EventDone
		if e.Fails || e.Spurious {
			ev.State, ev.Error = api.EventError, e.Error
		}
		ev.DtStarted, ev.DtFinished = ptrTo(e.Started), ptrTo(e.Finish)
	case !at.Before(e.Started):
		ev.State = api.EventInProgress
		ev.DtStarted = ptrTo(e.Started)
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

// livePage answers one page of recs as lq says, each in its wire form.
func livePage[R, W any](c *call, lq listQuery, repeat bool, recs []*R, key func(*R) item, wire func(*R) W) *reply {
	items := make([]item, len(recs))
	for i, r := range recs {
		items[i] = key(r)
	}
	idx, next, rep := page(items, lq, repeat)
	if rep != nil {
		return rep
	}
	out := make([]W, len(idx))
	for i, x := range idx {
		out[i] = wire(recs[x])
	}
	return ok(http.StatusOK, envelope(out, next))
}

func (r *scriptRec) item() item {
	return item{id: r.ID, name: r.Name, created: r.DtCreated, seq: r.Seq}
}

func (r *templateRec) item() item {
	return item{id: r.ID, name: r.Name, created: r.DtCreated, seq: r.Seq}
}

func (d liveDialect) listOsTemplates(c *call) *reply {
	lq, rep := parseListQuery(c.r.URL.Query(), []string{"name"})
	if rep != nil {
		return rep
	}
	recs := make([]*api.OsTemplate, len(osTemplates))
	for i := range osTemplates {
		recs[i] = &osTemplates[i]
	}
	return livePage(c, lq, d.s.cfg.Live.RepeatItems, recs,
		func(t *api.OsTemplate) item { return item{id: t.ID, name: t.Name, created: t.DtCreated} },
		func(t *api.OsTemplate) api.LiveOsTemplate { return liveOsTemplate(*t) })
}

func (d liveDialect) listScripts(c *call, recs []*scriptRec) *reply {
	lq, rep := parseListQuery(c.r.URL.Query(), []string{"dtCreated", "name"})
	if rep != nil {
		return rep
	}
	return livePage(c, lq, d.s.cfg.Live.RepeatItems, recs, (*scriptRec).item, (*scriptRec).live)
}

// listTemplates also filters by machineId, the template's source machine.
func (d liveDialect) listTemplates(c *call, recs []*templateRec) *reply {
	lq, rep := parseListQuery(c.r.URL.Query(), []string{"dtCreated", "name"})
	if rep != nil {
		return rep
	}
	if lq.machineID != "" {
		recs = slices.DeleteFunc(recs, func(r *templateRec) bool { return r.MachineID != lq.machineID })
	}
	return livePage(c, lq, d.s.cfg.Live.RepeatItems, recs, (*templateRec).item, (*templateRec).live)
}

func (liveDialect) script(r *scriptRec) any     { return r.live() }
func (liveDialect) template(r *templateRec) any { return r.live() }

// decodeScript reads the live create (name and script required, no
// isEnabled) or update (all optional) body.
func (liveDialect) decodeScript(c *call, create bool) (scriptWrite, *reply) {
	var w scriptWrite
	fields := []field{
		{name: "name", required: create, into: &w.name},
		{name: "script", required: create, into: &w.script},
		{name: "isRunOnce", into: &w.runOnce},
	}
	if !create {
		fields = append(fields, field{name: "isEnabled", into: &w.isEnabled})
	}
	return w, decodeBody(c.w, c.r, fields...)
}

// decodeTemplate reads {machineId, name} on create, {name} on update.
func (liveDialect) decodeTemplate(c *call, create bool) (templateWrite, *reply) {
	var w templateWrite
	fields := []field{{name: "name", required: create, into: &w.name}}
	if create {
		fields = append([]field{{name: "machineId", required: true, into: &w.machineID}}, fields...)
	}
	return w, decodeBody(c.w, c.r, fields...)
}

// maxScriptBytes is LiveConfig.MaxScriptBytes: no v1 source gives a limit.
func (d liveDialect) maxScriptBytes() int { return d.s.cfg.Live.MaxScriptBytes }

func (liveDialect) createdStatus() int { return http.StatusOK }

// deleted answers 200 with the deleted object.
func (liveDialect) deleted(obj any) *reply { return ok(http.StatusOK, obj) }

// redundantAssign answers as LiveConfig.RedundantAssignStatus says.
func (d liveDialect) redundantAssign(assign bool, scriptID, machine string) *reply {
	status := d.s.cfg.Live.RedundantAssignStatus
	if status == 0 {
		status = http.StatusBadRequest
	}
	if status < 300 {
		return nil
	}
	if assign {
		return errReply(status, codeOf(status), "machine %s is already assigned to startup script %s", machine, scriptID)
	}
	return errReply(status, codeOf(status), "machine %s is not assigned to startup script %s", machine, scriptID)
}

// startTemplate gives the template its creation event, which then moves on
// with the clock (see eventRec); whether it fails is deterministic under
// the fault seed.
func (d liveDialect) startTemplate(rec *templateRec) {
	delay := d.s.cfg.Live.TemplateDelay
	switch {
	case delay == 0:
		delay = DefaultTemplateDelay
	case delay < 0:
		delay = 0
	}
	created := rec.DtCreated
	ev := &eventRec{ID: newID("evt_", 10), MachineID: rec.MachineID, DtCreated: created, Started: created.Add(delay / 3), Finish: created.Add(delay)}
	r := rand.New(rand.NewPCG(uint64(d.s.faults.Load().Seed), 1<<63|d.s.templateSeq.Add(1)))
	if r.Float64() < d.s.cfg.Live.TemplateErrorRate {
		ev.Fails = true
		if r.IntN(2) == 0 {
			msg := "template creation failed: the machine's disk could not be imaged"
			ev.Error = &msg
		}
	} else {
		ev.Spurious = r.Float64() < d.s.cfg.Live.TemplateSpuriousErrorRate
	}
	rec.Event = ev
}

// templateCreated answers {data, event} at once.
func (liveDialect) templateCreated(rec *templateRec) *reply {
	return ok(http.StatusOK, api.LiveTemplateCreated{Data: rec.live(), Event: rec.Event.api(rec.DtCreated)})
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
