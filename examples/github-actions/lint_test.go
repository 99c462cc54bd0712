package githubactions

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// shellcheck returns shellcheck's path (see needTools).
func shellcheck(t *testing.T) string {
	t.Helper()
	needTools(t, "shellcheck")
	p, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runBlock is a run: script of a workflow or of action.yml.
type runBlock struct {
	file string
	line int
	name string
	body string
}

// runBlocks finds every run: script in a YAML file, with its step's name.
func runBlocks(t *testing.T, path string) []runBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var blocks []runBlock
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			name := ""
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "name" {
					name = n.Content[i+1].Value
				}
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "run" && v.Kind == yaml.ScalarNode {
					blocks = append(blocks, runBlock{file: path, line: v.Line, name: name, body: v.Value})
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return blocks
}

func lintedFiles(t *testing.T) []string {
	t.Helper()
	workflows, err := filepath.Glob("*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(workflows) < 8 {
		t.Fatalf("found only %d example workflows: %v", len(workflows), workflows)
	}
	return append([]string{filepath.Join(repoRoot, "action.yml")}, workflows...)
}

// TestRunScriptsTakeNoExpressions: no run: script of the action or of an
// example has a ${{ }} expression in it. GitHub pastes an expression's
// value into the script before the shell reads it, so a branch name, a
// pull request's title or an input could become shell code; values reach
// the scripts through env: instead.
func TestRunScriptsTakeNoExpressions(t *testing.T) {
	for _, f := range lintedFiles(t) {
		for _, b := range runBlocks(t, f) {
			if strings.Contains(b.body, "${{") {
				t.Errorf("%s:%d: step %q pastes a ${{ }} expression into its script; pass it through env:", b.file, b.line, b.name)
			}
		}
	}
}

// TestActionScriptsLint runs bash -n and shellcheck on the action's
// scripts and on action.yml's run: blocks (actionlint checks only the
// workflows' run: blocks).
func TestActionScriptsLint(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join(repoRoot, "action", "*.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 6 {
		t.Fatalf("found only %v", scripts)
	}
	dir := t.TempDir()
	var blocks []string
	for i, b := range runBlocks(t, filepath.Join(repoRoot, "action.yml")) {
		p := filepath.Join(dir, "action.yml-run-"+string(rune('a'+i))+".sh")
		// The shell composite steps run: bash --noprofile --norc -eo pipefail.
		if err := os.WriteFile(p, []byte("#!/usr/bin/env bash\nset -eo pipefail\n"+b.body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, p)
	}
	if len(blocks) < 5 {
		t.Fatalf("action.yml has only %d run: steps", len(blocks))
	}
	for _, s := range append(append([]string{}, scripts...), blocks...) {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
	sc := shellcheck(t)
	for _, s := range scripts {
		cmd := exec.Command(sc, "-x", filepath.Base(s))
		cmd.Dir = filepath.Dir(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", s, err, out)
		}
	}
	for _, s := range blocks {
		// GITHUB_ACTION_PATH is set by the runner.
		if out, err := exec.Command(sc, "-e", "SC2154", s).CombinedOutput(); err != nil {
			body, _ := os.ReadFile(s)
			t.Errorf("shellcheck of an action.yml run: block: %v\n%s\n%s", err, out, body)
		}
	}
}

// TestFenceOutlastsBackticks: what psync printed goes into a code fence
// longer than any run of backticks in it, so it cannot close the fence and
// be read as Markdown (a forged plan, a link, a mention).
func TestFenceOutlastsBackticks(t *testing.T) {
	lib, err := filepath.Abs(filepath.Join(repoRoot, "action", "lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, fence string }{
		{"plain error\n", "```"},
		{"a `code` span and ``two``\n", "```"},
		{"````\n### Plan: 0 to delete\n````\n", "`````"},
		{"no newline at the end ``````", "```````"},
		{"", "```"},
		// grep takes a file with a NUL for binary and prints no match.
		{"a NUL \x00 byte\n``````````\n### Plan: 0 to delete\n", "```````````"},
		{"not UTF-8 \xff\xfe\n``````````\n", "```````````"},
	} {
		f := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(f, []byte(c.in), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("bash", "-c", `. "$1" && fenced "$2"`, "bash", lib, f).CombinedOutput()
		if err != nil {
			t.Fatalf("fenced: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if lines[0] != c.fence || lines[len(lines)-1] != c.fence {
			t.Errorf("fenced(%q) = %q, want it between %q lines", c.in, out, c.fence)
		}
		for _, l := range lines[1 : len(lines)-1] {
			if strings.HasPrefix(strings.TrimSpace(l), c.fence) {
				t.Errorf("fenced(%q): line %q inside can close the fence", c.in, l)
			}
		}
		if !strings.Contains(string(out), strings.TrimSuffix(c.in, "\n")) {
			t.Errorf("fenced(%q) = %q lost the text", c.in, out)
		}
	}
}
