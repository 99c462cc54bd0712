package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/google/renameio/v2"
	"gopkg.in/yaml.v3"

	"github.com/psync-dev/psync/internal/textsafe"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// ImportCmd writes a manifest describing the team as it is. It records
// nothing in the state: the first apply of the manifest adopts by name.
type ImportCmd struct {
	Out   string `name:"out" placeholder:"FILE" help:"Where to write the manifest (default: the -f file, or psync.yaml in the -f directory)."`
	Force bool   `name:"force" help:"Overwrite an existing manifest."`
}

// Run imports. Bodies cannot be read from the API, so import never
// invents them: it writes those the state holds and names the files the
// user must fill in.
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
	location := g.State
	if location == "" {
		location = filepath.Join(filepath.Dir(out), state.DefaultFileName)
	}
	backend, err := openBackend(ctx, streams, location, g.InsecureHTTP)
	if err != nil {
		return err
	}
	// Import only reads the state: recording ownership there would make
	// any other manifest sharing it delete what it does not name (the
	// objects it used to list as unmanaged). The first plan of the new
	// manifest adopts the objects by name instead.
	st, _, err := backend.Load(ctx)
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
	snap = plan.Visible(snap, st) // not what psync deleted and the API still shows

	doc, skipped := describe(snap, st)
	for _, s := range skipped {
		fmt.Fprintf(streams.Stderr, "psync: warning: %s\n", textsafe.Line(s))
	}
	body, err := doc.yaml()
	if err != nil {
		return err
	}
	body, flagged := flagInvisible(body)
	if flagged > 0 {
		fmt.Fprintf(streams.Stderr, "psync: warning: %s of %s hold invisible or bidirectional characters, which can make a name read as another: each is flagged by a comment above it\n", plural(flagged, "line"), out)
	}
	// --out may name a directory that does not exist yet.
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := renameio.WriteFile(out, body, 0o644, renameio.WithTempDir(dir)); err != nil {
		return err
	}
	written, err := writeKnownBodies(dir, doc, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.Stdout, "Imported %s and %s into %s. The state is unchanged: the first apply adopts them by name.\n",
		plural(len(doc.Scripts), "script"), plural(len(doc.Templates), "template"), out)
	if written > 0 {
		fmt.Fprintf(streams.Stdout, "Wrote %s from the bodies the state %s records.\n", plural(written, "script file"), backend)
	}
	var missing []string
	for _, s := range doc.Scripts {
		if _, err := os.Stat(filepath.Join(filepath.Dir(out), s.File)); err != nil {
			missing = append(missing, s.File)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(streams.Stdout, "The API never returns script bodies, and the state holds none of these. Put each script's body in the file the manifest names,\n"+
			"then run 'psync validate' and 'psync plan': the plan will push each body once. %s missing:\n",
			plural(len(missing), "file is"))
		const shown = 20
		for i, f := range missing {
			if i == shown {
				fmt.Fprintf(streams.Stdout, "  ... and %d more ('psync validate' names them all)\n", len(missing)-shown)
				break
			}
			fmt.Fprintf(streams.Stdout, "  %s\n", filepath.Join(filepath.Dir(out), f))
		}
	}
	switch {
	case snap.AssignmentsKnown:
	case len(doc.Assignments) > 0:
		fmt.Fprintln(streams.Stdout, "This API does not expose which machines scripts are assigned to: the manifest lists those psync made (from the state); add any others yourself.")
	default:
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
	// bodies are the files to write of scripts whose state body has
	// export lines psync wrote (its env): the body without them.
	bodies map[string]string
}

type importedScript struct {
	Name           string `yaml:"name"`
	File           string `yaml:"file"`
	RunOnce        bool   `yaml:"runOnce,omitempty"`
	IsEnabled      *bool  `yaml:"isEnabled,omitempty"`
	Sensitive      bool   `yaml:"sensitive,omitempty"`
	PreventDestroy bool   `yaml:"preventDestroy,omitempty"`
	// Env is taken back from the export lines of the state's body.
	Env manifest.DocEnv `yaml:"env,omitempty"`
}

type importedTemplate struct {
	Name           string `yaml:"name"`
	MachineID      string `yaml:"machineId"`
	Note           string `yaml:"note,omitempty"`
	PreventDestroy bool   `yaml:"preventDestroy,omitempty"`
}

type importedAssignment struct {
	Script   string   `yaml:"script"`
	Machines []string `yaml:"machines,flow"`
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// describe turns a snapshot into a manifest. A name held by several remote
// objects cannot be described by one entry: the first (by id) is taken and
// the others are reported. What the API cannot tell (sensitivity,
// protection, and assignments when it hides them) comes from st, so that
// re-importing over an existing state loses none of it.
func describe(snap *remote.Snapshot, st *state.State) (*importedManifest, []string) {
	doc := &importedManifest{Version: 1, scriptIDs: map[string]string{}, templateIDs: map[string]string{},
		bodies: map[string]string{}}
	var skipped []string
	files := map[string]bool{}
	for _, s := range snap.Scripts {
		if _, dup := doc.scriptIDs[s.Name]; dup {
			skipped = append(skipped, fmt.Sprintf("script %q (%s) has the name of another script (%s): not imported; rename or delete one", s.Name, s.ID, doc.scriptIDs[s.Name]))
			continue
		}
		doc.scriptIDs[s.Name] = s.ID
		// Files are told apart ignoring case: on a case-insensitive file
		// system (macOS, Windows) Setup.sh and setup.sh are one file, and
		// one script's body would be pushed as the other's.
		file := "scripts/" + unsafeFileChars.ReplaceAllString(s.Name, "-") + ".sh"
		for n := 2; files[strings.ToLower(file)]; n++ {
			file = fmt.Sprintf("scripts/%s-%d.sh", unsafeFileChars.ReplaceAllString(s.Name, "-"), n)
		}
		files[strings.ToLower(file)] = true
		is := importedScript{Name: s.Name, File: file, RunOnce: s.RunOnce}
		if !s.IsEnabled {
			is.IsEnabled = new(false)
		}
		machines := s.AssignedMachines
		if old, ok := st.ScriptByID(s.ID); ok {
			is.Sensitive, is.PreventDestroy = old.Sensitive, old.PreventDestroy
			if old.Body != nil && !old.Sensitive && len(old.Secrets) > 0 {
				if env, body, ok := splitExports(*old.Body, old.Secrets); ok {
					is.Env, doc.bodies[s.Name] = env, body
				} else {
					skipped = append(skipped, fmt.Sprintf("script %q: its recorded body holds secret variables that could not be told apart from it: write its file and env yourself", s.Name))
				}
			}
			if !snap.AssignmentsKnown {
				machines = old.Assignments
			}
		}
		doc.Scripts = append(doc.Scripts, is)
		if len(machines) > 0 {
			doc.Assignments = append(doc.Assignments, importedAssignment{Script: s.Name, Machines: slices.Sorted(slices.Values(machines))})
		}
	}
	for _, t := range snap.Templates {
		if _, dup := doc.templateIDs[t.Name]; dup {
			skipped = append(skipped, fmt.Sprintf("template %q (%s) has the name of another template (%s): not imported; rename or delete one", t.Name, t.ID, doc.templateIDs[t.Name]))
			continue
		}
		doc.templateIDs[t.Name] = t.ID
		it := importedTemplate{Name: t.Name, MachineID: t.MachineID, Note: t.Note}
		if old, ok := st.TemplateByID(t.ID); ok {
			it.PreventDestroy = old.PreventDestroy
		}
		doc.Templates = append(doc.Templates, it)
	}
	return doc, skipped
}

func (d *importedManifest) yaml() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# yaml-language-server: $schema=https://raw.githubusercontent.com/psync-dev/psync/main/schema/psync.schema.json\n" +
		"# Written by 'psync import'. Script bodies cannot be read from the API: fill in the files named below.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// flagInvisible puts a comment above every line of an imported manifest
// that holds an invisible or bidirectional character (which YAML writes
// as is), showing the line with them escaped, so a reviewer sees what the
// name really is ("Trojan Source"). It returns how many lines it flagged.
func flagInvisible(doc []byte) ([]byte, int) {
	if !textsafe.HasInvisible(string(doc)) {
		return doc, 0
	}
	var out bytes.Buffer
	n := 0
	for _, line := range strings.SplitAfter(string(doc), "\n") {
		if textsafe.HasInvisible(line) {
			body := strings.TrimRight(line, "\n")
			indent := body[:len(body)-len(strings.TrimLeft(body, " "))]
			fmt.Fprintf(&out, "%s# psync: invisible or bidirectional characters on the next line: %s\n", indent, textsafe.Line(strings.TrimSpace(body)))
			n++
		}
		out.WriteString(line)
	}
	return out.Bytes(), n
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if rest, ok := strings.CutSuffix(noun, " is"); ok {
		return fmt.Sprintf("%d %ss are", n, rest)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// writeKnownBodies writes the script files of the manifest doc for which
// the state holds the body (the last one psync pushed: sensitive bodies
// are never stored, and one that held a secret is stored with placeholders
// for its values), into dir. A file that exists already is left alone,
// and nothing is written through a symbolic link. It returns how many it
// wrote.
func writeKnownBodies(dir string, doc *importedManifest, st *state.State) (int, error) {
	written := 0
	for _, s := range doc.Scripts {
		old, ok := st.ScriptByID(doc.scriptIDs[s.Name])
		// A body that held a secret variable is recorded with
		// placeholders for its values: written only as describe took it
		// apart from its env, without the export lines.
		split, isSplit := doc.bodies[s.Name]
		if !ok || old.Body == nil || old.Sensitive || (old.BodyHMAC != "" || len(old.Secrets) > 0) && !isSplit {
			continue
		}
		body := *old.Body
		if isSplit {
			body = split
		}
		scripts := filepath.Join(dir, filepath.Dir(s.File))
		if err := os.MkdirAll(scripts, 0o755); err != nil {
			return written, err
		}
		if fi, err := os.Lstat(scripts); err != nil || !fi.IsDir() {
			return written, fmt.Errorf("write %s: %s is not a directory", s.File, scripts)
		}
		// O_EXCL: an existing file, or a symbolic link, is never written.
		f, err := os.OpenFile(filepath.Join(dir, s.File), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return written, err
		}
		_, err = f.WriteString(body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return written, fmt.Errorf("write %s: %w", s.File, err)
		}
		written++
	}
	return written, nil
}

// splitExports takes a script's env back from the body the state records
// for it (manifest.Script.DisplayBody): the export lines psync wrote after
// the shebang, a "<secret from $VAR>" for each secret. It reads every
// export line there (one the body itself began with pushes the same bytes
// as an env variable), and succeeds only if every secret the state names
// is among them and writing them back gives the recorded body byte for
// byte.
// allowEmpty cannot be told, and is left out.
func splitExports(display string, secrets map[string]string) (manifest.DocEnv, string, bool) {
	head, rest := "", display
	if strings.HasPrefix(rest, "#!") {
		line, after, _ := strings.Cut(rest, "\n")
		head, rest = line+"\n", after
	}
	var vars []manifest.EnvVar
	seenNames := map[string]bool{}
	for strings.HasPrefix(rest, "export ") {
		v, after, ok := parseExport(strings.TrimPrefix(rest, "export "))
		if !ok || seenNames[v.Name] {
			break // a name set again is the body's own line: env has each once
		}
		seenNames[v.Name] = true
		vars, rest = append(vars, v), after
	}
	body := rest
	var env manifest.DocEnv
	seen := 0
	for _, v := range vars {
		ev := manifest.DocEnvVar{Name: v.Name}
		if v.IsSecret() {
			if _, ok := secrets[v.Name]; ok {
				seen++
			}
			ev.Secret = &manifest.DocEnvSecret{FromEnv: v.FromEnv}
		} else {
			ev.Value = &v.Value
		}
		env = append(env, ev)
	}
	back := manifest.Script{Body: head + body, Env: vars}
	if seen != len(secrets) || back.DisplayBody() != display {
		return nil, "", false
	}
	return env, head + body, true
}

// exportName is a shell variable's name.
var exportName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseExport reads "NAME=VALUE\n" as withExports writes it: VALUE is
// "<secret from $VAR>" or manifest.ShellQuote of a plain value.
func parseExport(s string) (v manifest.EnvVar, rest string, ok bool) {
	name, s, ok := strings.Cut(s, "=")
	if !ok || !exportName.MatchString(name) {
		return v, "", false
	}
	v.Name = name
	if after, isSecret := strings.CutPrefix(s, "<secret from $"); isSecret {
		from, after, ok := strings.Cut(after, ">\n")
		if !ok || !exportName.MatchString(from) {
			return v, "", false
		}
		v.FromEnv = from
		return v, after, true
	}
	// A shell word: bare characters, '…' runs (which may span lines) and
	// \' for a quote, up to the newline.
	var val strings.Builder
	for {
		switch {
		case strings.HasPrefix(s, "\n"):
			v.Value = val.String()
			return v, s[1:], true
		case strings.HasPrefix(s, "'"):
			quoted, after, ok := strings.Cut(s[1:], "'")
			if !ok {
				return v, "", false
			}
			val.WriteString(quoted)
			s = after
		case strings.HasPrefix(s, `\'`):
			val.WriteByte('\'')
			s = s[2:]
		case s != "" && strings.ContainsRune(shellBare, rune(s[0])):
			val.WriteByte(s[0])
			s = s[1:]
		default:
			return v, "", false
		}
	}
}

// shellBare are the characters manifest.ShellQuote leaves unquoted.
const shellBare = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:@%+="
