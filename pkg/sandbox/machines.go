package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/api"
)

// Machines. Every team has machines, seeded psbox001… (Config.Machines),
// which assign and template creation check in both dialects. The
// paperspace-v1 dialect lists them (GET /machines, paged like every live
// list); the spec has no machine route. The admin routes
// POST /_sandbox/machines, PUT and DELETE /_sandbox/machines/{id} add,
// change and remove machines while the sandbox runs, in both dialects, so
// that tests and users can show machines coming and going; once a team's
// machines were changed so, they are persisted and no longer seeded.

// machineRec is a machine as stored.
type machineRec struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	MachineType string    `json:"machineType"`
	Region      string    `json:"region"`
	State       string    `json:"state"`
	OS          string    `json:"os"`
	AgentType   string    `json:"agentType"`
	DtCreated   time.Time `json:"dtCreated"`
	// DtDeleted is set on a machine deleted through the admin route while
	// it lingers (LiveConfig.DeletedLinger): listed, but not assignable.
	DtDeleted *time.Time `json:"dtDeleted,omitempty"`
}

// liveStates are the machine states of the live API.
var liveStates = []string{"off", "starting", "stopping", "restarting", "serviceready", "ready", "upgrading", "provisioning"}

// machineList is a team's machines as persisted, and the number of the
// last machine id given (ids are never given twice).
type machineList struct {
	Seq      int           `json:"seq"`
	Machines []*machineRec `json:"machines"`
}

var bucketMachines = []byte("machines")

// machineEpoch is the creation time of seeded machines: fixed, so that
// lists are the same on every start.
var machineEpoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// seedMachine is the seeded machine number i (from 1): six A100 training
// boxes in ny2, two A4000 inference boxes in ams1, then CPU notebooks.
func seedMachine(i int) *machineRec {
	m := &machineRec{
		ID: fmt.Sprintf("psbox%03d", i), State: "ready", OS: "Ubuntu 22.04", AgentType: "LinuxHost",
		DtCreated: machineEpoch.Add(time.Duration(i) * time.Minute),
	}
	switch {
	case i <= 6:
		m.Name, m.MachineType, m.Region = fmt.Sprintf("train-a100-%d", i), "A100", "ny2"
	case i <= 8:
		m.Name, m.MachineType, m.Region = fmt.Sprintf("infer-%d", i-6), "A4000", "ams1"
	default:
		m.Name, m.MachineType, m.Region = fmt.Sprintf("notebook-%d", i-8), "C5", "ny2"
	}
	return m
}

// seedMachines gives the team the machines psbox001…psboxN, unless its
// machines were changed through the admin routes (and so persisted).
func (t *team) seedMachines(n int) {
	if t.machinesStored {
		return
	}
	ms := make([]*machineRec, n)
	for i := range n {
		ms[i] = seedMachine(i + 1)
	}
	t.setMachines(machineList{Seq: n, Machines: ms})
}

// setMachines replaces the team's machines.
func (t *team) setMachines(l machineList) {
	t.machines, t.machineSeq = l.Machines, l.Seq
	clear(t.machineOK)
	for _, m := range l.Machines {
		if m.DtDeleted == nil {
			t.machineOK[m.ID] = true
		}
	}
}

// putMachines durably records the team's machines as l, then applies
// them in memory. Callers hold mu for writing.
func (st *store) putMachines(t *team, l machineList) error {
	if err := st.persist(bucketMachines, t.id, l); err != nil {
		return err
	}
	t.setMachines(l)
	t.machinesStored = true
	return nil
}

// loadMachines reads the persisted machine lists.
func (st *store) loadMachines(get func(each func(k, v []byte) error) error) error {
	return get(func(k, v []byte) error {
		var l machineList
		if err := json.Unmarshal(v, &l); err != nil {
			return fmt.Errorf("machines of team %s: %w", k, err)
		}
		t := st.team(string(k))
		t.setMachines(l)
		t.machinesStored = true
		return nil
	})
}

func (m *machineRec) api() api.Machine {
	return api.Machine{ID: m.ID, Name: m.Name, MachineType: m.MachineType, Region: m.Region, State: m.State, OS: m.OS, AgentType: m.AgentType, DtCreated: m.DtCreated, DtDeleted: m.DtDeleted}
}

// visible reports whether the machine is listed at time at: not deleted,
// or deleted less than linger ago.
func (m *machineRec) visible(at time.Time, linger time.Duration) bool {
	return m.DtDeleted == nil || at.Before(m.DtDeleted.Add(linger))
}

func (m *machineRec) item(seq int) item {
	return item{id: m.ID, name: m.Name, created: m.DtCreated, seq: uint64(seq)}
}

// liveListMachines answers GET /machines: filters name (partial, as the
// live API may match), region, agentType and machineType (exact), ordered
// by dtCreated or name, paged.
func (s *Server) liveListMachines(c *call) *reply {
	q := c.r.URL.Query()
	lq, rep := parseListQuery(q, []string{"dtCreated", "name"})
	if rep != nil {
		return rep
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	recs := make([]*machineRec, 0, len(c.team.machines))
	seqOf := make(map[*machineRec]int, len(c.team.machines))
	at := time.Now()
	for i, m := range c.team.machines {
		seqOf[m] = i
		if m.visible(at, s.lingerFor) && exact(q, "region", m.Region) && exact(q, "agentType", m.AgentType) && exact(q, "machineType", m.MachineType) {
			recs = append(recs, m)
		}
	}
	return livePage(c, lq, s.cfg.Live.RepeatItems, recs,
		func(m *machineRec) item { return m.item(seqOf[m]) },
		(*machineRec).api)
}

// exact reports whether the query's filter key, when given, is v.
func exact(q map[string][]string, key, v string) bool {
	f, ok := q[key]
	return !ok || len(f) == 0 || f[0] == v
}

// liveGetMachine answers GET /machines/{id}.
func (s *Server) liveGetMachine(c *call) *reply {
	id := c.r.PathValue("id")
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	if m := c.team.machine(id); m != nil && m.visible(time.Now(), s.lingerFor) {
		return ok(http.StatusOK, m.api())
	}
	return notFound("machine", id)
}

func (t *team) machine(id string) *machineRec {
	for _, m := range t.machines {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// machineWrite reads the body of the admin routes; create requires name,
// machineType and region.
func machineWrite(w http.ResponseWriter, r *http.Request, create bool) (api.MachineWrite, *reply) {
	var b api.MachineWrite
	rep := decodeBody(w, r,
		field{name: "name", required: create, into: &b.Name},
		field{name: "machineType", required: create, into: &b.MachineType},
		field{name: "region", required: create, into: &b.Region},
		field{name: "state", into: &b.State},
	)
	if rep != nil {
		return b, rep
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"name", b.Name}, {"machineType", b.MachineType}, {"region", b.Region}, {"state", b.State}} {
		if f.v != nil && strings.TrimSpace(*f.v) == "" {
			return b, errReply(http.StatusBadRequest, api.CodeBadRequest, "%s must not be empty", f.name)
		}
	}
	if b.State != nil && !slices.Contains(liveStates, *b.State) {
		return b, errReply(http.StatusBadRequest, api.CodeBadRequest, "state must be one of %s, not %q", strings.Join(liveStates, ", "), *b.State)
	}
	return b, nil
}

// adminCreateMachine is POST /_sandbox/machines: a new machine, ready,
// with the next id psboxNNN.
func (s *Server) adminCreateMachine(w http.ResponseWriter, r *http.Request, t *team) *reply {
	b, rep := machineWrite(w, r, true)
	if rep != nil {
		return rep
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	l := t.machineList()
	l.Seq++
	m := &machineRec{ID: "psbox" + fmt.Sprintf("%03d", l.Seq), State: "ready", OS: "Ubuntu 22.04", AgentType: "LinuxHost", DtCreated: now()}
	setMachine(m, b)
	l.Machines = append(l.Machines, m)
	if err := s.st.putMachines(t, l); err != nil {
		return storeError(err)
	}
	return ok(http.StatusCreated, m.api())
}

// adminUpdateMachine is PUT /_sandbox/machines/{id}: it changes the
// fields the body gives.
func (s *Server) adminUpdateMachine(w http.ResponseWriter, r *http.Request, t *team) *reply {
	id := r.PathValue("id")
	b, rep := machineWrite(w, r, false)
	if rep != nil {
		return rep
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	l := t.machineList()
	i := slices.IndexFunc(l.Machines, func(m *machineRec) bool { return m.ID == id && m.DtDeleted == nil })
	if i < 0 {
		return notFound("machine", id)
	}
	m := *l.Machines[i]
	setMachine(&m, b)
	l.Machines[i] = &m
	if err := s.st.putMachines(t, l); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, m.api())
}

// adminDeleteMachine is DELETE /_sandbox/machines/{id}: the machine goes,
// and with it its assignments (a template made from it stays); with
// LiveConfig.DeletedLinger the paperspace-v1 list shows it a while longer,
// dtDeleted set. It answers the deleted machine.
func (s *Server) adminDeleteMachine(w http.ResponseWriter, r *http.Request, t *team) *reply {
	id := r.PathValue("id")
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	l := t.machineList()
	i := slices.IndexFunc(l.Machines, func(m *machineRec) bool { return m.ID == id && m.DtDeleted == nil })
	if i < 0 {
		return notFound("machine", id)
	}
	gone := *l.Machines[i]
	deleted := now()
	gone.DtDeleted = &deleted
	for _, sid := range t.scriptOrder {
		sc := t.scripts[sid]
		j, has := slices.BinarySearch(sc.Machines, id)
		if !has {
			continue
		}
		rec := *sc
		rec.Machines = slices.Delete(slices.Clone(sc.Machines), j, j+1)
		if err := s.st.putScript(t, &rec); err != nil {
			return storeError(err)
		}
	}
	// Deleted machines that no longer linger are dropped for good; this
	// one lingers in lists as the live API's deleted objects may.
	at := time.Now()
	l.Machines = slices.DeleteFunc(l.Machines, func(m *machineRec) bool { return m.ID == id || !m.visible(at, s.lingerFor) })
	if s.lingerFor > 0 {
		l.Machines = append(l.Machines, &gone)
	}
	if err := s.st.putMachines(t, l); err != nil {
		return storeError(err)
	}
	return ok(http.StatusOK, gone.api())
}

// machineList is a copy of the team's machines, to change and put.
func (t *team) machineList() machineList {
	return machineList{Seq: t.machineSeq, Machines: slices.Clone(t.machines)}
}

func setMachine(m *machineRec, b api.MachineWrite) {
	for _, f := range []struct {
		from *string
		to   *string
	}{{b.Name, &m.Name}, {b.MachineType, &m.MachineType}, {b.Region, &m.Region}, {b.State, &m.State}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
}

// machineIDs lists the ids of the team's machines (not deleted), in
// creation order.
func (t *team) machineIDs() []string {
	out := make([]string, 0, len(t.machines))
	for _, m := range t.machines {
		if m.DtDeleted == nil {
			out = append(out, m.ID)
		}
	}
	return out
}
