package manifest

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// DefaultMaxDeletePercent is settings.maxDeletePercent when the manifest
// does not set it.
const DefaultMaxDeletePercent = 25

// Manifest is a loaded, validated and defaulted psync manifest: the desired
// state of one team. Every body is resolved (files read), every default
// applied.
type Manifest struct {
	Version     int
	Settings    Settings
	Ignore      Ignore
	Scripts     []Script
	Templates   []Template
	Assignments []Assignment
	// Dir is the directory the manifest was loaded from: the default home
	// of the state file, and the root that script files must stay inside.
	Dir string
	// Files lists the manifest files that were merged, in load order.
	Files []string
}

// Settings are the manifest's global settings.
type Settings struct {
	Prune            bool
	MaxDeletePercent int
	// State is settings.state: an s3:// URL, or a clean relative path
	// inside the manifest's directory; "" for the default.
	State string `json:",omitempty"`
}

// Ignore holds glob patterns (path.Match syntax) of remote names psync
// never touches.
type Ignore struct {
	Scripts   []string
	Templates []string
}

// Position is where something was written: file:line:column.
type Position struct {
	File   string
	Line   int
	Column int
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Script is a desired startup script.
type Script struct {
	Name string
	// File is the body's file as written in the manifest (relative to
	// Manifest.Dir); empty for an inline script.
	File string
	// Body is the resolved body, from File or inline.
	Body           string
	RunOnce        bool
	IsEnabled      bool
	Sensitive      bool
	PreventDestroy bool
	PreviousNames  []string
	// Env are the variables written as export lines at the top of the
	// body psync pushes (see DisplayBody and PushBody), in the order
	// declared. Body is the body without them.
	Env []EnvVar
	Pos Position
	// BodyPos is where line 1 of Body was written: line 1 of File (joined
	// with Manifest.Dir), or, for an inline script, its value in the
	// manifest. Column 0 means Body's lines map one to one onto source
	// lines from BodyPos (a file, or a literal "|" block); otherwise the
	// inline style (plain, quoted, folded) does not keep line numbers.
	BodyPos Position
}

// Template is a desired custom template.
type Template struct {
	Name      string
	MachineID string
	// MachinePos is where MachineID was written.
	MachinePos     Position
	Note           string
	PreventDestroy bool
	PreviousNames  []string
	Pos            Position
}

// Assignment assigns one script to machines, by id and by selector.
// Entries naming the same script are merged into one Assignment.
type Assignment struct {
	Script   string
	Machines []string
	// MachinePos[i] is where Machines[i] was written.
	MachinePos []Position
	// Select lists the selectors, resolved against the team's machines at
	// plan time: a machine matching any of them is assigned.
	Select []Selector
	Pos    Position
}

// Selector selects machines by their attributes: every field set must
// match (Name as a path.Match glob, the others exactly).
type Selector struct {
	Name        string
	MachineType string
	Region      string
	Pos         Position
}

// String is the selector's canonical text, e.g. "machineType=A100,region=ny2":
// how plans name it and how the state file records what it matched. A
// value holding a comma, an equals sign or a double quote is quoted, so
// that no two selectors share a text ({name: "a,region=ny2"} is not
// {name: a, region: ny2}).
func (s Selector) String() string {
	var parts []string
	for _, f := range []struct{ key, v string }{{"name", s.Name}, {"machineType", s.MachineType}, {"region", s.Region}} {
		if f.v == "" {
			continue
		}
		v := f.v
		if strings.ContainsAny(v, `,="`) {
			v = strconv.Quote(v)
		}
		parts = append(parts, f.key+"="+v)
	}
	return strings.Join(parts, ",")
}

// Matches reports whether a machine with these attributes is selected.
func (s Selector) Matches(name, machineType, region string) bool {
	if s.Name != "" {
		// The glob is validated at load time, so an error cannot occur here.
		if ok, _ := path.Match(s.Name, name); !ok {
			return false
		}
	}
	return (s.MachineType == "" || s.MachineType == machineType) && (s.Region == "" || s.Region == region)
}

// IgnoresScript reports whether a remote script of this name is ignored.
func (m *Manifest) IgnoresScript(name string) bool { return matchAny(m.Ignore.Scripts, name) }

// IgnoresTemplate reports whether a remote template of this name is ignored.
func (m *Manifest) IgnoresTemplate(name string) bool { return matchAny(m.Ignore.Templates, name) }

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		// Patterns are validated at load time, so an error cannot occur here.
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
