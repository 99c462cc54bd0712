package manifest

import (
	"github.com/invopop/jsonschema"
)

// The types below are one manifest file as written in YAML. They are the
// single source of the manifest's shape: the loader decodes into them (and
// refuses keys they do not declare) and Schema reflects them into the JSON
// Schema. Optional settings with a non-zero default are pointers, so
// "absent" and "false/0" stay distinguishable until defaults are applied.
// They also marshal back to YAML, for tools that write manifests.

// Document is one psync manifest file (or one YAML document in it).
// Top-level keys starting with "x-" are ignored, as in Docker Compose, to
// give YAML anchors a home.
type Document struct {
	located `yaml:"-"`

	Version     *int            `yaml:"version" jsonschema:"required,enum=1" jsonschema_description:"Manifest format version. Only 1 exists."`
	Settings    *DocSettings    `yaml:"settings,omitempty" jsonschema_description:"Settings for the whole team. May be set in one file only when a directory is loaded."`
	Ignore      *DocIgnore      `yaml:"ignore,omitempty" jsonschema_description:"Glob patterns of remote names psync never touches (not even with prune)."`
	Scripts     []DocScript     `yaml:"scripts,omitempty" jsonschema_description:"Startup scripts psync manages."`
	Templates   []DocTemplate   `yaml:"templates,omitempty" jsonschema_description:"Custom templates psync manages."`
	Assignments []DocAssignment `yaml:"assignments,omitempty" jsonschema_description:"Which machines each script is assigned to. Entries naming the same script are merged."`
}

// DocSettings is the settings block.
type DocSettings struct {
	located `yaml:"-"`

	Prune            bool   `yaml:"prune,omitempty" jsonschema:"default=false" jsonschema_description:"Also delete remote objects psync does not own (never ignored ones)."`
	MaxDeletePercent *int   `yaml:"maxDeletePercent,omitempty" jsonschema:"minimum=0,maximum=100,default=25" jsonschema_description:"Refuse plans that delete more than this percentage of a kind (for kinds with at least 10 objects)."`
	State            string `yaml:"state,omitempty" jsonschema:"minLength=1" jsonschema_description:"Where the state lives: s3://BUCKET/KEY, or a file path relative to the manifest's directory, inside it (default psync.state.json). --state and PSYNC_STATE take precedence."`
}

// DocIgnore is the ignore block: path.Match glob patterns.
type DocIgnore struct {
	located `yaml:"-"`

	Scripts   []string `yaml:"scripts,omitempty" jsonschema:"minLength=1" jsonschema_description:"Glob patterns (path.Match syntax) of script names psync never touches."`
	Templates []string `yaml:"templates,omitempty" jsonschema:"minLength=1" jsonschema_description:"Glob patterns (path.Match syntax) of template names psync never touches."`
}

// DocScript is one startup script.
type DocScript struct {
	located `yaml:"-"`

	Name           string   `yaml:"name" jsonschema:"required,minLength=1,maxLength=255" jsonschema_description:"The script's name, unique among scripts."`
	File           string   `yaml:"file,omitempty" jsonschema:"minLength=1" jsonschema_description:"Path of the body, relative to the manifest's directory; it must stay inside that directory tree. Exactly one of file and script."`
	Script         string   `yaml:"script,omitempty" jsonschema_description:"The body, inline. Exactly one of file and script."`
	RunOnce        bool     `yaml:"runOnce,omitempty" jsonschema:"default=false" jsonschema_description:"Run only on the machine's first boot."`
	IsEnabled      *bool    `yaml:"isEnabled,omitempty" jsonschema:"default=true" jsonschema_description:"Whether the script runs at all."`
	Sensitive      bool     `yaml:"sensitive,omitempty" jsonschema:"default=false" jsonschema_description:"Never print, diff or store the body; only its hash."`
	PreventDestroy bool     `yaml:"preventDestroy,omitempty" jsonschema:"default=false" jsonschema_description:"Refuse plans that delete this script unless --allow-destroy is given."`
	PreviousNames  []string `yaml:"previousNames,omitempty" jsonschema:"minLength=1" jsonschema_description:"Former names: a remote script with one of them is renamed in place instead of deleted and recreated."`
	Env            DocEnv   `yaml:"env,omitempty"`
}

// DocTemplate is one custom template.
type DocTemplate struct {
	located `yaml:"-"`

	Name           string   `yaml:"name" jsonschema:"required,minLength=1,maxLength=255" jsonschema_description:"The template's name, unique among templates."`
	MachineID      string   `yaml:"machineId" jsonschema:"required" jsonschema_description:"The machine the template is made from. Changing it replaces the template."`
	Note           string   `yaml:"note,omitempty" jsonschema_description:"A free-form note."`
	PreventDestroy bool     `yaml:"preventDestroy,omitempty" jsonschema:"default=false" jsonschema_description:"Refuse plans that delete or replace this template unless --allow-destroy is given."`
	PreviousNames  []string `yaml:"previousNames,omitempty" jsonschema:"minLength=1" jsonschema_description:"Former names: a remote template with one of them is renamed in place."`
}

// DocAssignment assigns one script to machines.
type DocAssignment struct {
	located `yaml:"-"`

	Script   string        `yaml:"script" jsonschema:"required,minLength=1" jsonschema_description:"Name of a script declared under scripts."`
	Machines []string      `yaml:"machines,omitempty" jsonschema:"uniqueItems=true" jsonschema_description:"Machine ids, e.g. psbox001. At least one of machines and select."`
	Select   []DocSelector `yaml:"select,omitempty" jsonschema_description:"Machines by selector, resolved against the team's machines at plan time (where the API lists machines): a machine matching any entry is assigned. At least one of machines and select."`
}

// DocSelector selects machines by their attributes. Its fields are ANDed;
// the entries of a select list are ORed.
type DocSelector struct {
	located `yaml:"-"`

	Name        string `yaml:"name,omitempty" jsonschema:"minLength=1" jsonschema_description:"Glob pattern (path.Match syntax) on the machine's name, e.g. train-*."`
	MachineType string `yaml:"machineType,omitempty" jsonschema:"minLength=1" jsonschema_description:"The machine type, exactly, e.g. A100."`
	Region      string `yaml:"region,omitempty" jsonschema:"minLength=1" jsonschema_description:"The region, exactly, e.g. ny2."`
}

// JSONSchemaExtend allows the "x-" extension keys the loader ignores.
func (Document) JSONSchemaExtend(s *jsonschema.Schema) {
	s.PatternProperties = map[string]*jsonschema.Schema{"^x-": {}}
}

// JSONSchemaExtend says "exactly one of file and script", which struct
// tags cannot express cleanly.
func (DocScript) JSONSchemaExtend(s *jsonschema.Schema) {
	s.OneOf = []*jsonschema.Schema{
		{Required: []string{"file"}, Not: &jsonschema.Schema{Required: []string{"script"}}},
		{Required: []string{"script"}, Not: &jsonschema.Schema{Required: []string{"file"}}},
	}
}

// JSONSchemaExtend uses the loader's own machine-id pattern.
func (DocTemplate) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("machineId"); ok {
		p.Pattern = machineIDPattern
	}
}

// JSONSchemaExtend uses the loader's own machine-id pattern, and says "at
// least one of machines and select".
func (DocAssignment) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("machines"); ok && p.Items != nil {
		p.Items.Pattern = machineIDPattern
	}
	s.AnyOf = []*jsonschema.Schema{{Required: []string{"machines"}}, {Required: []string{"select"}}}
}

// JSONSchemaExtend says that a selector needs at least one field.
func (DocSelector) JSONSchemaExtend(s *jsonschema.Schema) {
	s.MinProperties = ptrUint64(1)
}

func ptrUint64(v uint64) *uint64 { return &v }
