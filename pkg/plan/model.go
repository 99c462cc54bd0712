package plan

import (
	"encoding/json"
	"fmt"
)

// FormatVersion is the version of the saved-plan and JSON plan format.
const FormatVersion = 1

// Action is what a change does to one object.
type Action int

// The actions, in the order a reader meets them in a rendered plan.
const (
	Create Action = iota + 1
	Adopt
	Update
	Replace
	Delete
	Assign
	Unassign
	// Forget drops an owned object that is gone from the remote (deleted
	// outside psync) from the state. It makes no API call.
	Forget
)

var actionNames = map[Action]string{
	Create: "create", Adopt: "adopt", Update: "update", Replace: "replace",
	Delete: "delete", Assign: "assign", Unassign: "unassign", Forget: "forget",
}

func (a Action) String() string {
	if s, ok := actionNames[a]; ok {
		return s
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// MarshalText writes the action's name, so JSON plans read "create".
func (a Action) MarshalText() ([]byte, error) {
	if _, ok := actionNames[a]; !ok {
		return nil, fmt.Errorf("unknown action %d", int(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText reads an action's name.
func (a *Action) UnmarshalText(b []byte) error {
	for k, v := range actionNames {
		if v == string(b) {
			*a = k
			return nil
		}
	}
	return fmt.Errorf("unknown action %q", b)
}

// Kind is the kind of object a change is about.
type Kind string

// The kinds of object psync manages.
const (
	KindScript     Kind = "script"
	KindTemplate   Kind = "template"
	KindAssignment Kind = "assignment"
)

// Change is one planned change to one object. It is plain data: it can be
// compared, printed as JSON, saved and checked again at apply time.
type Change struct {
	// Key is stable and unique within a plan: "script/NAME",
	// "template/NAME" or "assignment/SCRIPT/MACHINE".
	Key    string `json:"key"`
	Kind   Kind   `json:"kind"`
	Action Action `json:"action"`
	// Name is the object's name after the change (its current name for a
	// delete). For assignments it is the script's name.
	Name string `json:"name"`
	// ID is the remote id of the object the change acts on; empty for a
	// create, and for an assign or unassign whose script is created in
	// the same plan (the applier takes the id from that dependency).
	ID string `json:"id,omitempty"`
	// Machine is the machine of an assign or unassign.
	Machine string `json:"machine,omitempty"`
	// Reasons say why, for a person: "body changed",
	// "isEnabled true → false", "renamed from old-name", ...
	Reasons []string `json:"reasons,omitempty"`
	// Before is the object as it is (nil for a create); After as it will
	// be (nil for a delete). Nil for assignments.
	Before *Attributes `json:"before,omitempty"`
	After  *Attributes `json:"after,omitempty"`
	// Protected is true when the object has preventDestroy (in the manifest
	// or remembered in the state).
	//
	// For a delete or replace it says whether the destroy is protected
	// (manifest or state). For a create, adopt or update it is the
	// protection the object has after the change (the manifest's). The
	// applier records After.PreventDestroy, never this.
	Protected bool `json:"protected,omitempty"`
	// AffectedMachines are the machines a delete or replace touches, where
	// known: a script's assignments, a template's source machine.
	AffectedMachines []string `json:"affectedMachines,omitempty"`
	// Precondition is what the remote looked like when this was planned.
	Precondition Precondition `json:"precondition"`
	// DependsOn lists the Keys of changes that must be done first.
	DependsOn []string `json:"dependsOn,omitempty"`
}

// Attributes are one side of a script or template change.
type Attributes struct {
	Name string `json:"name"`
	// Script attributes.
	RunOnce   *bool `json:"runOnce,omitempty"`
	IsEnabled *bool `json:"isEnabled,omitempty"`
	Sensitive bool  `json:"sensitive,omitempty"`
	// Body is the script body when known. It is kept in memory for
	// sensitive scripts too (the applier needs it) but never marshalled
	// for them: see MarshalJSON. Renderers must not print it when
	// Sensitive is set.
	//
	// For a script with fromEnv variables, Body is the body reviewers see,
	// with "<secret from $VAR>" in place of each secret (it is safe to
	// print, save and store), and Push the body psync pushes, which is
	// never marshalled, printed or stored.
	Body *string `json:"body,omitempty"`
	Push *string `json:"-"`
	// BodySHA256 is the SHA-256 of a plain body. A body that holds a
	// secret (sensitive, or with fromEnv variables) has BodyHMAC instead,
	// its keyed fingerprint (state.FingerprintKey.Body of the pushed body),
	// made with the key FingerprintKey identifies; Secrets are the keyed
	// fingerprints of its fromEnv values, by variable name.
	BodySHA256     string            `json:"bodySha256,omitempty"`
	BodyHMAC       string            `json:"bodyHmac,omitempty"`
	FingerprintKey string            `json:"fingerprintKey,omitempty"`
	Secrets        map[string]string `json:"secrets,omitempty"`
	// Template attributes.
	MachineID string `json:"machineId,omitempty"`
	Note      string `json:"note,omitempty"`
	// PreventDestroy is the object's protection on this side: on After,
	// the manifest's, which the applier records in the state. (For a
	// replace, Change.Protected says whether destroying the old object is
	// protected, which is not the new object's protection.)
	PreventDestroy bool `json:"preventDestroy,omitempty"`
}

// MarshalJSON drops the body of a sensitive script, so that neither a JSON
// plan nor a saved plan ever contains it.
func (a Attributes) MarshalJSON() ([]byte, error) {
	type plain Attributes
	p := plain(a)
	if p.Sensitive {
		p.Body = nil
	}
	p.Push = nil
	return json.Marshal(p)
}

// Precondition is the remote state a change was planned against.
type Precondition struct {
	// Exists is whether the object existed. For a create, the name must
	// still be free at apply time.
	Exists bool `json:"exists"`
	// Fingerprint is remote.Script.Fingerprint or
	// remote.Template.Fingerprint of the object at plan time.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Refresh is what the API says of one owned object, where the state
// records something else. Only what the API returns is refreshed: never a
// body, and assignments only where the API exposes them.
type Refresh struct {
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
	// Script attributes.
	RunOnce   bool `json:"runOnce,omitempty"`
	IsEnabled bool `json:"isEnabled,omitempty"`
	// Assignments is set when the API exposes them (AssignmentsKnown).
	Assignments []string `json:"assignments,omitempty"`
	// AssignmentsKnown says whether Assignments is authoritative.
	AssignmentsKnown bool `json:"assignmentsKnown,omitempty"`
	// Template attributes.
	MachineID string `json:"machineId,omitempty"`
	Note      string `json:"note,omitempty"`
	// NoteKnown is false where the API has no notes (the live API).
	NoteKnown bool `json:"noteKnown,omitempty"`
}

// Unmanaged is a remote object psync does not own and the manifest does not
// name. It is deleted only with prune, and never when ignored.
type Unmanaged struct {
	Kind    Kind   `json:"kind"`
	Name    string `json:"name"`
	ID      string `json:"id"`
	Ignored bool   `json:"ignored,omitempty"`
}

// Rule names a safety rule.
type Rule string

// The safety rules.
const (
	RulePreventDestroy   Rule = "prevent-destroy"
	RuleMaxDeletePercent Rule = "max-delete-percent"
	RuleAllOwnedGone     Rule = "all-owned-gone"
	// RuleSelectorMatchesNone: a selector that matched machines at the
	// last apply matches none now (a typo in a glob, a renamed fleet).
	RuleSelectorMatchesNone Rule = "selector-matches-none"
)

// Finding is a safety rule a plan breaks. A plan with a finding that is not
// overridden is refused.
type Finding struct {
	Rule Rule `json:"rule"`
	// Keys are the changes that break the rule.
	Keys    []string `json:"keys"`
	Message string   `json:"message"`
	// Override is the flag that allows it: "--allow-destroy" or
	// "--allow-mass-delete".
	Override string `json:"override"`
	// Overridden is true when that flag was given.
	Overridden bool `json:"overridden,omitempty"`
}

// Plan is an ordered set of changes. Changes are in dependency order: a
// change comes after everything in its DependsOn.
type Plan struct {
	FormatVersion int `json:"formatVersion"`
	// APIURL and Team are the target the plan was computed for.
	APIURL string `json:"apiUrl"`
	Team   string `json:"team,omitempty"`
	// StateLineage and StateSerial pin the state the plan was computed
	// against; applying it to any other state is refused as stale.
	StateLineage string   `json:"stateLineage,omitempty"`
	StateSerial  int64    `json:"stateSerial"`
	Changes      []Change `json:"changes"`
	// Refresh corrects the state's record of owned objects that the API
	// shows differently (a change made outside psync, or one whose answer
	// was lost): the applier records it before any change. It is not a
	// change: a plan with only a refresh is empty.
	Refresh []Refresh `json:"refresh,omitempty"`
	// Settled are recent deletes the API no longer shows: the applier
	// drops their records from the state with the refresh. Not a change
	// either.
	Settled []Settled `json:"settled,omitempty"`
	// Drift is every attribute of an owned object that was changed
	// outside psync since the last apply, whether or not the plan changes
	// it back. It is for the reader: the changes already do what it says.
	Drift     []Drift     `json:"drift,omitempty"`
	Unmanaged []Unmanaged `json:"unmanaged,omitempty"`
	Findings  []Finding   `json:"findings,omitempty"`
	// LeftOut is how many changes Options.Targets left out of the plan
	// (what "run without --target" would add).
	LeftOut int `json:"leftOut,omitempty"`
	// Selections are what the assignments' selectors matched, by script;
	// the applier records them in the state.
	Selections []ScriptSelection `json:"selections,omitempty"`
	// Warnings are about the manifest against the team (a machine in a
	// state where an assignment makes no sense); Notes say what the plan
	// could not check. Neither changes anything.
	Warnings []string `json:"warnings,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	// BodiesUnreadable is true when the API returns no script bodies and
	// psync owns scripts: a body edited outside psync cannot be detected,
	// only pushed again (apply --replace script/NAME).
	BodiesUnreadable bool `json:"bodiesUnreadable,omitempty"`
}

// Summary counts a plan's changes by action.
type Summary struct {
	Create   int `json:"create"`
	Adopt    int `json:"adopt"`
	Update   int `json:"update"`
	Replace  int `json:"replace"`
	Delete   int `json:"delete"`
	Assign   int `json:"assign"`
	Unassign int `json:"unassign"`
	Forget   int `json:"forget,omitempty"`
}

// Total is the number of changes.
func (s Summary) Total() int {
	return s.Create + s.Adopt + s.Update + s.Replace + s.Delete + s.Assign + s.Unassign + s.Forget
}

// Summary counts the plan's changes by action.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Create++
		case Adopt:
			s.Adopt++
		case Update:
			s.Update++
		case Replace:
			s.Replace++
		case Delete:
			s.Delete++
		case Assign:
			s.Assign++
		case Unassign:
			s.Unassign++
		case Forget:
			s.Forget++
		}
	}
	return s
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Refused reports whether a safety finding that was not overridden makes
// the plan unsafe to apply.
func (p *Plan) Refused() bool {
	for _, f := range p.Findings {
		if !f.Overridden {
			return true
		}
	}
	return false
}

// Override marks the findings the given flags allow as overridden, and
// the others as not: a saved plan is judged by the flags of the apply
// that runs it, not of the plan that made it.
func (p *Plan) Override(allowDestroy, allowMassDelete bool) {
	for i := range p.Findings {
		f := &p.Findings[i]
		switch f.Rule {
		case RulePreventDestroy:
			f.Overridden = allowDestroy
		case RuleMaxDeletePercent, RuleAllOwnedGone, RuleSelectorMatchesNone:
			f.Overridden = allowMassDelete
		}
	}
}
