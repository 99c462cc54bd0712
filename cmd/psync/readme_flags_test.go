package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"gopkg.in/yaml.v3"
)

// sectionsAlsoDocumenting are README sections ("## NAME") that document
// flags of a command besides its own section.
var sectionsAlsoDocumenting = map[string]string{
	"sandbox serve": "The sandbox", // the paperspace-v1 flags, with the dialect
}

// flagsDocumentedElsewhere are flags the README documents outside their
// command's section, with where.
var flagsDocumentedElsewhere = map[string]string{
	"--version": "its own section, psync version (or psync --version)",
}

// TestReadmeDocumentsEveryFlag keeps the README's flag tables whole: every
// flag that --help shows must be named (`--flag`, `-f, --flag`, [--flag])
// in its command's section of the README ("### `psync CMD"), and every global flag in the
// Commands section's own table. A flag added without a line in the manual
// fails here.
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cli CLI
	parser, err := kong.New(&cli, kong.Vars{"defaultManifest": defaultManifest, "defaultAPIURL": defaultAPIURL})
	if err != nil {
		t.Fatal(err)
	}
	globals, err := readmeCommandsIntro(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		path := strings.TrimSpace(strings.TrimPrefix(n.Path(), parser.Model.Name))
		section, where := globals, "the Commands section's table of global flags"
		if n.Type == kong.CommandNode {
			var err error
			if section, err = readmeCommandSection(string(readme), path); err != nil {
				t.Errorf("psync %s has flags: %v", path, err)
				return
			}
			where = "the README's section on psync " + path
			if also, ok := sectionsAlsoDocumenting[path]; ok {
				_, rest, found := strings.Cut(string(readme), "\n## "+also+"\n")
				if !found {
					t.Fatalf("the README has no %q section", also)
				}
				extra, _, _ := strings.Cut(rest, "\n## ")
				section += extra
				where += " and its section " + also
			}
		}
		for _, f := range n.Flags {
			if f.Hidden || f.Name == "help" {
				continue
			}
			name := "--" + f.Name
			if _, ok := flagsDocumentedElsewhere[name]; ok {
				continue
			}
			checked++
			if !regexp.MustCompile("[`\\[ ]" + regexp.QuoteMeta(name) + "[ `=,|\\]]").MatchString(section) {
				t.Errorf("psync %s has the flag %s, which %s does not name as `%s`", path, name, where, name)
			}
		}
		for _, c := range n.Children {
			if !c.Hidden {
				walk(c)
			}
		}
	}
	walk(parser.Model.Node)
	if checked < 40 {
		t.Fatalf("checked only %d flags; the walk of the command line is broken", checked)
	}
}

// readmeCommandsIntro is the README's "## Commands" section up to its first
// command, where the global flags are.
func readmeCommandsIntro(readme string) (string, error) {
	_, rest, ok := strings.Cut(readme, "\n## Commands\n")
	if !ok {
		return "", errors.New(`no "## Commands" section`)
	}
	intro, _, _ := strings.Cut(rest, "\n### ")
	return intro, nil
}

// readmeCommandSection is the README's section on the command at path
// ("plan", "state push"): the "### `psync WORD" heading whose first word
// is path's, up to the next heading.
func readmeCommandSection(readme, path string) (string, error) {
	first, _, _ := strings.Cut(path, " ")
	for _, part := range strings.Split(readme, "\n### ")[1:] {
		heading, body, _ := strings.Cut(part, "\n")
		rest, ok := strings.CutPrefix(heading, "`psync "+first)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '`') {
			continue
		}
		body, _, _ = strings.Cut(body, "\n## ")
		return heading + "\n" + body, nil
	}
	return "", fmt.Errorf("the README has no \"### `psync %s\" section", first)
}

// TestReadmeDocumentsEveryActionInput keeps the README's table of the
// GitHub Action's inputs whole: every input and output of action.yml must
// have its row (| `name` |) in the "In CI" section.
func TestReadmeDocumentsEveryActionInput(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ci, ok := strings.Cut(string(readme), "\n## In CI (GitHub Actions)\n")
	if !ok {
		t.Fatal(`the README has no "## In CI (GitHub Actions)" section`)
	}
	ci, _, _ = strings.Cut(ci, "\n## ")
	b, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs  map[string]any `yaml:"inputs"`
		Outputs map[string]any `yaml:"outputs"`
	}
	if err := yaml.Unmarshal(b, &action); err != nil {
		t.Fatal(err)
	}
	if len(action.Inputs) < 5 {
		t.Fatalf("action.yml has %d inputs; reading it is broken", len(action.Inputs))
	}
	for kind, names := range map[string]map[string]any{"input": action.Inputs, "output": action.Outputs} {
		for name := range names {
			if !strings.Contains(ci, "\n| `"+name+"` |") {
				t.Errorf("action.yml has the %s %q, which the README's In CI section has no row for (| `%s` | ...)", kind, name, name)
			}
		}
	}
}
