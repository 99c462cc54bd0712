package sandbox

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/psync-dev/psync/pkg/api"
)

// MaxRequestLog is how many API requests the request log keeps (the last).
const MaxRequestLog = 200_000

// Stats counts the API requests the sandbox answered since it started or
// was last reset (GET /v1/_sandbox/stats). /_sandbox/ requests are not
// counted. Counts are global, across teams.
type Stats struct {
	// Total is the number of API requests answered.
	Total int `json:"total"`
	// Requests counts by "METHOD /route/{template}" (without /v1, e.g.
	// "POST /startup-scripts/{id}/assign"), then by status. A request that
	// matched no route has route "*"; a dropped connection has status 0.
	Requests map[string]map[int]int `json:"requests"`
	// ByMethod counts by HTTP method.
	ByMethod map[string]int `json:"byMethod"`
	// PeakInFlight is the most API requests being served at once
	// (including injected latency); InFlight is the number right now.
	PeakInFlight int `json:"peakInFlight"`
	InFlight     int `json:"inFlight"`
}

// Count returns how many requests "METHOD /route" answered, any status.
func (s Stats) Count(methodRoute string) int {
	n := 0
	for _, c := range s.Requests[methodRoute] {
		n += c
	}
	return n
}

// DuplicateNames lists the names held by more than one object of a kind,
// as "script/NAME x2", sorted: what psync must never make.
func (d Dump) DuplicateNames() []string {
	seen := map[string]int{}
	for _, s := range d.StartupScripts {
		seen["script/"+s.Name]++
	}
	for _, t := range d.CustomTemplates {
		seen["template/"+t.Name]++
	}
	var dup []string
	for k, n := range seen {
		if n > 1 {
			dup = append(dup, fmt.Sprintf("%s x%d", k, n))
		}
	}
	sort.Strings(dup)
	return dup
}

// Writes returns how many requests were not GET (or HEAD).
func (s Stats) Writes() int {
	n := 0
	for m, c := range s.ByMethod {
		if m != "GET" && m != "HEAD" {
			n += c
		}
	}
	return n
}

// RequestRecord is one API request in the log (GET /v1/_sandbox/requests).
type RequestRecord struct {
	// Seq numbers requests in the order they arrived, from 1.
	Seq    uint64 `json:"seq"`
	Method string `json:"method"`
	Route  string `json:"route"` // e.g. "/startup-scripts/{id}/assign"; "*" when none matched
	Path   string `json:"path"`  // e.g. "/startup-scripts/scr_x/assign"
	Query  string `json:"query,omitempty"`
	Team   string `json:"team,omitempty"` // empty when unauthenticated
	Status int    `json:"status"`         // 0: connection dropped
	// Fault names the injected fault that decided the answer, if any:
	// "rps", "throttle", "error", "ambiguous-500" or "ambiguous-drop".
	Fault string    `json:"fault,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// RequestLog is the answer of GET /v1/_sandbox/requests.
type RequestLog struct {
	// Requests in arrival order.
	Requests []RequestRecord `json:"requests"`
	// Dropped is how many older records were discarded to keep the log
	// bounded at MaxRequestLog.
	Dropped int `json:"dropped"`
}

// Dump is one team's whole state (GET /v1/_sandbox/dump), in a
// deterministic order: by name, then creation time, then id.
type Dump struct {
	TeamID          string               `json:"teamId"`
	Machines        []string             `json:"machines"`
	StartupScripts  []DumpScript         `json:"startupScripts"`
	CustomTemplates []api.CustomTemplate `json:"customTemplates"`
	// Assignments lists every script→machine link, by script name, script
	// id and machine.
	Assignments []Assignment `json:"assignments"`
}

// DumpScript is a startup script with what the API never returns: its body
// and the machines it is assigned to.
type DumpScript struct {
	api.StartupScript
	Script     string   `json:"script"`
	MachineIDs []string `json:"machineIds"`
}

// Assignment is one script→machine link.
type Assignment struct {
	ScriptID   string `json:"scriptId"`
	ScriptName string `json:"scriptName"`
	MachineID  string `json:"machineId"`
}

// observer keeps the stats and the request log.
type observer struct {
	mu       sync.Mutex
	seq      uint64
	inFlight int
	peak     int
	total    int
	counts   map[string]map[int]int
	byMethod map[string]int
	log      []RequestRecord // ring of MaxRequestLog
	next     int             // where the next record goes once log is full
	dropped  int
}

func newObserver() *observer {
	return &observer{counts: map[string]map[int]int{}, byMethod: map[string]int{}}
}

// begin notes a request's arrival and returns its sequence number.
func (o *observer) begin() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	o.inFlight++
	o.peak = max(o.peak, o.inFlight)
	return o.seq
}

// end records a finished request.
func (o *observer) end(rec RequestRecord) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inFlight--
	o.total++
	key := rec.Method + " " + rec.Route
	m := o.counts[key]
	if m == nil {
		m = map[int]int{}
		o.counts[key] = m
	}
	m[rec.Status]++
	o.byMethod[rec.Method]++
	if len(o.log) < MaxRequestLog {
		o.log = append(o.log, rec)
		return
	}
	o.log[o.next] = rec
	o.next = (o.next + 1) % MaxRequestLog
	o.dropped++
}

func (o *observer) stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := Stats{Total: o.total, Requests: map[string]map[int]int{}, ByMethod: map[string]int{}, PeakInFlight: o.peak, InFlight: o.inFlight}
	for k, m := range o.counts {
		c := make(map[int]int, len(m))
		for st, n := range m {
			c[st] = n
		}
		s.Requests[k] = c
	}
	for k, n := range o.byMethod {
		s.ByMethod[k] = n
	}
	return s
}

func (o *observer) requests() RequestLog {
	o.mu.Lock()
	out := make([]RequestRecord, 0, len(o.log))
	out = append(out, o.log[o.next:]...)
	out = append(out, o.log[:o.next]...)
	dropped := o.dropped
	o.mu.Unlock()
	// Records are appended as requests end; the log is in arrival order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return RequestLog{Requests: out, Dropped: dropped}
}

// reset clears the counts and the log; requests in flight stay counted.
func (o *observer) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.total, o.peak, o.next, o.dropped = 0, o.inFlight, 0, 0
	o.counts = map[string]map[int]int{}
	o.byMethod = map[string]int{}
	o.log = nil
}

// dump builds team t's Dump. Callers hold the store's lock.
func dumpTeam(t *team) Dump {
	d := Dump{TeamID: t.id, Machines: t.machineIDs(), StartupScripts: []DumpScript{}, CustomTemplates: []api.CustomTemplate{}, Assignments: []Assignment{}}
	for _, id := range t.scriptOrder {
		r := t.scripts[id]
		d.StartupScripts = append(d.StartupScripts, DumpScript{StartupScript: r.api(), Script: r.Script, MachineIDs: append([]string{}, r.Machines...)})
	}
	sort.SliceStable(d.StartupScripts, func(i, j int) bool {
		a, b := d.StartupScripts[i], d.StartupScripts[j]
		return byName(a.Name, a.DtCreated, a.ID, b.Name, b.DtCreated, b.ID)
	})
	at := time.Now()
	for _, id := range t.templateOrder {
		if r := t.templates[id]; !r.failed(at) {
			d.CustomTemplates = append(d.CustomTemplates, r.api())
		}
	}
	sort.SliceStable(d.CustomTemplates, func(i, j int) bool {
		a, b := d.CustomTemplates[i], d.CustomTemplates[j]
		return byName(a.Name, a.DtCreated, a.ID, b.Name, b.DtCreated, b.ID)
	})
	for _, s := range d.StartupScripts {
		for _, m := range s.MachineIDs {
			d.Assignments = append(d.Assignments, Assignment{ScriptID: s.ID, ScriptName: s.Name, MachineID: m})
		}
	}
	return d
}

func byName(an string, at time.Time, aid string, bn string, bt time.Time, bid string) bool {
	if c := strings.Compare(an, bn); c != 0 {
		return c < 0
	}
	return createdBefore(at, aid, bt, bid)
}
