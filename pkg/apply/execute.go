package apply

import (
	"context"
	"fmt"
	"maps"

	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// perform maps one change to its API calls. It returns the id of the object
// the change leaves (the new one for a create or replace) and record, the
// journal update that records it, which the caller applies once the calls
// are done (outside the concurrency limit: a journal save is not an API
// call). A replace journals its first step itself, before its delete.
//
// Writer errors are returned as they are: the remote client already words
// them with the operation, the object, the status and the API's message.
func (r *runner) perform(ctx context.Context, c plan.Change) (id string, record func(*state.State), err error) {
	switch c.Kind {
	case plan.KindScript:
		return r.script(ctx, c)
	case plan.KindTemplate:
		return r.template(ctx, c)
	case plan.KindAssignment:
		return r.assignment(ctx, c)
	}
	return "", nil, fmt.Errorf("%s: unknown kind %q", c.Key, c.Kind)
}

func (r *runner) script(ctx context.Context, c plan.Change) (string, func(*state.State), error) {
	switch c.Action {
	case plan.Create, plan.Update, plan.Adopt:
		in, err := scriptInput(c)
		if err != nil {
			return "", nil, err
		}
		var s remote.Script
		if c.Action == plan.Create {
			s, err = r.w.CreateScript(ctx, in)
		} else {
			s, err = r.w.UpdateScript(ctx, c.ID, in)
			if s.ID == "" {
				s.ID = c.ID
			}
		}
		if err != nil {
			return "", nil, err
		}
		entry := scriptEntry(s.ID, c, in)
		return s.ID, func(st *state.State) { putScript(st, entry) }, nil
	case plan.Delete:
		if err := ignoreNotFound(r.w.DeleteScript(ctx, c.ID)); err != nil {
			return "", nil, err
		}
		return c.ID, func(st *state.State) {
			st.RemoveScript(c.ID)
			st.MarkDeleted(state.KindScript, c.ID, c.Name) // the API may show it a while yet
		}, nil
	case plan.Forget:
		// Gone from the remote already: only the state changes.
		return c.ID, func(st *state.State) { st.RemoveScript(c.ID) }, nil
	}
	return "", nil, unsupported(c)
}

func (r *runner) template(ctx context.Context, c plan.Change) (string, func(*state.State), error) {
	switch c.Action {
	case plan.Create, plan.Replace:
		in, err := templateInput(c)
		if err != nil {
			return "", nil, err
		}
		t, err := r.w.CreateTemplate(ctx, in)
		if err != nil {
			return "", nil, err
		}
		entry := templateEntry(t.ID, c, in)
		if c.Action == plan.Create {
			return t.ID, func(st *state.State) { st.PutTemplate(entry) }, nil
		}
		// Replace: record the new template and depose the old one in one
		// journal update before deleting the old, so that a crash between
		// the two leaves a state from which the next plan deletes the old.
		old := c.ID
		before := templateBefore(c)
		if err := r.journal(c, t.ID, func(st *state.State) {
			if _, known := st.TemplateByID(old); !known {
				st.PutTemplate(before)
			}
			st.PutTemplate(entry) // deposes the old one of the same name
		}); err != nil {
			return "", nil, err
		}
		if err := ignoreNotFound(r.w.DeleteTemplate(ctx, old)); err != nil {
			return "", nil, fmt.Errorf("replace template %q: created %s, but deleting the old %s failed (it stays deposed in the state; the next apply deletes it): %w", c.Name, t.ID, old, err)
		}
		return t.ID, func(st *state.State) {
			st.RemoveTemplate(old)
			st.MarkDeleted(state.KindTemplate, old, c.Name)
		}, nil
	case plan.Update, plan.Adopt:
		in, err := templateInput(c)
		if err != nil {
			return "", nil, err
		}
		if _, err := r.w.UpdateTemplate(ctx, c.ID, in); err != nil {
			return "", nil, err
		}
		entry := templateEntry(c.ID, c, in)
		return c.ID, func(st *state.State) { st.PutTemplate(entry) }, nil
	case plan.Delete:
		if err := ignoreNotFound(r.w.DeleteTemplate(ctx, c.ID)); err != nil {
			return "", nil, err
		}
		return c.ID, func(st *state.State) {
			st.RemoveTemplate(c.ID)
			st.MarkDeleted(state.KindTemplate, c.ID, c.Name)
		}, nil
	case plan.Forget:
		return c.ID, func(st *state.State) { st.RemoveTemplate(c.ID) }, nil
	}
	return "", nil, unsupported(c)
}

func (r *runner) assignment(ctx context.Context, c plan.Change) (string, func(*state.State), error) {
	switch c.Action {
	case plan.Assign:
		id, err := r.scriptID(c)
		if err != nil {
			return "", nil, err
		}
		if err := r.w.AssignScript(ctx, id, c.Machine); err != nil {
			return "", nil, err
		}
		return id, func(st *state.State) { st.AddAssignment(id, c.Machine) }, nil
	case plan.Unassign:
		if err := ignoreNotFound(r.w.UnassignScript(ctx, c.ID, c.Machine)); err != nil {
			return "", nil, err
		}
		return c.ID, func(st *state.State) { st.RemoveAssignment(c.ID, c.Machine) }, nil
	}
	return "", nil, unsupported(c)
}

// scriptID is the id of an assignment's script: the change's own, or the
// one its script's create produced earlier in this run.
func (r *runner) scriptID(c plan.Change) (string, error) {
	if c.ID != "" {
		return c.ID, nil
	}
	if i, ok := r.graph.byKey["script/"+c.Name]; ok && r.ids[i] != "" && r.plan.Changes[i].Action != plan.Delete && r.plan.Changes[i].Action != plan.Forget {
		return r.ids[i], nil
	}
	return "", fmt.Errorf("%s %s: the id of script %q is unknown (it has no id in the plan and no change creating it)", c.Action, c.Key, c.Name)
}

// journal records a successful write. Its failure fails the change: the
// object exists but the state does not say so, which the next plan shows
// (it adopts the object by name).
func (r *runner) journal(c plan.Change, id string, fn func(*state.State)) error {
	if err := r.j.Update(fn); err != nil {
		return fmt.Errorf("%s %s: done (id %s) but not recorded in the state: %w", c.Action, c.Key, id, err)
	}
	return nil
}

func unsupported(c plan.Change) error {
	return fmt.Errorf("%s: the applier cannot %s a %s", c.Key, c.Action, c.Kind)
}

func scriptInput(c plan.Change) (remote.ScriptInput, error) {
	a := c.After
	if a == nil {
		return remote.ScriptInput{}, fmt.Errorf("%s %s: the plan has no attributes for it", c.Action, c.Key)
	}
	if a.Body == nil {
		// Saved plans never carry a sensitive script's body; the caller
		// must fill it in from the manifest.
		return remote.ScriptInput{}, fmt.Errorf("%s %s: the plan has no body for it", c.Action, c.Key)
	}
	body := *a.Body
	if a.Push != nil {
		body = *a.Push // with the secret values Body shows as placeholders
	} else if len(a.Secrets) > 0 {
		// Saved plans never carry the secret values either.
		return remote.ScriptInput{}, fmt.Errorf("%s %s: the plan has no secret values for it", c.Action, c.Key)
	}
	return remote.ScriptInput{
		Name:      a.Name,
		Body:      body,
		RunOnce:   boolOr(a.RunOnce, false),
		IsEnabled: boolOr(a.IsEnabled, true),
	}, nil
}

// scriptEntry is the state's record of a pushed script. A body that holds
// a secret is recorded by the keyed fingerprints the plan made, and (unless
// sensitive) as the body reviewers see: never the pushed body, which holds
// the secret values.
func scriptEntry(id string, c plan.Change, in remote.ScriptInput) state.Script {
	a := c.After
	e := state.Script{
		ID:             id,
		Name:           in.Name,
		Sensitive:      a.Sensitive,
		RunOnce:        in.RunOnce,
		IsEnabled:      in.IsEnabled,
		PreventDestroy: a.PreventDestroy,
	}
	body := in.Body
	if a.BodyHMAC != "" {
		e.BodyHMAC, e.FingerprintKey, e.Secrets = a.BodyHMAC, a.FingerprintKey, maps.Clone(a.Secrets)
		body = *a.Body
	} else if !a.Sensitive {
		// A sensitive body without a keyed fingerprint (a plan made by
		// hand) is recorded without any: a bare hash of a secret gives
		// it back. The next plan pushes it again.
		e.BodySHA256 = state.BodyHash(in.Body)
	}
	if !e.Sensitive {
		e.Body = &body
	}
	return e
}

func templateInput(c plan.Change) (remote.TemplateInput, error) {
	a := c.After
	if a == nil {
		return remote.TemplateInput{}, fmt.Errorf("%s %s: the plan has no attributes for it", c.Action, c.Key)
	}
	in := remote.TemplateInput{Name: a.Name, MachineID: a.MachineID, Note: a.Note}
	if in.MachineID == "" && c.Before != nil {
		in.MachineID = c.Before.MachineID
	}
	return in, nil
}

func templateEntry(id string, c plan.Change, in remote.TemplateInput) state.Template {
	// After's protection, not c.Protected: for a replace that is whether
	// destroying the old template is protected.
	return state.Template{ID: id, Name: in.Name, MachineID: in.MachineID, Note: in.Note, PreventDestroy: c.After.PreventDestroy}
}

// templateBefore is the replaced template, deposed, as the state should
// remember it if it did not already.
func templateBefore(c plan.Change) state.Template {
	t := state.Template{ID: c.ID, Name: c.Name, PreventDestroy: c.Protected, Deposed: true}
	if b := c.Before; b != nil {
		t.Name, t.MachineID, t.Note = b.Name, b.MachineID, b.Note
	}
	return t
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// ignoreNotFound treats a 404 on a delete or unassign as success: the
// object is already gone, which is what the change wanted.
func ignoreNotFound(err error) error {
	if remote.IsNotFound(err) {
		return nil
	}
	return err
}

// putScript records a script, keeping the assignments (and what its
// selectors matched) the state already records for it: an update rewrites
// the script, not where it runs.
func putScript(st *state.State, s state.Script) {
	if cur, ok := st.ScriptByID(s.ID); ok {
		s.Assignments = cur.Assignments
		s.Selectors = cur.Selectors
	}
	st.PutScript(s)
}
