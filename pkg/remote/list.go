package remote

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/psync-dev/psync/internal/safefile"
	"github.com/psync-dev/psync/pkg/api"
)

// The wire structs below read both dialects at once: every field either
// dialect uses, unknown fields ignored. Pointers tell "absent" from zero,
// which is how the dialect is detected.

type wireScript struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	RunOnce            optBool   `json:"runOnce"`
	IsRunOnce          optBool   `json:"isRunOnce"`
	IsEnabled          optBool   `json:"isEnabled"`
	TeamID             string    `json:"teamId"`
	AssignedMachineIDs *[]string `json:"assignedMachineIds"`
	Script             *string   `json:"script"`
	DtDeleted          dateMark  `json:"dtDeleted"`
	DtCreated          looseTime `json:"dtCreated"`
}

func (w *wireScript) id() string { return w.ID }

// check says what a listed script lacks that psync needs.
func (w *wireScript) check() error {
	if w.Name == "" {
		return errors.New("has no name")
	}
	return nil
}

func (w *wireScript) live() bool { return w.IsRunOnce.set || w.AssignedMachineIDs != nil }

func (w *wireScript) script() Script {
	s := Script{ID: w.ID, Name: w.Name, IsEnabled: true, Body: w.Script}
	switch {
	case w.RunOnce.set:
		s.RunOnce = w.RunOnce.v
	case w.IsRunOnce.set:
		s.RunOnce = w.IsRunOnce.v
	}
	if w.IsEnabled.set {
		s.IsEnabled = w.IsEnabled.v
	}
	if w.AssignedMachineIDs != nil && len(*w.AssignedMachineIDs) > 0 {
		s.AssignedMachines = slices.Clone(*w.AssignedMachineIDs)
		slices.Sort(s.AssignedMachines)
		s.AssignedMachines = slices.Compact(s.AssignedMachines)
	}
	return s
}

// optBool is a JSON boolean that remembers whether it was present, without
// the allocation a *bool costs per object (lists run to 10,000s).
type optBool struct{ set, v bool }

func (b *optBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "null":
		*b = optBool{}
		return nil
	case "true", "false":
		*b = optBool{set: true, v: string(data) == "true"}
		return nil
	}
	return fmt.Errorf("want a boolean, got %s", data)
}

// dateMark reads a loosely typed date such as dtDeleted, which the live
// schema types (Record<string, never> | Date) | null and may leave out: it
// is set by a date (any non-empty string; its value is not needed) or by
// an object with something in it, and not by null, absence, "" or an empty
// object. An empty object carries no date, and reading a live object as
// deleted is the unsafe side: the plan would then create it again.
type dateMark struct{ set bool }

func (d *dateMark) UnmarshalJSON(data []byte) error {
	b := bytes.TrimSpace(data)
	switch {
	case len(b) == 0:
		return fmt.Errorf("want a date, got nothing")
	case string(b) == "null", string(b) == `""`, string(b) == "false":
		d.set = false
	case b[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		d.set = len(m) > 0
	case b[0] == '"', b[0] == '-' || b[0] >= '0' && b[0] <= '9', string(b) == "true":
		d.set = true // a date, or an epoch
	default:
		return fmt.Errorf("want a date, got %s", b)
	}
	return nil
}

type wireTemplate struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Note            *string   `json:"note"`
	MachineID       string    `json:"machineId"`
	ParentMachineID string    `json:"parentMachineId"`
	TeamID          string    `json:"teamId"`
	DtDeleted       dateMark  `json:"dtDeleted"`
	DtCreated       looseTime `json:"dtCreated"`
}

func (w *wireTemplate) id() string { return w.ID }

// check says what a listed template lacks that psync needs: a name, and
// the machine it was made from (unless it is deleted).
func (w *wireTemplate) check() error {
	switch {
	case w.Name == "":
		return errors.New("has no name")
	case w.MachineID == "" && w.ParentMachineID == "" && !w.DtDeleted.set:
		return errors.New("has no source machine (machineId or parentMachineId)")
	}
	return nil
}

func (w *wireTemplate) live() bool { return w.ParentMachineID != "" }

func (w *wireTemplate) template() Template {
	t := Template{ID: w.ID, Name: w.Name, MachineID: w.MachineID}
	if t.MachineID == "" {
		t.MachineID = w.ParentMachineID
	}
	if w.Note != nil {
		t.Note = *w.Note
	}
	return t
}

// noteCreated remembers when the API says the object id was made.
func (c *Client) noteCreated(id string, t time.Time) {
	if t.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.created == nil {
		c.created = map[string]time.Time{}
	}
	c.created[id] = t
}

// Created returns, by id, when the API says each script and template the
// client has listed was made (dtCreated), for the objects whose answer
// said so. A plan compares it with when the state began
// (plan.Options.Created).
func (c *Client) Created() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.created)
}

// looseTime reads a creation date when it is an RFC 3339 string, and
// anything else as unknown: it only ever adds a doubt to a plan, so a
// shape psync does not know must not fail the read.
type looseTime struct{ t time.Time }

func (l *looseTime) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			l.t = t
		}
	}
	return nil
}

type wireOSTemplate struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	OS                   string `json:"os"`
	OperatingSystemLabel string `json:"operatingSystemLabel"`
}

func (w *wireOSTemplate) id() string { return w.ID }

func (w *wireOSTemplate) check() error { return nil }

func (w *wireOSTemplate) osTemplate() OSTemplate {
	t := OSTemplate{ID: w.ID, Name: w.Name, OS: w.OS}
	if t.OS == "" {
		t.OS = w.OperatingSystemLabel
	}
	return t
}

// listMeta is what a list revealed besides its items.
type listMeta struct {
	envelope bool // the live dialect's {items, hasMore, nextPage}
	requests int
}

// MaxListPages and MaxListItems bound one list walk: a server whose
// cursors never end, or that sends new ids forever, gets a clear error
// after at most this many requests and with at most this many items in
// memory (some 10 MB), not an apply that never starts. Config.MaxListBytes
// bounds the bytes of its answers together, so huge items cannot hold
// MaxListPages times MaxResponseBytes either. A team has some
// thousands of scripts; 100,000 items is 833 full pages of 120.
const (
	MaxListPages = 2_000
	MaxListItems = 100_000
)

// listAll fetches every page of a list, de-duplicated by id (pages have
// been seen to repeat items), in the order the API gave them.
//
// A list may be a bare array (spec) or an envelope (live). Envelopes are
// followed through nextPage; a bare array that fills the page is followed
// with after=<last id>, the spec's cursor for the OS catalogue, until a
// page is short or brings nothing new.
func listAll[W any, P interface {
	*W
	id() string
	check() error
}](ctx context.Context, c *Client, o op, path string, q url.Values, limit int) ([]W, listMeta, error) {
	var (
		out     []W
		meta    listMeta
		seen    map[string]bool
		cursor  string
		cursors = map[string]bool{}
		read    int64 // bytes of every answer so far: what items and cursors can hold
	)
	if limit <= 0 {
		limit = api.MaxLimit
	}
	for page := 0; ; page++ {
		if page >= MaxListPages {
			return nil, meta, c.redactError(o.err(0, fmt.Errorf("more than %d pages (%d items so far): the API's list does not end", MaxListPages, len(out))))
		}
		query := url.Values{}
		for k, v := range q {
			query[k] = v
		}
		query.Set("limit", strconv.Itoa(limit))
		if cursor != "" {
			query.Set("after", cursor)
		}
		resp, err := c.do(ctx, &request{op: o, method: http.MethodGet, path: path, query: query}, c.newRetrier())
		meta.requests++
		if err != nil {
			var e *Error
			if page == 0 && errors.As(err, &e) && IsNotFound(e) {
				// A list exists at the right base URL, empty or not:
				// the URL is wrong (most often, its /v1 is missing).
				e.Message = joinMessage(e.Message, fmt.Sprintf("is the API URL %s right? Paperspace's is %s", c.baseStr, DefaultBaseURL))
			}
			return nil, meta, err
		}
		if read += int64(len(resp.body)); read > c.cfg.MaxListBytes {
			return nil, meta, c.redactError(o.err(resp.status, fmt.Errorf("more than %s of answers in %d pages: psync does not hold a list that large in memory", safefile.Size(c.cfg.MaxListBytes), page+1)))
		}
		items, next, more, env, derr := decodePage[W](o, resp)
		if derr != nil {
			return nil, meta, c.redactError(derr)
		}
		meta.envelope = meta.envelope || env
		added := 0
		if out == nil {
			out = make([]W, 0, len(items))
			seen = make(map[string]bool, len(items))
		}
		for i := range items {
			id := P(&items[i]).id()
			if id == "" {
				return nil, meta, c.redactError(o.err(resp.status, fmt.Errorf("item %d of the list has no id", len(out)+i)))
			}
			if err := P(&items[i]).check(); err != nil {
				// A destructive change must never come of a half-read
				// object (a script without a name would look deleted).
				return nil, meta, c.redactError(o.err(resp.status, fmt.Errorf("item %d of the list (id %s) %w: psync refuses to plan from a malformed object", len(out)+i, quoteID(id), err)))
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, items[i])
			added++
			if len(out) > MaxListItems {
				return nil, meta, c.redactError(o.err(resp.status, fmt.Errorf("more than %d items: psync does not hold a list that long in memory", MaxListItems)))
			}
		}
		switch {
		case env && more:
			if next == "" && len(items) > 0 {
				next = P(&items[len(items)-1]).id()
			}
			switch {
			case next == "" || next == cursor:
				return nil, meta, c.redactError(o.err(resp.status, fmt.Errorf("the API says there are more items but its cursor does not advance (%s)", quoteID(next))))
			case cursors[next]:
				return nil, meta, c.redactError(o.err(resp.status, fmt.Errorf("the API's cursor %s comes back after %d pages: its list goes round in a loop", quoteID(next), page+1)))
			case added == 0:
				return nil, meta, c.redactError(o.err(resp.status, fmt.Errorf("page %d of the list adds no new item but the API says there are more: its list does not advance", page+1)))
			}
			cursors[next] = true
			cursor = next
		case !env && len(items) == limit && added > 0:
			// Exactly a full page: there may be more. (A server that
			// returns more than the limit does not page.)
			cursor = P(&items[len(items)-1]).id()
		default:
			return out, meta, nil
		}
	}
}

// decodePage decodes one page: a bare array or an envelope. An object
// without items is the API's error object (some 2xx carry one) or a clear
// error, never an empty list.
func decodePage[W any](o op, resp *response) (items []W, next string, more, envelope bool, err *Error) {
	trimmed := bytes.TrimSpace(resp.body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var p struct {
			Items    *[]W    `json:"items"`
			HasMore  bool    `json:"hasMore"`
			NextPage *string `json:"nextPage"`
			Code     *string `json:"code"`
			Message  *string `json:"message"`
		}
		if err := decodeBody(o, resp, &p); err != nil {
			return nil, "", false, false, err
		}
		if p.Items == nil {
			if a, ok := errorBody(trimmed); ok {
				e := o.err(resp.status, nil)
				fillAPIError(e, a)
				return nil, "", false, false, e
			}
			return nil, "", false, false, o.err(resp.status, fmt.Errorf("expected a list, got an object without items: %s", snippet(trimmed)))
		}
		if len(*p.Items) == 0 && p.Code != nil && p.Message != nil {
			// {code, message, items: []}: an error dressed as a list, not
			// an empty team (whose objects the plan would then delete).
			e := o.err(resp.status, nil)
			e.Code, e.Message = *p.Code, *p.Message
			if e.Message == "" {
				e.Message = "the API answered an empty list with an error code"
			}
			return nil, "", false, false, e
		}
		if p.NextPage != nil {
			next = *p.NextPage
		}
		return *p.Items, next, p.HasMore, true, nil
	}
	if err := decodeBody(o, resp, &items); err != nil {
		return nil, "", false, false, err
	}
	if items == nil {
		// JSON null: not a list.
		return nil, "", false, false, o.err(resp.status, fmt.Errorf("expected a list, got %s", snippet(trimmed)))
	}
	return items, "", false, false, nil
}

// scriptList is what a list of scripts revealed.
type scriptList struct {
	scripts    []Script
	live       bool
	assignKnow bool
	team       string
}

func (c *Client) listScripts(ctx context.Context, q url.Values) (scriptList, error) {
	o := op{Op: "list", Kind: "scripts"}
	ws, meta, err := listAll[wireScript](ctx, c, o, "/startup-scripts", q, 0)
	if err != nil {
		return scriptList{}, err
	}
	l := scriptList{live: meta.envelope, scripts: make([]Script, 0, len(ws))}
	for i := range ws {
		w := &ws[i]
		if w.live() {
			l.live = true
		}
		if w.AssignedMachineIDs != nil {
			l.assignKnow = true
		}
		if l.team == "" {
			l.team = w.TeamID
		}
		if w.DtDeleted.set {
			continue // deleted; the live API shows it for a while
		}
		l.scripts = append(l.scripts, w.script())
		c.noteCreated(w.ID, w.DtCreated.t)
	}
	if l.live && len(ws) == 0 {
		l.assignKnow = true
	}
	sortScripts(l.scripts)
	return l, nil
}

type templateList struct {
	templates []Template
	live      bool
	team      string
}

func (c *Client) listTemplates(ctx context.Context, q url.Values) (templateList, error) {
	o := op{Op: "list", Kind: "templates"}
	ws, meta, err := listAll[wireTemplate](ctx, c, o, "/custom-templates", q, 0)
	if err != nil {
		return templateList{}, err
	}
	l := templateList{live: meta.envelope, templates: make([]Template, 0, len(ws))}
	for i := range ws {
		w := &ws[i]
		if w.live() {
			l.live = true
		}
		if l.team == "" {
			l.team = w.TeamID
		}
		if w.DtDeleted.set {
			continue
		}
		l.templates = append(l.templates, w.template())
		c.noteCreated(w.ID, w.DtCreated.t)
	}
	sortTemplates(l.templates)
	return l, nil
}

func sortScripts(s []Script) {
	slices.SortFunc(s, func(a, b Script) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
}

func sortTemplates(t []Template) {
	slices.SortFunc(t, func(a, b Template) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
}

func sortOSTemplates(t []OSTemplate) {
	slices.SortFunc(t, func(a, b OSTemplate) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
}

// ListScripts returns every startup script, sorted by name then id.
func (c *Client) ListScripts(ctx context.Context) ([]Script, error) {
	l, err := c.listScripts(ctx, nil)
	if err != nil {
		return nil, err
	}
	c.noteDialect(dialectOf(l.live))
	return l.scripts, nil
}

// ListTemplates returns every custom template, sorted by name then id.
func (c *Client) ListTemplates(ctx context.Context) ([]Template, error) {
	l, err := c.listTemplates(ctx, nil)
	if err != nil {
		return nil, err
	}
	c.noteDialect(dialectOf(l.live))
	return l.templates, nil
}

// ListOSTemplates returns the OS template catalogue. With opts.Order or
// opts.OrderBy set the API's order is kept; otherwise the result is sorted
// by name then id. opts.Name filters by exact name (the API may match
// partially; the client keeps exact matches only).
func (c *Client) ListOSTemplates(ctx context.Context, opts ListOptions) ([]OSTemplate, error) {
	if opts.Limit < 0 || opts.Limit > api.MaxLimit {
		return nil, &Error{Op: "list", Kind: "OS templates", Err: fmt.Errorf("limit %d: must be 1 to %d", opts.Limit, api.MaxLimit)}
	}
	q := url.Values{}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	if opts.OrderBy != "" {
		q.Set("orderBy", opts.OrderBy)
	}
	if opts.Order != "" {
		q.Set("order", opts.Order)
	}
	o := op{Op: "list", Kind: "OS templates"}
	ws, _, err := listAll[wireOSTemplate](ctx, c, o, "/os-templates", q, opts.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]OSTemplate, 0, len(ws))
	for i := range ws {
		t := ws[i].osTemplate()
		if opts.Name != "" && t.Name != opts.Name {
			continue
		}
		out = append(out, t)
	}
	if opts.OrderBy == "" && opts.Order == "" {
		sortOSTemplates(out)
	}
	return out, nil
}

// GetScript returns one script; IsNotFound(err) when it does not exist.
func (c *Client) GetScript(ctx context.Context, id string) (Script, error) {
	o := op{Op: "get", Kind: "script", ID: id}
	var w wireScript
	if err := c.getJSON(ctx, o, "/startup-scripts/"+url.PathEscape(id), &w); err != nil {
		return Script{}, err
	}
	if err := c.checkID(o, w.ID); err != nil {
		return Script{}, err
	}
	if w.live() {
		c.noteDialect(DialectPaperspaceV1)
	}
	if w.DtDeleted.set {
		return Script{}, deletedError(o)
	}
	if err := w.check(); err != nil {
		return Script{}, c.redactError(o.err(0, fmt.Errorf("the API's answer %w", err)))
	}
	return w.script(), nil
}

// deletedError is the not-found error of an object the API still shows,
// marked deleted (dtDeleted): deletion takes a while to show.
func deletedError(o op) error {
	e := o.err(0, nil)
	e.Code, e.Message = api.CodeNotFound, "the API shows it deleted (dtDeleted)"
	return e
}

// GetTemplate returns one custom template; IsNotFound(err) when it does not
// exist.
func (c *Client) GetTemplate(ctx context.Context, id string) (Template, error) {
	o := op{Op: "get", Kind: "template", ID: id}
	var w wireTemplate
	if err := c.getJSON(ctx, o, "/custom-templates/"+url.PathEscape(id), &w); err != nil {
		return Template{}, err
	}
	if err := c.checkID(o, w.ID); err != nil {
		return Template{}, err
	}
	if w.DtDeleted.set {
		return Template{}, deletedError(o)
	}
	if err := w.check(); err != nil {
		return Template{}, c.redactError(o.err(0, fmt.Errorf("the API's answer %w", err)))
	}
	return w.template(), nil
}

func (c *Client) getJSON(ctx context.Context, o op, path string, v any) error {
	resp, err := c.do(ctx, &request{op: o, method: http.MethodGet, path: path}, c.newRetrier())
	if err != nil {
		return err
	}
	return c.decodeBody(o, resp, v)
}

// checkID refuses an answer that is not an object of the expected kind
// (decoding {} or someone else's JSON into a struct succeeds silently).
func (c *Client) checkID(o op, id string) error {
	if id == "" {
		return c.redactError(o.err(0, errors.New("the API's answer has no id")))
	}
	return nil
}

func dialectOf(live bool) Dialect {
	if live {
		return DialectPaperspaceV1
	}
	return DialectSpec
}

// quoteID quotes an id from the API for an error: short, and with nothing
// that could move the cursor.
func quoteID(id string) string {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return strconv.Quote(id)
}
