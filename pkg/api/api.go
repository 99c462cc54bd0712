// Package api holds the wire types of the Paperspace Templates & Startup
// Scripts API: the JSON shapes of api/openapi.yaml (the "spec" dialect) and
// of the live Paperspace v1 API (the "paperspace-v1" dialect, see
// LiveStartupScript and friends).
//
// It is the only code shared by the client (pkg/remote) and the emulator
// (pkg/sandbox): both speak these shapes, neither shares the other's logic.
package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// MaxScriptBytes is the largest startup-script body the spec accepts, as
// Paperspace's legacy API documented; no source gives the live API's.
const MaxScriptBytes = 16 * 1024

// MaxLimit is the largest page size of a paginated list.
const MaxLimit = 120

// StartupScript is a startup script as the spec returns it. The body is
// never returned.
type StartupScript struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	RunOnce   bool      `json:"runOnce"`
	IsEnabled bool      `json:"isEnabled"`
	TeamID    string    `json:"teamId,omitempty"`
	DtCreated time.Time `json:"dtCreated"`
}

// StartupScriptCreate is the body of POST /startup-scripts and
// PUT /startup-scripts/{id} in the spec dialect. Pointers distinguish an
// omitted flag (which takes the API's default) from false.
type StartupScriptCreate struct {
	Name      string `json:"name"`
	Script    string `json:"script"`
	RunOnce   *bool  `json:"runOnce,omitempty"`
	IsEnabled *bool  `json:"isEnabled,omitempty"`
}

// MachineRef is the body of the assign and unassign operations.
type MachineRef struct {
	MachineID string `json:"machineId"`
}

// CustomTemplate is a custom template as the spec returns it.
type CustomTemplate struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Note      string    `json:"note,omitempty"`
	MachineID string    `json:"machineId"`
	TeamID    string    `json:"teamId,omitempty"`
	DtCreated time.Time `json:"dtCreated"`
}

// CustomTemplateCreate is the body of POST /custom-templates.
type CustomTemplateCreate struct {
	MachineID string `json:"machineId"`
	Name      string `json:"name"`
	Note      string `json:"note,omitempty"`
}

// CustomTemplateUpdate is the body of PUT /custom-templates/{id}.
type CustomTemplateUpdate struct {
	Name *string `json:"name,omitempty"`
	Note *string `json:"note,omitempty"`
}

// OsTemplate is an operating-system template from the provider's catalogue.
type OsTemplate struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	OS          string    `json:"os,omitempty"`
	DefaultUser string    `json:"defaultUser,omitempty"`
	DtCreated   time.Time `json:"dtCreated"`
}

// Error is the error body of both dialects:
// {"code": "NOT_FOUND", "message": "...", "details": {...}, "issues": [...]}.
type Error struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
	Issues  []Issue        `json:"issues,omitempty"`
}

// Issue is one validation failure inside an Error.
type Issue struct {
	Message string    `json:"message"`
	Path    IssuePath `json:"path,omitempty"`
}

// IssuePath is where in the request an Issue is: property names and, the
// live API's validator being zod, array indexes as numbers
// (["items", 0, "name"]). Numbers are kept as their decimal text.
type IssuePath []string

func (p *IssuePath) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*p = nil
		return nil
	}
	out := make(IssuePath, len(raw))
	for i, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			out[i] = s
			continue
		}
		var n json.Number
		if err := json.Unmarshal(r, &n); err != nil {
			return fmt.Errorf("issue path element %s is neither a string nor a number", r)
		}
		if f, err := strconv.ParseFloat(string(n), 64); err == nil && f == float64(int64(f)) {
			out[i] = strconv.FormatInt(int64(f), 10)
		} else {
			out[i] = string(n)
		}
	}
	*p = out
	return nil
}

// Error codes, named as the live API names them (tRPC names). The set is
// open: a client must read any other string too.
const (
	CodeBadRequest      = "BAD_REQUEST"
	CodeUnauthorized    = "UNAUTHORIZED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeConflict        = "CONFLICT"
	CodePayloadTooLarge = "PAYLOAD_TOO_LARGE"
	CodeTooManyRequests = "TOO_MANY_REQUESTS"
	CodeInternalServer  = "INTERNAL_SERVER_ERROR"
	CodeTimeout         = "TIMEOUT"               // 408
	CodeClientClosed    = "CLIENT_CLOSED_REQUEST" // 499
	// CodeServiceUnavailable is no live code (the live API's code map has
	// none for 503); the sandbox's spec dialect answers it.
	CodeServiceUnavailable = "SERVICE_UNAVAILABLE"
)

// --- The live Paperspace v1 dialect (../shared/paperspace-v1-notes.md) ---

// Page is the live dialect's list envelope. The next page is requested with
// ?after=NextPage.
type Page[T any] struct {
	Items    []T     `json:"items"`
	HasMore  bool    `json:"hasMore"`
	NextPage *string `json:"nextPage"`
}

// LiveStartupScript is a startup script as the live API returns it.
type LiveStartupScript struct {
	ID                 string     `json:"id"`
	Name               string     `json:"name"`
	Description        *string    `json:"description"`
	IsEnabled          bool       `json:"isEnabled"`
	IsRunOnce          bool       `json:"isRunOnce"`
	AssignedMachineIDs []string   `json:"assignedMachineIds"`
	DtCreated          time.Time  `json:"dtCreated"`
	DtDeleted          *time.Time `json:"dtDeleted"`
}

// LiveStartupScriptWrite is the live create (name and script required) and
// update (all optional) body.
type LiveStartupScriptWrite struct {
	Name      *string `json:"name,omitempty"`
	Script    *string `json:"script,omitempty"`
	IsEnabled *bool   `json:"isEnabled,omitempty"`
	IsRunOnce *bool   `json:"isRunOnce,omitempty"`
}

// MachineTypeAvailability is one entry of availableMachineTypes.
type MachineTypeAvailability struct {
	MachineTypeLabel string `json:"machineTypeLabel"`
	IsAvailable      bool   `json:"isAvailable"`
}

// LiveCustomTemplate is a custom template as the live API returns it.
type LiveCustomTemplate struct {
	ID                    string                    `json:"id"`
	Name                  string                    `json:"name"`
	AgentType             string                    `json:"agentType,omitempty"`
	OperatingSystemLabel  string                    `json:"operatingSystemLabel,omitempty"`
	Region                string                    `json:"region,omitempty"`
	DefaultSizeGb         *int                      `json:"defaultSizeGb"`
	AvailableMachineTypes []MachineTypeAvailability `json:"availableMachineTypes"`
	ParentMachineID       string                    `json:"parentMachineId"`
	DtCreated             time.Time                 `json:"dtCreated"`
	DtDeleted             *time.Time                `json:"dtDeleted"`
}

// LiveOsTemplate is an OS template as the live API returns it.
type LiveOsTemplate struct {
	ID                    string                    `json:"id"`
	Name                  string                    `json:"name"`
	AgentType             string                    `json:"agentType,omitempty"`
	OperatingSystemLabel  string                    `json:"operatingSystemLabel,omitempty"`
	DefaultSizeGb         *int                      `json:"defaultSizeGb"` // nullable
	AvailableMachineTypes []MachineTypeAvailability `json:"availableMachineTypes"`
	DtCreated             time.Time                 `json:"dtCreated"`
}

// MachineEvent is an asynchronous operation of the live API, polled at
// GET /machine-events/{id} until State is final. Name is one of several
// ("template-create" for a custom template; the set is open).
type MachineEvent struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	State     string  `json:"state"`
	Error     *string `json:"error"`
	MachineID *string `json:"machineId"`
	// The times are informational; DtFinished is set once State is final.
	DtCreated  time.Time  `json:"dtCreated"`
	DtStarted  *time.Time `json:"dtStarted"`
	DtFinished *time.Time `json:"dtFinished"`
}

// Machine-event states.
const (
	EventNew        = "new"
	EventInProgress = "in progress"
	EventDone       = "done"
	EventError      = "error"
	EventCancelled  = "cancelled"
)

// LiveTemplateCreated is the live answer to POST /custom-templates.
type LiveTemplateCreated struct {
	Data  LiveCustomTemplate `json:"data"`
	Event MachineEvent       `json:"event"`
}

// Session is the live answer to GET /auth/session (only what psync reads).
type Session struct {
	Team SessionTeam `json:"team"`
}

// SessionTeam identifies the team an API key belongs to.
type SessionTeam struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace,omitempty"`
}

// Machine is a machine as the live API lists it at GET /machines (only the
// fields psync reads or the sandbox serves; the API sends more).
type Machine struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	MachineType string `json:"machineType"`
	Region      string `json:"region"`
	// State is off, starting, stopping, restarting, serviceready, ready,
	// upgrading or provisioning.
	State     string    `json:"state"`
	OS        string    `json:"os,omitempty"`
	AgentType string    `json:"agentType,omitempty"`
	DtCreated time.Time `json:"dtCreated"`
	// DtDeleted is set on a machine being deleted.
	DtDeleted *time.Time `json:"dtDeleted"`
}

// MachineWrite is the body of the sandbox's admin routes POST
// /_sandbox/machines (name, machineType and region required) and PUT
// /_sandbox/machines/{id} (any of them).
type MachineWrite struct {
	Name        *string `json:"name,omitempty"`
	MachineType *string `json:"machineType,omitempty"`
	Region      *string `json:"region,omitempty"`
	State       *string `json:"state,omitempty"`
}
