package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// writeTree writes files (slash paths relative to dir) into dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadErrors loads path and returns its diagnostics as lines; it fails
// the test unless the error is a *Errors.
func loadErrors(t *testing.T, path string) []string {
	t.Helper()
	_, err := Load(path)
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load(%s) error = %v (%T), want *Errors", path, err, err)
	}
	var out []string
	for _, d := range errs.Diagnostics {
		out = append(out, d.String())
	}
	return out
}

func TestLoadResolvesDefaultsAndBodies(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"psync.yaml": `version: 1
ignore:
  templates: ["os-*"]
scripts:
  - name: cuda
    file: scripts/cuda.sh
    previousNames: [install-cuda]
  - name: hello
    runOnce: true
    isEnabled: false
    sensitive: true
    script: |
      echo hello
templates:
  - name: base
    machineId: psbox001
    note: base image
    preventDestroy: true
assignments:
  - script: cuda
    machines: [psbox001, psbox002]
    select: [{name: "train-*"}, {machineType: A100, region: ny2}]
`,
		"scripts/cuda.sh": "#!/bin/bash\necho cuda\n",
	})
	t.Chdir(dir)
	got, err := Load("psync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Version:  1,
		Settings: Settings{Prune: false, MaxDeletePercent: 25},
		Ignore:   Ignore{Templates: []string{"os-*"}},
		Scripts: []Script{
			{
				Name: "cuda", File: "scripts/cuda.sh", Body: "#!/bin/bash\necho cuda\n",
				IsEnabled: true, PreviousNames: []string{"install-cuda"},
				Pos:     Position{File: "psync.yaml", Line: 5, Column: 5},
				BodyPos: Position{File: "scripts/cuda.sh", Line: 1},
			},
			{
				Name: "hello", Body: "echo hello\n", RunOnce: true, IsEnabled: false, Sensitive: true,
				Pos:     Position{File: "psync.yaml", Line: 8, Column: 5},
				BodyPos: Position{File: "psync.yaml", Line: 13},
			},
		},
		Templates: []Template{{
			Name: "base", MachineID: "psbox001", Note: "base image", PreventDestroy: true,
			Pos:        Position{File: "psync.yaml", Line: 15, Column: 5},
			MachinePos: Position{File: "psync.yaml", Line: 16, Column: 16},
		}},
		Assignments: []Assignment{{
			Script: "cuda", Machines: []string{"psbox001", "psbox002"},
			MachinePos: []Position{{File: "psync.yaml", Line: 21, Column: 16}, {File: "psync.yaml", Line: 21, Column: 26}},
			Select: []Selector{
				{Name: "train-*", Pos: Position{File: "psync.yaml", Line: 22, Column: 14}},
				{MachineType: "A100", Region: "ny2", Pos: Position{File: "psync.yaml", Line: 22, Column: 33}},
			},
			Pos: Position{File: "psync.yaml", Line: 20, Column: 5},
		}},
		Dir:   ".",
		Files: []string{"psync.yaml"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	if !got.IgnoresTemplate("os-ubuntu") || got.IgnoresTemplate("base") || got.IgnoresScript("cuda") {
		t.Errorf("ignore patterns not applied as expected: %+v", got.Ignore)
	}
}

func TestLoadDirectoryMerge(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"team/b.yml":          "version: 1\nassignments:\n  - script: a\n    machines: [psbox002]\n",
		"team/a.yaml":         "version: 1\nscripts:\n  - name: a\n    file: s/a.sh\nassignments:\n  - script: a\n    machines: [psbox001]\n",
		"team/c.yaml":         "version: 1\nsettings:\n  maxDeletePercent: 10\ntemplates:\n  - name: t\n    machineId: psbox003\n",
		"team/s/a.sh":         "echo a\n",
		"team/.hidden.yaml":   "garbage: [\n",
		"team/notes.json":     "{}",
		"team/sub/more.yaml":  "garbage: [\n",
		"team/dir.yaml/x.sh":  "a directory named like a manifest is not one\n",
		"elsewhere/psync.yml": "version: 1\n",
	})
	t.Chdir(dir)
	got, err := Load("team")
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Version:  1,
		Settings: Settings{MaxDeletePercent: 10},
		Scripts: []Script{{
			Name: "a", File: "s/a.sh", Body: "echo a\n", IsEnabled: true,
			Pos:     Position{File: "team/a.yaml", Line: 3, Column: 5},
			BodyPos: Position{File: "team/s/a.sh", Line: 1},
		}},
		Templates: []Template{{
			Name: "t", MachineID: "psbox003",
			Pos:        Position{File: "team/c.yaml", Line: 5, Column: 5},
			MachinePos: Position{File: "team/c.yaml", Line: 6, Column: 16},
		}},
		Assignments: []Assignment{{
			Script: "a", Machines: []string{"psbox001", "psbox002"},
			MachinePos: []Position{{File: "team/a.yaml", Line: 7, Column: 16}, {File: "team/b.yml", Line: 4, Column: 16}},
			Pos:        Position{File: "team/a.yaml", Line: 6, Column: 5},
		}},
		Dir:   "team",
		Files: []string{"team/a.yaml", "team/b.yml", "team/c.yaml"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load(dir) (-want +got):\n%s", diff)
	}
}

func TestLoadDirectoryDuplicatesNameBothFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.yaml": "version: 1\nscripts:\n  - name: x\n    script: echo\n",
		"b.yaml": "version: 1\nscripts:\n  - name: x\n    script: echo\n",
	})
	got := loadErrors(t, dir)
	want := []string{filepath.Join(dir, "b.yaml") + `:3:11: duplicate script name "x": it is also declared at ` + filepath.Join(dir, "a.yaml") + ":3:11"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	writeTree(t, dir, map[string]string{"empty/README.md": "no manifests here"})
	_, err := Load(filepath.Join(dir, "empty"))
	var errs *Errors
	if err == nil || errors.As(err, &errs) || !strings.Contains(err.Error(), "no *.yaml or *.yml files") {
		t.Errorf("directory without manifests: err = %v", err)
	}
}

// TestSymlinkEscape checks that a script file cannot reach outside the
// manifest's directory through a symlink, whether the link is the file
// itself or a directory on its way, while links inside the tree work.
func TestSymlinkEscape(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"secret/token":           "hunter2\n",
		"repo/psync.yaml":        "version: 1\nscripts:\n  - name: a\n    file: scripts/passwd.sh\n  - name: b\n    file: linked/token\n  - name: c\n    file: scripts/inside.sh\n  - name: d\n    file: scripts/dangling.sh\n",
		"repo/scripts/real.sh":   "echo real\n",
		"repo/scripts/.keep":     "",
		"repo/outside-target.sh": "",
	})
	links := map[string]string{
		"repo/scripts/passwd.sh":   filepath.Join(root, "secret", "token"), // file link out
		"repo/linked":              filepath.Join(root, "secret"),          // directory link out
		"repo/scripts/inside.sh":   "real.sh",                              // relative link in
		"repo/scripts/dangling.sh": "nowhere.sh",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(name))); err != nil {
			t.Skipf("symlinks unavailable: %v", err)
		}
	}
	t.Chdir(root)
	got := loadErrors(t, "repo/psync.yaml")
	want := []string{
		`repo/psync.yaml:4:11: file "scripts/passwd.sh" leads through a symlink outside the manifest's directory`,
		`repo/psync.yaml:6:11: file "linked/token" leads through a symlink outside the manifest's directory`,
		`repo/psync.yaml:10:11: file "scripts/dangling.sh" does not exist`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, line := range got {
		if strings.Contains(line, "secret") || strings.Contains(line, "hunter2") {
			t.Errorf("message names the symlink's target: %s", line)
		}
	}

	// The manifest's own directory may itself be reached through a link.
	if err := os.Remove(filepath.Join(root, "repo/scripts/passwd.sh")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, root, map[string]string{"repo/psync.yaml": "version: 1\nscripts:\n  - name: c\n    file: scripts/inside.sh\n"})
	if err := os.Symlink(filepath.Join(root, "repo"), filepath.Join(root, "repo-link")); err != nil {
		t.Fatal(err)
	}
	m, err := Load("repo-link/psync.yaml")
	if err != nil {
		t.Fatalf("Load through a linked directory: %v", err)
	}
	if m.Scripts[0].Body != "echo real\n" {
		t.Errorf("body through an inside link = %q, want %q", m.Scripts[0].Body, "echo real\n")
	}
}

func TestBodySizeLimit(t *testing.T) {
	dir := t.TempDir()
	// The 16 KiB of the spec is the plan's to check, against the dialect;
	// the manifest caps bodies at MaxBodyBytes.
	exact := strings.Repeat("x", MaxBodyBytes)
	writeTree(t, dir, map[string]string{
		"psync.yaml": "version: 1\nscripts:\n  - name: exact\n    file: exact.sh\n  - name: inline-over\n    script: " + exact + "y\n  - name: inline-exact\n    script: " + exact + "\n",
		"exact.sh":   exact,
	})
	t.Chdir(dir)
	got := loadErrors(t, "psync.yaml")
	want := []string{`psync.yaml:6:13: script "inline-over" is 262145 bytes; psync takes bodies of at most 262144 (256 KiB)`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestAliasBomb checks that exponentially expanding aliases are refused
// quickly instead of exhausting memory.
func TestAliasBomb(t *testing.T) {
	// Merge keys are the one place the document types let aliases nest:
	// each level merges nine copies of the one below, 9^9 in all.
	var b strings.Builder
	b.WriteString("version: 1\nx-m0: &m0 {runOnce: true}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x-m%d: &m%d {<<: [", i, i)
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*m%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("scripts:\n  - <<: *m9\n    name: x\n    script: echo\n")
	start := time.Now()
	_, err := load(".", []source{{name: "bomb.yaml", data: []byte(b.String())}})
	if err == nil || !strings.Contains(err.Error(), "too large once its aliases are expanded") {
		t.Errorf("err = %v, want the alias expansion refused", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing the alias bomb took %v", d)
	}
}

func TestErrorsSortedAndFormatted(t *testing.T) {
	ds := []Diagnostic{
		{Pos: Position{File: "b.yaml", Line: 1, Column: 1}, Message: "b"},
		{Pos: Position{File: "a.yaml", Line: 10, Column: 2}, Message: "late"},
		{Pos: Position{File: "a.yaml", Line: 2, Column: 9}, Message: "col 9"},
		{Pos: Position{File: "a.yaml", Line: 2, Column: 3}, Message: "col 3"},
		{Pos: Position{File: "a.yaml", Line: 4}, Message: "no column"},
		{Pos: Position{File: "a.yaml"}, Message: "no line"},
	}
	SortDiagnostics(ds)
	got := (&Errors{Diagnostics: ds}).Error()
	want := "a.yaml: no line\na.yaml:2:3: col 3\na.yaml:2:9: col 9\na.yaml:4: no column\na.yaml:10:2: late\nb.yaml:1:1: b"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Errors.Error() (-want +got):\n%s", diff)
	}
}

func TestIsShell(t *testing.T) {
	for body, want := range map[string]bool{
		"":                                 true,
		"echo hi":                          true,
		"#!/bin/sh\n":                      true,
		"#!/bin/bash -e\n":                 true,
		"#! /usr/bin/dash\n":               true,
		"#!/usr/bin/env bash\n":            true,
		"#!/usr/bin/env -S bash -eu\n":     true,
		"#!/usr/bin/env LANG=C sh\n":       true,
		"#!/busybox/ash":                   true,
		"#!/usr/bin/env python3\n":         false,
		"#!/usr/bin/python\nprint(1)\n":    false,
		"#!/usr/bin/zsh\n":                 false,
		"#!/usr/bin/env\n":                 false,
		"#!\necho empty shebang\n":         true,
		"# a comment, not a shebang\nls\n": true,
	} {
		if got := IsShell(body); got != want {
			t.Errorf("IsShell(%q) = %v, want %v", body, got, want)
		}
	}
}

func TestCheckShellWithoutBash(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	m := &Manifest{Scripts: []Script{{Name: "a", Body: "if"}}}
	ds, err := CheckShell(context.Background(), m)
	if !errors.Is(err, ErrNoBash) || ds != nil {
		t.Errorf("CheckShell without bash = %v, %v; want nil, ErrNoBash", ds, err)
	}
}

func TestCheckShellCancelled(t *testing.T) {
	requireBash(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &Manifest{Scripts: []Script{{Name: "a", Body: "echo", BodyPos: Position{File: "a.sh", Line: 1}}}}
	if _, err := CheckShell(ctx, m); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckShell with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// TestCheckShellNeverExecutes makes sure bash only parses: a script that
// would create a file must not.
func TestCheckShellNeverExecutes(t *testing.T) {
	requireBash(t)
	marker := filepath.Join(t.TempDir(), "ran")
	m := &Manifest{Scripts: []Script{{Name: "a", Body: "touch " + marker + "\n", BodyPos: Position{File: "a.sh", Line: 1}}}}
	ds, err := CheckShell(context.Background(), m)
	if err != nil || len(ds) != 0 {
		t.Fatalf("CheckShell = %v, %v", ds, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("bash -n executed the script")
	}
}

// TestSchemaUpToDate fails when schema/psync.schema.json no longer matches
// the document types; go test -update rewrites it.
func TestSchemaUpToDate(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "schema", "psync.schema.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/manifest -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale; run go test ./pkg/manifest -update (-committed +generated):\n%s", path, diff)
	}
	for _, s := range []string{`"$schema": "https://json-schema.org/draft/2020-12/schema"`, `"additionalProperties": false`, `"default": 25`, `"default": true`} {
		if !bytes.Contains(got, []byte(s)) {
			t.Errorf("schema lacks %s", s)
		}
	}
}

// TestQuickstartExample keeps the README's example valid, shell included.
func TestQuickstartExample(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "quickstart")
	m, err := Load(filepath.Join(dir, "psync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Scripts) != 2 || len(m.Templates) != 1 || m.Templates[0].MachineID != "psbox001" {
		t.Errorf("quickstart: %d scripts, templates %+v; want 2 scripts and a template from psbox001", len(m.Scripts), m.Templates)
	}
	head, err := os.ReadFile(filepath.Join(dir, "psync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(head, []byte("# yaml-language-server: $schema=../../schema/psync.schema.json\n")) {
		t.Error("quickstart manifest does not start with its yaml-language-server schema line")
	}
	if _, err := exec.LookPath("bash"); err == nil {
		ds, err := CheckShell(context.Background(), m)
		if err != nil || len(ds) != 0 {
			t.Errorf("CheckShell(quickstart) = %v, %v", ds, err)
		}
	}
}

// TestCheckShellEscapesControlCharacters keeps a script from sending
// terminal escapes through bash's messages.
func TestCheckShellEscapesControlCharacters(t *testing.T) {
	requireBash(t)
	m := &Manifest{Scripts: []Script{{Name: "a", File: "a.sh", Body: "echo ok\ncat <<E\x1b[2J\nhello\n", BodyPos: Position{File: "a.sh", Line: 1}}}}
	ds, err := CheckShell(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	want := []Diagnostic{{Pos: Position{File: "a.sh", Line: 3}, Message: "warning: here-document at line 2 delimited by end-of-file (wanted `E\\x1b[2J')"}}
	if diff := cmp.Diff(want, ds); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDocumentMarshals checks that the document types also write
// manifests (for tools such as import): marshal, load, same content.
func TestDocumentMarshals(t *testing.T) {
	one, off := 1, false
	doc := Document{
		Version: &one,
		Scripts: []DocScript{
			{Name: "a", Script: "echo a\n", IsEnabled: &off, PreviousNames: []string{"old-a"}},
			{Name: "b", File: "b.sh", RunOnce: true, Sensitive: true},
		},
		Templates:   []DocTemplate{{Name: "t", MachineID: "psbox001", Note: "n"}},
		Assignments: []DocAssignment{{Script: "a", Machines: []string{"psbox001"}, Select: []DocSelector{{Name: "train-*"}, {MachineType: "A100", Region: "ny2"}}}},
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"psync.yaml": string(out), "b.sh": "echo b\n"})
	m, err := Load(filepath.Join(dir, "psync.yaml"))
	if err != nil {
		t.Fatalf("Load of a marshalled Document: %v\n%s", err, out)
	}
	got := struct {
		Scripts     []Script
		Templates   []Template
		Assignments []Assignment
	}{m.Scripts, m.Templates, m.Assignments}
	want := struct {
		Scripts     []Script
		Templates   []Template
		Assignments []Assignment
	}{
		Scripts: []Script{
			{Name: "a", Body: "echo a\n", IsEnabled: false, PreviousNames: []string{"old-a"}},
			{Name: "b", File: "b.sh", Body: "echo b\n", RunOnce: true, IsEnabled: true, Sensitive: true},
		},
		Templates:   []Template{{Name: "t", MachineID: "psbox001", Note: "n"}},
		Assignments: []Assignment{{Script: "a", Machines: []string{"psbox001"}, Select: []Selector{{Name: "train-*"}, {MachineType: "A100", Region: "ny2"}}}},
	}
	ignorePos := cmp.FilterPath(func(p cmp.Path) bool {
		name := p.Last().String()
		return name == ".Pos" || name == ".BodyPos" || name == ".MachinePos"
	}, cmp.Ignore())
	if diff := cmp.Diff(want, got, ignorePos); diff != "" {
		t.Errorf("(-want +got):\n%s\nmarshalled:\n%s", diff, out)
	}
}

// TestSelectorTextIsUnambiguous: a selector's text names it in plans and
// in the state's record of what it matched, so two different selectors
// never share one (a glob may hold a comma or an equals sign), and the
// usual ones keep the text older states recorded.
func TestSelectorTextIsUnambiguous(t *testing.T) {
	for _, tc := range []struct {
		sel  Selector
		want string
	}{
		{Selector{Name: "train-*"}, "name=train-*"},
		{Selector{MachineType: "A100", Region: "ny2"}, "machineType=A100,region=ny2"},
		{Selector{Name: "a", Region: "ny2"}, "name=a,region=ny2"},
		{Selector{Name: "a,region=ny2"}, `name="a,region=ny2"`},
		{Selector{Name: `say "hi"`}, `name="say \"hi\""`},
		{Selector{Region: "x=y"}, `region="x=y"`},
	} {
		if got := tc.sel.String(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.sel, got, tc.want)
		}
	}

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"psync.yaml": "version: 1\nscripts:\n  - name: x\n    script: echo\nassignments:\n  - script: x\n    select:\n      - name: a\n        region: ny2\n      - name: \"a,region=ny2\"\n"})
	m, err := Load(dir)
	if err != nil {
		t.Fatalf("two different selectors refused: %v", err)
	}
	if n := len(m.Assignments[0].Select); n != 2 {
		t.Errorf("%d selectors, want 2", n)
	}
}
