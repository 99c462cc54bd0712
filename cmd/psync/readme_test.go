package main

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// quickStartNotScripted are README quick-start commands that
// testdata/script/quickstart.txtar cannot run, with the reason.
var quickStartNotScripted = map[string]string{
	"go test ./...": "it is the test suite the script runs in",
}

// TestReadmeQuickStart keeps the README's quick start honest: its psync
// commands must be exactly the commands quickstart.txtar runs, so a change
// to either that is not made to the other fails here.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	commands, err := quickStartCommands(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	var want []string
	for _, c := range commands {
		if rest, ok := strings.CutPrefix(c, "go run ./cmd/psync "); ok {
			want = append(want, "psync "+rest)
			continue
		}
		if _, ok := quickStartNotScripted[c]; !ok {
			t.Errorf("README.md quick start runs %q: quickstart.txtar cannot run it; write psync commands as \"go run ./cmd/psync ...\", or list it in quickStartNotScripted with the reason", c)
		}
	}
	if len(want) == 0 {
		t.Fatalf("README.md quick start has no psync command; commands found: %q", commands)
	}

	script, err := os.ReadFile("testdata/script/quickstart.txtar")
	if err != nil {
		t.Fatal(err)
	}
	got := scriptedQuickStart(string(script))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the README's quick-start commands (want) differ from the exec lines of quickstart.txtar's first paragraph (got) (-want +got):\n%s", diff)
	}
}

// quickStartCommands returns the command lines of the first fenced code
// block after the README's "## Quick start" heading, with runs of blanks
// collapsed, "\" continuations joined, and blank and comment lines dropped.
func quickStartCommands(readme string) ([]string, error) {
	lines := strings.Split(strings.ReplaceAll(readme, "\r\n", "\n"), "\n")
	i := 0
	for ; i < len(lines); i++ {
		if h, ok := strings.CutPrefix(lines[i], "## "); ok && strings.EqualFold(strings.TrimSpace(h), "quick start") {
			break
		}
	}
	if i == len(lines) {
		return nil, errors.New(`no "## Quick start" heading`)
	}
	for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
		if strings.HasPrefix(lines[i], "## ") {
			return nil, errors.New("no code block in the quick start section")
		}
	}
	if i == len(lines) {
		return nil, errors.New("no code block in the quick start section")
	}
	var commands []string
	pending := ""
	for i++; ; i++ {
		if i == len(lines) {
			return nil, errors.New("the quick start's code block is not closed")
		}
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, "```") {
			break
		}
		line = strings.TrimPrefix(line, "$ ")
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += cont + " "
			continue
		}
		line = strings.Join(strings.Fields(pending+line), " ")
		pending = ""
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		commands = append(commands, line)
	}
	return commands, nil
}

// scriptedQuickStart returns the "exec psync" commands of the script's first
// paragraph (up to its first blank line), blanks collapsed.
func scriptedQuickStart(script string) []string {
	var got []string
	sc := bufio.NewScanner(strings.NewReader(script))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			break
		}
		if rest, ok := strings.CutPrefix(line, "exec "); ok {
			got = append(got, strings.Join(strings.Fields(rest), " "))
		}
	}
	return got
}

func TestQuickStartCommands(t *testing.T) {
	for _, tc := range []struct {
		name, readme string
		want         []string
		wantErr      bool
	}{
		{
			name:   "plain",
			readme: "# psync\n\n## Quick start\n\nText.\n\n```sh\ngo run ./cmd/psync --sandbox .sandbox apply\ngo test ./...\n```\n\n```sh\nlater\n```\n",
			want:   []string{"go run ./cmd/psync --sandbox .sandbox apply", "go test ./..."},
		},
		{
			name:   "prompts, comments, continuations and extra blanks",
			readme: "## Quick Start\n```\n# apply it\n$ go run ./cmd/psync  --sandbox .sandbox \\\n    apply\n\n```\n",
			want:   []string{"go run ./cmd/psync --sandbox .sandbox apply"},
		},
		{name: "no heading", readme: "## Install\n```\ngo run ./cmd/psync\n```\n", wantErr: true},
		{name: "no block in the section", readme: "## Quick start\ntext\n## Next\n```\nx\n```\n", wantErr: true},
		{name: "unclosed block", readme: "## Quick start\n```\nx\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := quickStartCommands(tc.readme)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("quickStartCommands (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEveryExampleIsRun keeps the examples working: each examples/DIR with
// a manifest must be copied into some testscript (copydir $REPO/examples/DIR),
// which applies it to an empty sandbox.
func TestEveryExampleIsRun(t *testing.T) {
	dirs, err := os.ReadDir("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, s := range scripts {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join("../../examples", d.Name(), "psync.yaml")); err != nil {
			continue
		}
		if !strings.Contains(all.String(), "copydir $REPO/examples/"+d.Name()+" ") {
			t.Errorf("examples/%s has a manifest but no testscript runs it (copydir $REPO/examples/%s ...)", d.Name(), d.Name())
		}
	}
}
