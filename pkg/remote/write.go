package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/api"
)

// Client implements both halves of the API.
var (
	_ Reader = (*Client)(nil)
	_ Writer = (*Client)(nil)
)

// CreateScript creates a script and never makes a duplicate: when a POST
// fails ambiguously (timeout, reset, 5xx after the request was sent) the
// scripts named in.Name are listed before anything is retried, and one
// that appeared since the last Fetch is returned instead of creating
// another. Two or more such scripts are an error naming them.
func (c *Client) CreateScript(ctx context.Context, in ScriptInput) (Script, error) {
	o := op{Op: "create", Kind: "script", Name: in.Name}
	d, err := c.writeDialect(ctx)
	if err != nil {
		return Script{}, err
	}
	live := d == DialectPaperspaceV1
	var body []byte
	if live {
		// The live create takes name, script and isRunOnce; isEnabled is
		// set by the update below when it is not the default.
		body = jsonBody(api.LiveStartupScriptWrite{Name: &in.Name, Script: &in.Body, IsRunOnce: &in.RunOnce})
	} else {
		body = jsonBody(api.StartupScriptCreate{Name: in.Name, Script: in.Body, RunOnce: &in.RunOnce, IsEnabled: &in.IsEnabled})
	}
	var found Script
	find := lookupByName(&found, func(ctx context.Context) ([]Script, error) { return c.scriptsNamed(ctx, in.Name) },
		func(s Script) string { return s.ID })
	resp, err := c.createNoDuplicate(ctx, o, "/startup-scripts", body, find)
	if err != nil {
		return Script{}, err
	}
	got := found
	if resp != nil {
		var w wireScript
		if err := c.decodeBody(o, resp, &w); err != nil {
			return Script{}, err
		}
		if err := c.checkID(o, w.ID); err != nil {
			return Script{}, err
		}
		got = w.script()
	}
	if got.RunOnce != in.RunOnce || got.IsEnabled != in.IsEnabled {
		// A dialect that ignored a flag on create, or an object found
		// after an ambiguous failure: make it what was asked for.
		return c.UpdateScript(ctx, got.ID, in)
	}
	return got, nil
}

// scriptsNamed lists the scripts named exactly name (the live API's name
// filter may match partially) that the last Fetch did not see: those are
// the only ones a create since then can have made.
func (c *Client) scriptsNamed(ctx context.Context, name string) ([]Script, error) {
	l, err := c.listScripts(ctx, url.Values{"name": {name}})
	if err != nil {
		return nil, err
	}
	var out []Script
	for _, s := range l.scripts {
		if s.Name == name && !c.fetchedBefore(s.ID) {
			out = append(out, s)
		}
	}
	return out, nil
}

// createNoDuplicate POSTs body until it succeeds, fails for good, or the
// object turns out to exist after an ambiguous failure. In that last case
// it returns a nil response and find has captured the object. find
// returns the ids of the objects the request may have made.
func (c *Client) createNoDuplicate(ctx context.Context, o op, path string, body []byte, find func(context.Context) ([]string, error)) (*response, error) {
	r := c.newRetrier()
	for {
		resp, err := c.do(ctx, &request{op: o, method: http.MethodPost, path: path, body: body, create: true}, r)
		if err == nil {
			return resp, nil
		}
		var amb *ambiguousError
		if !errors.As(err, &amb) {
			return nil, err
		}
		// Wait first: a write the server is still finishing must have a
		// chance to show in the list.
		if werr := r.wait(ctx, amb.retryAfter); werr != nil {
			e := *amb.err
			e.Message = joinMessage(e.Message, "it may or may not have been created; run plan again to see")
			if !errors.Is(werr, errBudget) {
				e.Err = withCause(e.Err, werr)
			}
			return nil, &e
		}
		ids, ferr := find(ctx)
		switch n := len(ids); {
		case ferr != nil:
			e := *amb.err
			e.Message = joinMessage(e.Message, "it may or may not have been created, and looking it up failed")
			e.Err = ferr
			return nil, c.redactError(&e)
		case n == 1:
			c.debugf("psync: %s %s %q: found after an ambiguous failure; not creating it again", o.Op, o.Kind, o.Name)
			return nil, nil
		case n > 1:
			e := *amb.err
			e.Message = fmt.Sprintf("after an ambiguous failure, %d objects named %q exist (%s); delete the extra ones or adopt one, then plan again", n, o.Name, strings.Join(ids, ", "))
			return nil, c.redactError(&e)
		}
		// Not there: the POST never took effect, so sending it again is
		// safe.
	}
}

func joinMessage(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// UpdateScript replaces a script's name, body and flags.
func (c *Client) UpdateScript(ctx context.Context, id string, in ScriptInput) (Script, error) {
	o := op{Op: "update", Kind: "script", Name: in.Name, ID: id}
	d, err := c.writeDialect(ctx)
	if err != nil {
		return Script{}, err
	}
	var body []byte
	if d == DialectPaperspaceV1 {
		body = jsonBody(api.LiveStartupScriptWrite{Name: &in.Name, Script: &in.Body, IsEnabled: &in.IsEnabled, IsRunOnce: &in.RunOnce})
	} else {
		body = jsonBody(api.StartupScriptCreate{Name: in.Name, Script: in.Body, RunOnce: &in.RunOnce, IsEnabled: &in.IsEnabled})
	}
	resp, err := c.do(ctx, &request{op: o, method: http.MethodPut, path: "/startup-scripts/" + url.PathEscape(id), body: body}, c.newRetrier())
	if err != nil {
		return Script{}, err
	}
	var w wireScript
	if err := c.decodeBody(o, resp, &w); err != nil {
		return Script{}, err
	}
	if err := c.checkID(o, w.ID); err != nil {
		return Script{}, err
	}
	return w.script(), nil
}

// DeleteScript deletes a script. A 404 on a retry means an earlier attempt
// did it, and is success; a 404 on the first attempt is returned
// (IsNotFound) for the caller to judge.
func (c *Client) DeleteScript(ctx context.Context, id string) error {
	return c.delete(ctx, op{Op: "delete", Kind: "script", ID: id}, "/startup-scripts/"+url.PathEscape(id))
}

// DeleteTemplate deletes a custom template, like DeleteScript.
func (c *Client) DeleteTemplate(ctx context.Context, id string) error {
	return c.delete(ctx, op{Op: "delete", Kind: "template", ID: id}, "/custom-templates/"+url.PathEscape(id))
}

func (c *Client) delete(ctx context.Context, o op, path string) error {
	_, err := c.do(ctx, &request{op: o, method: http.MethodDelete, path: path}, c.newRetrier())
	var e *Error
	if errors.As(err, &e) && e.Attempts > 1 && IsNotFound(err) {
		return nil
	}
	return err
}

// AssignScript assigns a script to a machine; assigning twice is harmless.
func (c *Client) AssignScript(ctx context.Context, id, machineID string) error {
	return c.assignment(ctx, "assign", id, machineID)
}

// UnassignScript removes a script from a machine; harmless when it is not
// assigned.
func (c *Client) UnassignScript(ctx context.Context, id, machineID string) error {
	return c.assignment(ctx, "unassign", id, machineID)
}

// assignment assigns or unassigns. The spec makes both idempotent, so
// there they retry like a PUT. The live API is not known to: a repeat of
// an assign that took effect may be refused. So in the live dialect, after
// an ambiguous failure (or a refusal), the script's assignedMachineIds are
// read and decide: done already, or safe to send again. The answer (the
// script) adds nothing the caller needs.
func (c *Client) assignment(ctx context.Context, verb, id, machineID string) error {
	o := op{Op: verb, Kind: "script", ID: id, Target: "machine " + machineID}
	d, err := c.writeDialect(ctx)
	if err != nil {
		return err
	}
	live := d == DialectPaperspaceV1
	req := &request{
		op: o, method: http.MethodPost,
		path:   "/startup-scripts/" + url.PathEscape(id) + "/" + verb,
		body:   jsonBody(api.MachineRef{MachineID: machineID}),
		create: live,
	}
	r := c.newRetrier()
	for {
		_, err := c.do(ctx, req, r)
		if err == nil {
			return nil
		}
		var amb *ambiguousError
		var e *Error
		ambiguous := errors.As(err, &amb)
		refused := !ambiguous && errors.As(err, &e) && (e.Status == http.StatusBadRequest || e.Status == http.StatusConflict)
		if !live || !ambiguous && !refused {
			return err
		}
		if ambiguous {
			e = amb.err
			if werr := r.wait(ctx, amb.retryAfter); werr != nil {
				e := *e
				e.Message = joinMessage(e.Message, "it may or may not have been done; run plan again to see")
				if !errors.Is(werr, errBudget) {
					e.Err = withCause(e.Err, werr)
				}
				return &e
			}
		}
		machines, gerr := c.assignedMachines(ctx, id)
		if gerr != nil {
			e := *e
			if ambiguous {
				e.Message = joinMessage(e.Message, "it may or may not have been done, and reading the script failed")
			} else {
				e.Message = joinMessage(e.Message, "reading the script to see whether it is done already failed")
			}
			e.Err = gerr
			return c.redactError(&e)
		}
		if slices.Contains(machines, machineID) == (verb == "assign") {
			c.debugf("psync: %s script %s %s: the script's assignedMachineIds show it done; not sending it again", verb, id, o.Target)
			return nil
		}
		if refused {
			return err // refused, and not because it was done already
		}
		// Not done: the request never took effect, so sending it again
		// is safe.
	}
}

// assignedMachines reads one script's assignedMachineIds.
func (c *Client) assignedMachines(ctx context.Context, id string) ([]string, error) {
	o := op{Op: "get", Kind: "script", ID: id}
	var w wireScript
	if err := c.getJSON(ctx, o, "/startup-scripts/"+url.PathEscape(id), &w); err != nil {
		return nil, err
	}
	if w.AssignedMachineIDs == nil {
		return nil, c.redactError(o.err(0, errors.New("the API's script has no assignedMachineIds")))
	}
	return *w.AssignedMachineIDs, nil
}

// CreateTemplate creates a custom template from a machine and returns once
// it is ready (the live API creates asynchronously: its event is polled).
// Like CreateScript it never makes a duplicate: after an ambiguous failure
// it looks for a template with that name made from that machine.
func (c *Client) CreateTemplate(ctx context.Context, in TemplateInput) (Template, error) {
	o := op{Op: "create", Kind: "template", Name: in.Name}
	d, err := c.writeDialect(ctx)
	if err != nil {
		return Template{}, err
	}
	body := jsonBody(api.CustomTemplateCreate{MachineID: in.MachineID, Name: in.Name, Note: in.Note})
	if d == DialectPaperspaceV1 {
		body = jsonBody(api.CustomTemplateCreate{MachineID: in.MachineID, Name: in.Name})
	}
	var found Template
	find := lookupByName(&found, func(ctx context.Context) ([]Template, error) { return c.templatesNamed(ctx, in.Name, in.MachineID) },
		func(t Template) string { return t.ID })
	resp, err := c.createNoDuplicate(ctx, o, "/custom-templates", body, find)
	if err != nil {
		return Template{}, err
	}
	if resp == nil {
		return found, nil
	}
	var w struct {
		wireTemplate
		Data  *wireTemplate `json:"data"`
		Event *wireEvent    `json:"event"`
	}
	if err := c.decodeBody(o, resp, &w); err != nil {
		return Template{}, err
	}
	t := w.wireTemplate
	if w.Data != nil {
		t = *w.Data
		c.noteDialect(DialectPaperspaceV1)
	}
	o.ID = t.ID
	if err := c.checkID(o, t.ID); err != nil {
		return Template{}, err
	}
	if w.Event != nil {
		if err := c.waitEvent(ctx, o, *w.Event); err != nil {
			return Template{}, err
		}
	}
	return t.template(), nil
}

// templatesNamed is scriptsNamed for templates made from machineID.
func (c *Client) templatesNamed(ctx context.Context, name, machineID string) ([]Template, error) {
	q := url.Values{"name": {name}}
	if machineID != "" {
		q.Set("machineId", machineID)
	}
	l, err := c.listTemplates(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []Template
	for _, t := range l.templates {
		if t.Name == name && (machineID == "" || t.MachineID == machineID) && !c.fetchedBefore(t.ID) {
			out = append(out, t)
		}
	}
	return out, nil
}

// wireEvent is a live machine event as psync reads it: of its times only
// whether dtFinished is set matters, and an error that is not a string is
// kept as its JSON text.
type wireEvent struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Error      eventText `json:"error"`
	DtFinished dateMark  `json:"dtFinished"`
}

// eventText is a message that may be null, a string, or something else.
type eventText string

func (t *eventText) UnmarshalJSON(data []byte) error {
	var s *string
	if json.Unmarshal(data, &s) == nil {
		*t = ""
		if s != nil {
			*t = eventText(*s)
		}
		return nil
	}
	*t = eventText(bytes.TrimSpace(data))
	return nil
}

// waitEvent polls a live machine event until it is final, with a growing
// interval, for at most Config.EventTimeout. It tells the context's
// progress reporter (WithProgress) how far the event has come.
//
// The final state is judged from the whole event: done succeeds;
// cancelled fails; error with a message fails with it. An error with no
// message has been seen on events that in fact completed, so when
// dtFinished says the work is over the template itself decides: it exists
// (and is not deleted), and the creation succeeded. An error with neither
// a message nor dtFinished fails.
func (c *Client) waitEvent(ctx context.Context, o op, ev wireEvent) error {
	start := time.Now()
	deadline := start.Add(c.cfg.EventTimeout)
	interval := c.cfg.PollInterval
	po := op{Op: "wait for", Kind: o.Kind, Name: o.Name, ID: o.ID}
	report := progressFrom(ctx)
	for {
		// The caller's progress line names the object already.
		report(fmt.Sprintf("%s (%s)", ev.State, time.Since(start).Round(time.Second)))
		switch ev.State {
		case api.EventDone:
			return nil
		case api.EventError, api.EventCancelled:
			msg := "the API's " + ev.Name + " event ended " + ev.State
			e := o.err(0, nil)
			switch {
			case ev.Error != "":
				msg += ": " + string(ev.Error)
			case ev.State == api.EventError && ev.DtFinished.set:
				_, gerr := c.GetTemplate(ctx, o.ID)
				if gerr == nil {
					c.debugf("psync: %s %s %q (%s): the event ended error with no message, but the template exists: it was made", o.Op, o.Kind, o.Name, o.ID)
					return nil
				}
				if IsNotFound(gerr) {
					msg += " (the API gave no reason, and the template is not there)"
				} else {
					msg += " (the API gave no reason, and looking the template up failed)"
					e.Err = gerr
				}
			default:
				msg += " (the API gave no reason)"
			}
			e.Message = msg
			return c.redactError(e)
		}
		if ev.ID == "" {
			return c.redactError(po.err(0, errors.New("the API's event has no id to poll")))
		}
		if time.Now().After(deadline) {
			return c.redactError(po.err(0, fmt.Errorf("still %q after %s (--template-timeout)", ev.State, c.cfg.EventTimeout)))
		}
		t := time.NewTimer(min(interval, time.Until(deadline)+time.Millisecond))
		interval = min(interval*3/2, maxPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.redactError(po.err(0, ctx.Err()))
		case <-t.C:
		}
		resp, err := c.do(ctx, &request{op: po, method: http.MethodGet, path: "/machine-events/" + url.PathEscape(ev.ID)}, c.newRetrier())
		if err != nil {
			return err
		}
		var next wireEvent
		if err := c.decodeBody(po, resp, &next); err != nil {
			return err
		}
		if next.ID == "" {
			next.ID = ev.ID
		}
		ev = next
	}
}

// UpdateTemplate renames a custom template and sets its note (the live
// API has no note and ignores it).
func (c *Client) UpdateTemplate(ctx context.Context, id string, in TemplateInput) (Template, error) {
	o := op{Op: "update", Kind: "template", Name: in.Name, ID: id}
	d, err := c.writeDialect(ctx)
	if err != nil {
		return Template{}, err
	}
	upd := api.CustomTemplateUpdate{Name: &in.Name, Note: &in.Note}
	if d == DialectPaperspaceV1 {
		upd.Note = nil
	}
	resp, err := c.do(ctx, &request{op: o, method: http.MethodPut, path: "/custom-templates/" + url.PathEscape(id), body: jsonBody(upd)}, c.newRetrier())
	if err != nil {
		return Template{}, err
	}
	var w wireTemplate
	if err := c.decodeBody(o, resp, &w); err != nil {
		return Template{}, err
	}
	if err := c.checkID(o, w.ID); err != nil {
		return Template{}, err
	}
	return w.template(), nil
}

// writeDialect returns the dialect request bodies must be written in. It is
// known after any list; a client that writes before listing asks for one
// OS template (cheap in both dialects, and the answer's shape tells them
// apart: a bare array or an envelope).
func (c *Client) writeDialect(ctx context.Context) (Dialect, error) {
	if d := c.Dialect(); d != "" {
		return d, nil
	}
	o := op{Op: "list", Kind: "OS templates"}
	resp, err := c.do(ctx, &request{op: o, method: http.MethodGet, path: "/os-templates", query: url.Values{"limit": {"1"}}}, c.newRetrier())
	if err != nil {
		return "", err
	}
	_, _, _, envelope, derr := decodePage[wireOSTemplate](o, resp)
	if derr != nil {
		return "", c.redactError(derr)
	}
	c.noteDialect(dialectOf(envelope))
	return c.Dialect(), nil
}

// lookupByName adapts a lookup of the objects with a name to
// createNoDuplicate: it returns their ids, and keeps the object in found
// when there is exactly one.
func lookupByName[T any](found *T, named func(context.Context) ([]T, error), id func(T) string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		matches, err := named(ctx)
		if len(matches) == 1 {
			*found = matches[0]
		}
		ids := make([]string, len(matches))
		for i, m := range matches {
			ids[i] = id(m)
		}
		return ids, err
	}
}
