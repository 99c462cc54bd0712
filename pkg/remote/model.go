package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Dialect names the flavour of the API a client is talking to. It is
// detected from responses, never guessed from the URL.
type Dialect string

const (
	// DialectSpec is the API of api/openapi.yaml: bare arrays, runOnce,
	// 201/204 statuses, no way to read assignments.
	DialectSpec Dialect = "spec"
	// DialectPaperspaceV1 is the live API: list envelopes, isRunOnce,
	// assignedMachineIds, asynchronous template creation.
	DialectPaperspaceV1 Dialect = "paperspace-v1"
)

// Script is a startup script as psync sees it, whatever the dialect.
type Script struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	RunOnce   bool   `json:"runOnce"`
	IsEnabled bool   `json:"isEnabled"`
	// AssignedMachines lists the machines the script is assigned to,
	// sorted, when the API exposes it (Snapshot.AssignmentsKnown); nil
	// otherwise.
	AssignedMachines []string `json:"assignedMachines,omitempty"`
	// Body is the script's body if an API ever returns it; nil otherwise
	// (no known dialect does).
	Body *string `json:"-"`
}

// Template is a custom template as psync sees it, whatever the dialect.
type Template struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Note is empty in the live dialect, which has none.
	Note string `json:"note,omitempty"`
	// MachineID is the machine the template was made from (parentMachineId
	// in the live dialect).
	MachineID string `json:"machineId"`
}

// OSTemplate is an entry of the provider's OS template catalogue.
type OSTemplate struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	OS   string `json:"os,omitempty"`
}

// Machine is a machine of the team, where the API lists them (the live
// API's GET /machines).
type Machine struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	MachineType string `json:"machineType,omitempty"`
	Region      string `json:"region,omitempty"`
	// State is the API's word (off, ready, provisioning, ...), empty when
	// it gave none.
	State string `json:"state,omitempty"`
}

// Snapshot is the whole remote picture of one team at one moment.
type Snapshot struct {
	Dialect Dialect `json:"dialect"`
	// Team is the team id when the API told it (GET /auth/session in the
	// live dialect, teamId fields in the spec dialect); empty otherwise.
	Team string `json:"team,omitempty"`
	// AssignmentsKnown is true when Script.AssignedMachines is
	// authoritative (live dialect). Otherwise the state file is the only
	// record of assignments.
	AssignmentsKnown bool         `json:"assignmentsKnown"`
	Scripts          []Script     `json:"scripts"`
	Templates        []Template   `json:"templates"`
	OSTemplates      []OSTemplate `json:"osTemplates,omitempty"`
	// MachinesKnown is true when the API lists machines (the live API):
	// Machines is then the team's every machine, sorted by id. The
	// spec's API has no machine list.
	MachinesKnown bool      `json:"machinesKnown,omitempty"`
	Machines      []Machine `json:"machines,omitempty"`
}

// ScriptInput is what psync writes for a script: the whole object, as PUT
// replaces it.
type ScriptInput struct {
	Name      string
	Body      string
	RunOnce   bool
	IsEnabled bool
}

// TemplateInput is what psync writes for a custom template. MachineID is
// used on create only; updates change Name and Note.
type TemplateInput struct {
	Name      string
	MachineID string
	Note      string
}

// ListOptions filters and pages the OS template catalogue.
type ListOptions struct {
	Name    string
	OrderBy string
	Order   string // "asc" or "desc"
	Limit   int    // page size, 0 for the client's default
}

// Reader is the read-only part of the API. The planner only ever gets a
// Reader, so planning cannot write.
type Reader interface {
	// Fetch returns the whole remote picture, fetching kinds concurrently
	// and following every page, de-duplicated by id and sorted by name, id.
	Fetch(ctx context.Context) (*Snapshot, error)
	ListScripts(ctx context.Context) ([]Script, error)
	GetScript(ctx context.Context, id string) (Script, error)
	ListTemplates(ctx context.Context) ([]Template, error)
	GetTemplate(ctx context.Context, id string) (Template, error)
	ListOSTemplates(ctx context.Context, opts ListOptions) ([]OSTemplate, error)
}

// Writer is the mutating part of the API, what the applier uses.
type Writer interface {
	// CreateScript never makes a duplicate: after an ambiguous failure it
	// looks the name up before trying again.
	CreateScript(ctx context.Context, in ScriptInput) (Script, error)
	UpdateScript(ctx context.Context, id string, in ScriptInput) (Script, error)
	DeleteScript(ctx context.Context, id string) error
	// AssignScript and UnassignScript are idempotent.
	AssignScript(ctx context.Context, id, machineID string) error
	UnassignScript(ctx context.Context, id, machineID string) error
	// CreateTemplate returns once the template exists and is ready (the
	// live dialect creates asynchronously), and never makes a duplicate.
	CreateTemplate(ctx context.Context, in TemplateInput) (Template, error)
	UpdateTemplate(ctx context.Context, id string, in TemplateInput) (Template, error)
	DeleteTemplate(ctx context.Context, id string) error
}

// Fingerprint identifies the readable content of a script: two reads with
// equal fingerprints saw the same object. A saved plan records it as the
// precondition of each change.
func (s Script) Fingerprint() string {
	// No machines is one state whether the list came back empty or absent.
	var machines []string
	if len(s.AssignedMachines) > 0 {
		machines = slices.Sorted(slices.Values(s.AssignedMachines))
	}
	return fingerprint(struct {
		ID, Name           string
		RunOnce, IsEnabled bool
		Machines           []string
	}{s.ID, s.Name, s.RunOnce, s.IsEnabled, machines})
}

// Fingerprint identifies the readable content of a template.
func (t Template) Fingerprint() string {
	return fingerprint(struct{ ID, Name, Note, MachineID string }{t.ID, t.Name, t.Note, t.MachineID})
}

func fingerprint(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and bools always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
