package manifest

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/psync-dev/psync/internal/safefile"
)

// SupportedVersion is the only manifest format version there is.
const SupportedVersion = 1

// MaxNameLength is the longest script or template name, in characters.
const MaxNameLength = 255

// machineIDPattern is what a Paperspace machine id looks like (psbox001,
// ps1a2b3c4): lower-case letters, digits and dashes. It catches typos such
// as spaces, upper case or a machine's display name used by mistake.
const machineIDPattern = `^[a-z0-9][a-z0-9-]{1,63}$`

var machineIDRe = regexp.MustCompile(machineIDPattern)

// build validates the decoded documents and assembles the Manifest. Every
// problem is added to diags; the result is only meaningful when there are
// none.
func build(dir string, docs []parsed, diags *diagnostics) *Manifest {
	b := &builder{
		dir:      dir,
		diags:    diags,
		scripts:  make(map[string]Position),
		tmpls:    make(map[string]Position),
		assigned: make(map[string]int),
	}
	b.m = &Manifest{Version: SupportedVersion, Dir: dir, Settings: Settings{MaxDeletePercent: DefaultMaxDeletePercent}}
	for _, p := range docs {
		b.header(p)
	}
	for _, p := range docs {
		for i := range p.doc.Scripts {
			b.script(&p.doc.Scripts[i])
		}
		for i := range p.doc.Templates {
			b.template(&p.doc.Templates[i])
		}
	}
	// Assignments after every script is known: a file may assign a script
	// declared in another.
	for _, p := range docs {
		for i := range p.doc.Assignments {
			b.assignment(&p.doc.Assignments[i])
		}
	}
	b.crossChecks()
	return b.m
}

type builder struct {
	dir   string
	root  string // dir with symlinks resolved, once needed
	diags *diagnostics
	m     *Manifest

	settingsAt Position
	// where each name was declared, per kind
	scripts, tmpls map[string]Position
	// sorted script names, and how many suggestions were sought
	scriptNames []string
	suggestions int
	// index in m.Assignments of each assigned script
	assigned map[string]int
	// where each (script, machine) assignment was written
	machineAt map[pairKey]Position
	// where each (script, selector) was written
	selectorAt map[pairKey]Position

	scriptPats, tmplPats []pattern
	names                []named // every managed name, for cross checks
}

type pairKey struct{ script, machine string }

type pattern struct {
	glob string
	at   Position
}

// named is a name written in the manifest: an object's name or one of its
// previousNames.
type named struct {
	kind     string // "script" or "template"
	name     string
	owner    string // the object's current name
	previous bool
	at       Position
}

// ref names other as seen from at: "line 6" within one file, the full
// position across files.
func ref(at, other Position) string {
	if at.File == other.File && at.Line == other.Line && other.Column != 0 {
		return fmt.Sprintf("column %d", other.Column)
	}
	if at.File == other.File && other.Line != 0 {
		return fmt.Sprintf("line %d", other.Line)
	}
	return other.String()
}

func (b *builder) errorf(at Position, format string, args ...any) {
	b.diags.add(at, format, args...)
}

func (b *builder) header(p parsed) {
	d := p.doc
	switch {
	case d.bad("version"):
	case d.Version == nil:
		b.errorf(d.Pos(), "missing \"version: 1\" (every manifest file states its format version)")
	case *d.Version != SupportedVersion:
		b.errorf(d.value("version"), "unsupported version %d: this psync understands version %d only", *d.Version, SupportedVersion)
	}
	if s := d.Settings; s != nil {
		if b.settingsAt.File != "" {
			b.errorf(d.value("settings"), "settings are already set at %s; set them in one file only", ref(d.value("settings"), b.settingsAt))
		} else {
			b.settingsAt = d.value("settings")
			b.m.Settings.Prune = s.Prune
			if s.MaxDeletePercent != nil {
				if v := *s.MaxDeletePercent; v < 0 || v > 100 {
					b.errorf(s.value("maxDeletePercent"), "maxDeletePercent must be between 0 and 100, not %d", v)
				}
				b.m.Settings.MaxDeletePercent = *s.MaxDeletePercent
			}
			if s.State != "" {
				if msg := checkStateLocation(s.State); msg != "" {
					b.errorf(s.value("state"), "state %q %s", s.State, msg)
				} else {
					b.m.Settings.State = s.State
				}
			}
		}
	}
	if ig := d.Ignore; ig != nil {
		b.scriptPats = append(b.scriptPats, b.patterns(&ig.located, "scripts", ig.Scripts)...)
		b.tmplPats = append(b.tmplPats, b.patterns(&ig.located, "templates", ig.Templates)...)
		b.m.Ignore.Scripts = append(b.m.Ignore.Scripts, ig.Scripts...)
		b.m.Ignore.Templates = append(b.m.Ignore.Templates, ig.Templates...)
	}
}

func (b *builder) patterns(l *located, key string, globs []string) []pattern {
	var out []pattern
	for i, g := range globs {
		at := l.item(key, i)
		if g == "" {
			b.errorf(at, "empty ignore pattern")
			continue
		}
		if _, err := path.Match(g, ""); err != nil {
			b.errorf(at, "bad ignore pattern %q: %v (patterns use * ? [a-z] and \\ to escape)", g, err)
			continue
		}
		out = append(out, pattern{glob: g, at: at})
	}
	return out
}

// checkName reports what is wrong with a script or template name, or "".
func checkName(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case utf8.RuneCountInString(name) > MaxNameLength:
		return fmt.Sprintf("is %d characters long; the most is %d", utf8.RuneCountInString(name), MaxNameLength)
	case strings.TrimSpace(name) != name:
		return "has leading or trailing spaces"
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}

// declare checks an object's name and previousNames and records them.
func (b *builder) declare(kind string, l *located, name string, previous []string, seen map[string]Position) bool {
	ok := true
	switch {
	case l.bad("name"):
		return false
	case !l.has("name") || name == "":
		b.errorf(l.value("name"), "a %s needs a name", kind)
		return false
	case checkName(name) != "":
		b.errorf(l.value("name"), "%s name %q %s", kind, name, checkName(name))
		ok = false
	}
	if first, dup := seen[name]; dup {
		b.errorf(l.value("name"), "duplicate %s name %q: it is also declared at %s", kind, name, ref(l.value("name"), first))
		ok = false
	} else {
		seen[name] = l.value("name")
	}
	b.names = append(b.names, named{kind: kind, name: name, owner: name, at: l.value("name")})
	for i, p := range previous {
		at := l.item("previousNames", i)
		if p == "" {
			b.errorf(at, "empty previous name")
			ok = false
			continue
		}
		if msg := checkName(p); msg != "" {
			b.errorf(at, "previous name %q %s", p, msg)
			ok = false
			continue
		}
		b.names = append(b.names, named{kind: kind, name: p, owner: name, previous: true, at: at})
	}
	return ok
}

func (b *builder) script(s *DocScript) {
	b.declare("script", &s.located, s.Name, s.PreviousNames, b.scripts)
	out := Script{
		Name:           s.Name,
		File:           s.File,
		RunOnce:        s.RunOnce,
		IsEnabled:      s.IsEnabled == nil || *s.IsEnabled,
		Sensitive:      s.Sensitive,
		PreventDestroy: s.PreventDestroy,
		PreviousNames:  nilIfEmpty(s.PreviousNames),
		Env:            b.env(s),
		Pos:            s.Pos(),
	}
	hasFile, hasScript := s.has("file") && s.File != "", s.has("script")
	switch {
	case hasFile && hasScript:
		b.errorf(s.value("script"), "script %q sets both file and script; keep one", s.Name)
	case !hasFile && !hasScript:
		if s.has("file") {
			b.errorf(s.value("file"), "script %q has an empty file path", s.Name)
		} else {
			b.errorf(s.Pos(), "script %q needs a body: set file (a path relative to the manifest) or script (inline)", s.Name)
		}
	case hasFile:
		out.Body, out.BodyPos = b.readBody(s)
	default:
		out.Body = s.Script
		at := s.value("script")
		switch style := s.style("script"); {
		case style&yaml.LiteralStyle != 0:
			at.Line++ // the body starts on the line after "|"
			at.Column = 0
		case style&yaml.FoldedStyle != 0:
			at.Line++
		}
		out.BodyPos = at
		if len(out.Body) > MaxBodyBytes {
			b.errorf(s.value("script"), "script %q is %d bytes; psync takes bodies of at most %d (256 KiB)", s.Name, len(out.Body), MaxBodyBytes)
		}
	}
	b.m.Scripts = append(b.m.Scripts, out)
}

// readBody reads a script's file. The file must resolve, symlinks
// included, to a regular file inside the manifest's directory tree: a
// manifest under review must not be able to pull /etc/passwd or a CI
// secret into a plan.
func (b *builder) readBody(s *DocScript) (string, Position) {
	at := s.value("file")
	rel := s.File
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") || filepath.VolumeName(rel) != "" {
		b.errorf(at, "file %q must be a path relative to the manifest's directory, not an absolute path", rel)
		return "", Position{}
	}
	joined := filepath.Join(b.dir, filepath.FromSlash(rel))
	if !within(b.dir, joined) {
		b.errorf(at, "file %q is outside the manifest's directory", rel)
		return "", Position{}
	}
	if b.root == "" {
		root, err := filepath.EvalSymlinks(b.dir)
		if err != nil {
			b.errorf(at, "cannot resolve the manifest's directory: %v", unwrapPath(err))
			return "", Position{}
		}
		b.root = root
	}
	root := b.root
	real, err := filepath.EvalSymlinks(joined)
	if err != nil {
		if os.IsNotExist(err) {
			b.errorf(at, "file %q does not exist", rel)
		} else {
			b.errorf(at, "file %q cannot be read: %v", rel, unwrapPath(err))
		}
		return "", Position{}
	}
	if !within(root, real) {
		// Do not name the target: it is exactly what must not leak.
		b.errorf(at, "file %q leads through a symlink outside the manifest's directory", rel)
		return "", Position{}
	}
	if inGitDir(root, real) {
		// CI checkouts keep credentials in .git/config (e.g. GitHub's
		// persisted token): never a script body.
		b.errorf(at, "file %q is inside a .git directory, which may hold credentials", rel)
		return "", Position{}
	}
	info, err := os.Stat(real)
	if err != nil {
		b.errorf(at, "file %q cannot be read: %v", rel, unwrapPath(err))
		return "", Position{}
	}
	if !info.Mode().IsRegular() {
		what := "not a regular file"
		if info.IsDir() {
			what = "a directory, not a file"
		}
		b.errorf(at, "file %q is %s", rel, what)
		return "", Position{}
	}
	if info.Size() > MaxBodyBytes {
		b.errorf(at, "file %q is %d bytes; psync takes bodies of at most %d (256 KiB)", rel, info.Size(), MaxBodyBytes)
		return "", Position{}
	}
	// Opened without following a link (real is resolved) and without
	// blocking, should the file have become a FIFO since Stat.
	f, err := safefile.Open(real, safefile.Options{What: "script file"})
	if err != nil {
		b.errorf(at, "file %q cannot be read: it changed while psync read it", rel)
		return "", Position{}
	}
	defer f.Close()
	// Read one byte more than allowed, in case the file grew since Stat.
	data, err := io.ReadAll(io.LimitReader(f, MaxBodyBytes+1))
	if err != nil {
		b.errorf(at, "file %q cannot be read: %v", rel, unwrapPath(err))
		return "", Position{}
	}
	if len(data) > MaxBodyBytes {
		b.errorf(at, "file %q is over %d bytes; psync takes bodies of at most 256 KiB", rel, MaxBodyBytes)
		return "", Position{}
	}
	if !utf8.Valid(data) {
		b.errorf(at, "file %q is not UTF-8 text", rel)
		return "", Position{}
	}
	return string(data), Position{File: joined, Line: 1}
}

// unwrapPath drops the *PathError wrapper, whose path may be a resolved
// one the user never wrote.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// within reports whether p is root or inside it (both cleaned, lexically).
func within(root, p string) bool { return safefile.Within(root, p) }

// inGitDir reports whether p (inside root) has a ".git" path element
// below root.
func inGitDir(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	for _, elem := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.EqualFold(elem, ".git") {
			return true
		}
	}
	return false
}

func (b *builder) template(t *DocTemplate) {
	b.declare("template", &t.located, t.Name, t.PreviousNames, b.tmpls)
	switch {
	case t.bad("machineId"):
	case !t.has("machineId") || t.MachineID == "":
		b.errorf(t.value("machineId"), "template %q needs a machineId (the machine it is made from, e.g. psbox001)", t.Name)
	default:
		b.checkMachine(t.value("machineId"), t.MachineID)
	}
	b.m.Templates = append(b.m.Templates, Template{
		Name:           t.Name,
		MachineID:      t.MachineID,
		MachinePos:     t.value("machineId"),
		Note:           t.Note,
		PreventDestroy: t.PreventDestroy,
		PreviousNames:  nilIfEmpty(t.PreviousNames),
		Pos:            t.Pos(),
	})
}

func (b *builder) checkMachine(at Position, id string) bool {
	if id == "" {
		b.errorf(at, "empty machine id")
		return false
	}
	if !machineIDRe.MatchString(id) {
		hint := ""
		if strings.ToLower(id) != id {
			hint = "; machine ids are lower case"
		}
		b.errorf(at, "%q is not a machine id (expected letters, digits and dashes, like psbox001%s)", id, hint)
		return false
	}
	return true
}

// assignment records one assignment entry. Entries naming the same script
// are merged (so separate files can assign one script to their own
// machines); a machine listed twice for one script is an error, whether in
// one entry or across entries.
func (b *builder) assignment(a *DocAssignment) {
	at := a.value("script")
	switch {
	case a.bad("script"):
	case !a.has("script") || a.Script == "":
		b.errorf(at, "an assignment needs a script")
	default:
		if _, ok := b.scripts[a.Script]; !ok {
			msg := fmt.Sprintf("assignment to undeclared script %q", a.Script)
			// Suggestions cost a scan of every name: offer them for the
			// first few mistakes only, so a huge manifest stays fast.
			if b.suggestions++; b.suggestions <= 20 {
				if b.scriptNames == nil {
					b.scriptNames = keys(b.scripts)
				}
				if s := Suggest(a.Script, b.scriptNames); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
			}
			b.errorf(at, "%s", msg)
		}
	}
	if !a.has("machines") && !a.has("select") {
		if a.Script == "" {
			b.errorf(a.Pos(), "an assignment needs machines (a list of machine ids) or select (selectors)")
		} else {
			b.errorf(a.Pos(), "assignment of %q needs machines (a list of machine ids) or select (selectors)", a.Script)
		}
	}
	idx, ok := b.assigned[a.Script]
	if !ok {
		idx = len(b.m.Assignments)
		b.assigned[a.Script] = idx
		b.m.Assignments = append(b.m.Assignments, Assignment{Script: a.Script, Pos: a.Pos()})
	}
	if b.machineAt == nil {
		b.machineAt = make(map[pairKey]Position)
	}
	for i, mid := range a.Machines {
		mat := a.item("machines", i)
		if !b.checkMachine(mat, mid) {
			continue
		}
		k := pairKey{a.Script, mid}
		if first, dup := b.machineAt[k]; dup {
			b.errorf(mat, "machine %s is listed twice for script %q (also at %s)", mid, a.Script, ref(mat, first))
			continue
		}
		b.machineAt[k] = mat
		b.m.Assignments[idx].Machines = append(b.m.Assignments[idx].Machines, mid)
		b.m.Assignments[idx].MachinePos = append(b.m.Assignments[idx].MachinePos, mat)
	}
	for i := range a.Select {
		sel := &a.Select[i]
		if s, ok := b.selector(a.Script, sel, a.item("select", i)); ok {
			b.m.Assignments[idx].Select = append(b.m.Assignments[idx].Select, s)
		}
	}
}

// selector checks one select entry of script's assignment.
func (b *builder) selector(script string, d *DocSelector, at Position) (Selector, bool) {
	s := Selector{Name: d.Name, MachineType: d.MachineType, Region: d.Region, Pos: at}
	ok := true
	for _, f := range []struct{ key, v string }{{"name", d.Name}, {"machineType", d.MachineType}, {"region", d.Region}} {
		if d.has(f.key) && f.v == "" && !d.bad(f.key) {
			b.errorf(d.value(f.key), "empty %s in a selector", f.key)
			ok = false
		}
	}
	if d.Name != "" {
		if _, err := path.Match(d.Name, ""); err != nil {
			b.errorf(d.value("name"), "bad name pattern %q: %v (patterns use * ? [a-z] and \\ to escape)", d.Name, err)
			ok = false
		}
	}
	if !ok {
		return s, false
	}
	if s.String() == "" {
		if len(d.pos.fields) == 0 && !d.pos.unknown {
			b.errorf(at, "an empty selector selects nothing; give name, machineType or region")
		}
		return s, false
	}
	if b.selectorAt == nil {
		b.selectorAt = make(map[pairKey]Position)
	}
	k := pairKey{script, s.String()}
	if first, dup := b.selectorAt[k]; dup {
		b.errorf(at, "selector %s is listed twice for script %q (also at %s)", s, script, ref(at, first))
		return s, false
	}
	b.selectorAt[k] = at
	return s, true
}

// crossChecks finds conflicts between names: managed names that are also
// ignored, and previousNames that collide with another name.
func (b *builder) crossChecks() {
	current := map[string]map[string]Position{"script": b.scripts, "template": b.tmpls}
	previous := map[string]map[string]named{"script": {}, "template": {}}
	for _, n := range b.names {
		pats := b.scriptPats
		if n.kind == "template" {
			pats = b.tmplPats
		}
		for _, p := range pats {
			if ok, _ := path.Match(p.glob, n.name); ok {
				what := "name"
				if n.previous {
					what = "previous name"
				}
				b.errorf(n.at, "%s %s %q is managed but also ignored by pattern %q at %s; remove one", n.kind, what, n.name, p.glob, ref(n.at, p.at))
				break
			}
		}
		if !n.previous {
			continue
		}
		if at, ok := current[n.kind][n.name]; ok {
			if n.name == n.owner {
				b.errorf(n.at, "%s %q lists its own name as a previous name", n.kind, n.owner)
			} else {
				b.errorf(n.at, "previous name %q of %s %q is the name of another %s (at %s)", n.name, n.kind, n.owner, n.kind, ref(n.at, at))
			}
			continue
		}
		if first, ok := previous[n.kind][n.name]; ok {
			if first.owner == n.owner {
				b.errorf(n.at, "previous name %q is listed twice for %s %q", n.name, n.kind, n.owner)
			} else {
				b.errorf(n.at, "previous name %q of %s %q is also a previous name of %s %q (at %s)", n.name, n.kind, n.owner, n.kind, first.owner, ref(n.at, first.at))
			}
			continue
		}
		previous[n.kind][n.name] = n
	}
}

func keys(m map[string]Position) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out) // deterministic suggestions
	return out
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// checkStateLocation reports what is wrong with settings.state, or "". A
// file must stay inside the manifest's directory tree: a manifest (a pull
// request's, say) may not point psync's writes at another file.
func checkStateLocation(loc string) string {
	if strings.HasPrefix(loc, "s3://") {
		return ""
	}
	if i := strings.Index(loc, "://"); i > 0 {
		return "is not a file path or an s3://BUCKET/KEY URL"
	}
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || !filepath.IsLocal(loc) {
		return "must be s3://BUCKET/KEY or a relative path inside the manifest's directory (use --state or PSYNC_STATE for a file elsewhere)"
	}
	return ""
}
