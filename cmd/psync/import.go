package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/google/renameio/v2"
	"gopkg.in/yaml.v3"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// ImportCmd writes a manifest describing the team as it is and records
// ownership of what it describes in the state file.
type ImportCmd struct {
	Out   string `name:"out" placeholder:"FILE" help:"Where to write the manifest (default: the -f file, or psync.yaml in the -f directory)."`
	Force bool   `name:"force" help:"Overwrite an existing manifest."`
}

// Run imports. Bodies cannot be read from the API, so import never
// invents them: it names the files the user must fill in.
func (c *ImportCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	out := c.Out
	if out == "" {
		out = g.File
		if fi, err := os.Stat(out); err == nil && fi.IsDir() {
			out = filepath.Join(out, "psync.yaml")
		}
	}
	if _, err := os.Stat(out); err == nil && !c.Force {
		return fmt.Errorf("%s already exists; pass --force to overwrite it, or --out to write elsewhere", out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	statePath := g.State
	if statePath == "" {
		statePath = filepath.Join(filepath.Dir(out), state.DefaultFileName)
	}
	lock, err := state.Lock(statePath)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	st, err := state.Load(statePath)
	if err != nil {
		return err
	}
	client, target, closeConn, err := g.connect(ctx, streams)
	if err != nil {
		return err
	}
	defer closeConn()
	if err := st.CheckTarget(target.APIURL, target.Team); err != nil {
		return withCode(ExitRefused, err)
	}
	snap, err := fetch(ctx, client)
	if err != nil {
		return err
	}

	doc, skipped := describe(snap)
	for _, s := range skipped {
		fmt.Fprintf(streams.Stderr, "psync: warning: %s\n", s)
	}
	for _, s := range doc.Scripts {
		id := doc.scriptIDs[s.Name]
		rs := findScript(snap, id)
		st.PutScript(state.Script{ID: id, Name: s.Name, RunOnce: rs.RunOnce, IsEnabled: rs.IsEnabled, Assignments: rs.AssignedMachines})
	}
	for _, t := range doc.Templates {
		st.PutTemplate(state.Template{ID: doc.templateIDs[t.Name], Name: t.Name, MachineID: t.MachineID, Note: t.Note})
	}

	body, err := doc.yaml()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := renameio.WriteFile(out, body, 0o644); err != nil {
		return err
	}
	if err := st.Save(statePath); err != nil {
		return err
	}
	fmt.Fprintf(streams.Stdout, "Imported %d scripts and %d templates into %s; ownership recorded in %s.\n",
		len(doc.Scripts), len(doc.Templates), out, statePath)
	if len(doc.Scripts) > 0 {
		fmt.Fprintf(streams.Stdout, "The API never returns script bodies, so none were written. Put each script's body in the file the manifest names\n"+
			"(for example %s), then run 'psync validate' and 'psync plan': the plan will push each body once.\n",
			filepath.Join(filepath.Dir(out), doc.Scripts[0].File))
	}
	if !snap.AssignmentsKnown {
		fmt.Fprintln(streams.Stdout, "This API does not expose which machines scripts are assigned to: add 'assignments' to the manifest yourself.")
	}
	return nil
}

// importedManifest is the manifest import writes, in the manifest's YAML
// shape.
type importedManifest struct {
	Version     int                  `yaml:"version"`
	Scripts     []importedScript     `yaml:"scripts,omitempty"`
	Templates   []importedTemplate   `yaml:"templates,omitempty"`
	Assignments []importedAssignment `yaml:"assignments,omitempty"`

	scriptIDs   map[string]string
	templateIDs map[string]string
}

type importedScript struct {
	Name      string `yaml:"name"`
	File      string `yaml:"file"`
	RunOnce   bool   `yaml:"runOnce,omitempty"`
	IsEnabled *bool  `yaml:"isEnabled,omitempty"`
}

type importedTemplate struct {
	Name      string `yaml:"name"`
	MachineID string `yaml:"machineId"`
	Note      string `yaml:"note,omitempty"`
}

type importedAssignment struct {
	Script   string   `yaml:"script"`
	Machines []string `yaml:"machines,flow"`
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// describe turns a snapshot into a manifest. A name held by several remote
// objects cannot be described by one entry: the first (by id) is taken and
// the others are reported.
func describe(snap *remote.Snapshot) (*importedManifest, []string) {
	doc := &importedManifest{Version: 1, scriptIDs: map[string]string{}, templateIDs: map[string]string{}}
	var skipped []string
	files := map[string]bool{}
	for _, s := range snap.Scripts {
		if _, dup := doc.scriptIDs[s.Name]; dup {
			skipped = append(skipped, fmt.Sprintf("script %q (%s) has the name of another script (%s): not imported; rename or delete one", s.Name, s.ID, doc.scriptIDs[s.Name]))
			continue
		}
		doc.scriptIDs[s.Name] = s.ID
		file := "scripts/" + unsafeFileChars.ReplaceAllString(s.Name, "-") + ".sh"
		for n := 2; files[file]; n++ {
			file = fmt.Sprintf("scripts/%s-%d.sh", unsafeFileChars.ReplaceAllString(s.Name, "-"), n)
		}
		files[file] = true
		is := importedScript{Name: s.Name, File: file, RunOnce: s.RunOnce}
		if !s.IsEnabled {
			is.IsEnabled = new(false)
		}
		doc.Scripts = append(doc.Scripts, is)
		if snap.AssignmentsKnown && len(s.AssignedMachines) > 0 {
			doc.Assignments = append(doc.Assignments, importedAssignment{Script: s.Name, Machines: slices.Sorted(slices.Values(s.AssignedMachines))})
		}
	}
	for _, t := range snap.Templates {
		if _, dup := doc.templateIDs[t.Name]; dup {
			skipped = append(skipped, fmt.Sprintf("template %q (%s) has the name of another template (%s): not imported; rename or delete one", t.Name, t.ID, doc.templateIDs[t.Name]))
			continue
		}
		doc.templateIDs[t.Name] = t.ID
		doc.Templates = append(doc.Templates, importedTemplate{Name: t.Name, MachineID: t.MachineID, Note: t.Note})
	}
	return doc, skipped
}

func (d *importedManifest) yaml() ([]byte, error) {
	body, err := yaml.Marshal(d)
	if err != nil {
		return nil, err
	}
	head := "# yaml-language-server: $schema=https://raw.githubusercontent.com/psync-dev/psync/main/schema/psync.schema.json\n" +
		"# Written by 'psync import'. Script bodies cannot be read from the API: fill in the files named below.\n"
	return append([]byte(head), body...), nil
}

func findScript(snap *remote.Snapshot, id string) remote.Script {
	for _, s := range snap.Scripts {
		if s.ID == id {
			return s
		}
	}
	return remote.Script{}
}
