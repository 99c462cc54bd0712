package remote

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
)

// wireMachine reads a machine of GET /machines: only what psync uses.
type wireMachine struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	MachineType string   `json:"machineType"`
	Region      string   `json:"region"`
	State       string   `json:"state"`
	DtDeleted   dateMark `json:"dtDeleted"` // as loose as the other lists'
}

func (w *wireMachine) id() string { return w.ID }

// check refuses a machine without a name (one being deleted aside): a
// half-read machine would leave every selector on names, which the plan
// then takes for a renamed machine and unassigns.
func (w *wireMachine) check() error {
	if w.Name == "" && !w.DtDeleted.set {
		return errors.New("has no name")
	}
	return nil
}

// MachineDeleting is the State psync gives a machine the API lists with
// dtDeleted set: one on its way out, which no selector selects.
const MachineDeleting = "deleting"

// ListMachines returns every machine of the team, sorted by id, through
// the same paged, de-duplicated list walk as every other list (limit 120,
// after=nextPage). known is false, with no error, when the API has no
// machine list (the spec's API answers GET /machines with 404): machine
// ids cannot be checked there. A machine being deleted (dtDeleted set)
// has the state MachineDeleting.
func (c *Client) ListMachines(ctx context.Context) (machines []Machine, known bool, err error) {
	o := op{Op: "list", Kind: "machines"}
	ws, _, err := listAll[wireMachine](ctx, c, o, "/machines", nil, 0)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed || e.Status == http.StatusNotImplemented) {
			return nil, false, nil
		}
		return nil, false, err
	}
	machines = make([]Machine, 0, len(ws))
	for i := range ws {
		w := &ws[i]
		m := Machine{ID: w.ID, Name: w.Name, MachineType: w.MachineType, Region: w.Region, State: w.State}
		if w.DtDeleted.set {
			m.State = MachineDeleting
		}
		machines = append(machines, m)
	}
	slices.SortFunc(machines, func(a, b Machine) int { return cmp.Compare(a.ID, b.ID) })
	return machines, true, nil
}
