package apply

import (
	"context"
	"fmt"
	"sync"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// dryRunWriter stands in for the API in a dry run: every call is recorded
// and succeeds, and creates return placeholder ids so that dependants (the
// assigns of a new script) run through the same code as for real.
type dryRunWriter struct {
	mu    sync.Mutex
	calls []string
	n     int
}

func newDryRunWriter() *dryRunWriter { return &dryRunWriter{} }

func (d *dryRunWriter) record(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf(format, args...))
}

func (d *dryRunWriter) newID(kind string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	return fmt.Sprintf("(dry-run %s %d)", kind, d.n)
}

func (d *dryRunWriter) CreateScript(_ context.Context, in remote.ScriptInput) (remote.Script, error) {
	d.record("CreateScript %q", in.Name)
	return remote.Script{ID: d.newID("script"), Name: in.Name, RunOnce: in.RunOnce, IsEnabled: in.IsEnabled}, nil
}

func (d *dryRunWriter) UpdateScript(_ context.Context, id string, in remote.ScriptInput) (remote.Script, error) {
	d.record("UpdateScript %s %q", id, in.Name)
	return remote.Script{ID: id, Name: in.Name, RunOnce: in.RunOnce, IsEnabled: in.IsEnabled}, nil
}

func (d *dryRunWriter) DeleteScript(_ context.Context, id string) error {
	d.record("DeleteScript %s", id)
	return nil
}

func (d *dryRunWriter) AssignScript(_ context.Context, id, machineID string) error {
	d.record("AssignScript %s %s", id, machineID)
	return nil
}

func (d *dryRunWriter) UnassignScript(_ context.Context, id, machineID string) error {
	d.record("UnassignScript %s %s", id, machineID)
	return nil
}

func (d *dryRunWriter) CreateTemplate(_ context.Context, in remote.TemplateInput) (remote.Template, error) {
	d.record("CreateTemplate %q", in.Name)
	return remote.Template{ID: d.newID("template"), Name: in.Name, MachineID: in.MachineID, Note: in.Note}, nil
}

func (d *dryRunWriter) UpdateTemplate(_ context.Context, id string, in remote.TemplateInput) (remote.Template, error) {
	d.record("UpdateTemplate %s %q", id, in.Name)
	return remote.Template{ID: id, Name: in.Name, MachineID: in.MachineID, Note: in.Note}, nil
}

func (d *dryRunWriter) DeleteTemplate(_ context.Context, id string) error {
	d.record("DeleteTemplate %s", id)
	return nil
}

// scratchJournal runs a dry run's journal updates on a throwaway state, so
// that they are exercised but nothing is kept: the caller's journal is
// never touched by a dry run.
type scratchJournal struct{}

func (scratchJournal) Update(fn func(*state.State)) error {
	fn(&state.State{})
	return nil
}
