package state

import "slices"

// FormatVersion is the version of the state file format this build writes.
// Version 2 added Deleted; a version 1 file is a valid version 2 file.
const FormatVersion = 2

// DefaultFileName is the state file's name next to the manifest.
const DefaultFileName = "psync.state.json"

// State is psync's record of what it owns and of what it cannot read back
// from the API. The remote is the source of truth for everything the API
// returns; the state only fills the gaps.
type State struct {
	FormatVersion int `json:"formatVersion"`
	// Lineage is a random id given when the state is first written; a
	// saved plan records it so that it is never applied to another state.
	Lineage string `json:"lineage"`
	// Serial increases on every write.
	Serial int64 `json:"serial"`
	// APIURL and Team are the target this state belongs to; a state is
	// never used against another.
	APIURL    string     `json:"apiUrl"`
	Team      string     `json:"team,omitempty"`
	Scripts   []Script   `json:"scripts"`
	Templates []Template `json:"templates"`
	// Deleted are the objects psync deleted that the API may still show,
	// sorted by kind and id (see Deleted).
	Deleted []Deleted `json:"deleted,omitempty"`

	// touched, while a Journal runs an update, collects the entries the
	// update may have changed, so that the journal records only those.
	touched *touchedSet
}

// Script is an owned startup script.
type Script struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// BodySHA256 is the hex SHA-256 of the body last pushed; empty when
	// psync does not know it (for example after an import).
	BodySHA256 string `json:"bodySha256,omitempty"`
	// BodyHMAC replaces BodySHA256 for a body that holds a secret (a
	// sensitive script, or one with fromEnv variables): its keyed
	// fingerprint (FingerprintKey.Body), from which the secret cannot be
	// computed without the key.
	BodyHMAC string `json:"bodyHmac,omitempty"`
	// FingerprintKey is the ID of the key BodyHMAC and Secrets were made
	// with: another key means "not verifiable", not "changed".
	FingerprintKey string `json:"fingerprintKey,omitempty"`
	// Secrets are the keyed fingerprints (FingerprintKey.Secret) of the
	// fromEnv variables' values last pushed, by variable name: they tell
	// which secret changed, never what it is.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Body is the body last pushed, kept so a plan can show a line diff;
	// for a script with fromEnv variables, with "<secret from $VAR>" in
	// place of each value (manifest.Script.DisplayBody). Always nil for
	// sensitive scripts.
	Body      *string `json:"body,omitempty"`
	Sensitive bool    `json:"sensitive,omitempty"`
	// RunOnce and IsEnabled are the attributes last pushed.
	RunOnce   bool `json:"runOnce"`
	IsEnabled bool `json:"isEnabled"`
	// Assignments are the machines psync assigned the script to, sorted.
	Assignments    []string `json:"assignments,omitempty"`
	PreventDestroy bool     `json:"preventDestroy,omitempty"`
	// Selectors are what the script's selectors (manifest select entries)
	// matched at the last apply, by selector: a selector that matched
	// machines then and matches none now is refused as unsafe.
	Selectors []Selector `json:"selectors,omitempty"`
}

// Selector records the machines one selector matched, sorted.
type Selector struct {
	// Selector is the selector's canonical text, e.g. "name=train-*".
	Selector string   `json:"selector"`
	Machines []string `json:"machines,omitempty"`
}

// Template is an owned custom template.
type Template struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	MachineID      string `json:"machineId"`
	Note           string `json:"note,omitempty"`
	PreventDestroy bool   `json:"preventDestroy,omitempty"`
	// Deposed marks a template replaced by a newer one of the same name
	// that is still waiting to be deleted (Terraform's word): the next
	// plan deletes it.
	Deposed bool `json:"deposed,omitempty"`
}

// ScriptByID returns the owned script with this id.
func (s *State) ScriptByID(id string) (*Script, bool) {
	sc, ok := s.scriptByID(id)
	if ok {
		// The caller may change the entry through the pointer.
		s.touched.script(id)
	}
	return sc, ok
}

// scriptByID is ScriptByID for the package's own methods, which tell the
// journal themselves what they change.
func (s *State) scriptByID(id string) (*Script, bool) {
	if s == nil {
		return nil, false
	}
	i := slices.IndexFunc(s.Scripts, func(x Script) bool { return x.ID == id })
	if i < 0 {
		return nil, false
	}
	return &s.Scripts[i], true
}

// TemplateByID returns the owned template with this id.
func (s *State) TemplateByID(id string) (*Template, bool) {
	if s == nil {
		return nil, false
	}
	i := slices.IndexFunc(s.Templates, func(x Template) bool { return x.ID == id })
	if i < 0 {
		return nil, false
	}
	s.touched.template(id)
	return &s.Templates[i], true
}
