package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestReadmeSandboxCommands runs, in a copy of the repository's examples
// and in the order a new user meets them, the README's quick start, the
// commands the examples' manifests suggest in their comments, and the
// README's "sandbox serve" example: each must work as printed. (Only the
// served sandbox's port differs: 8080 may be taken on a shared machine.)
// They used to fail after the quick start: a manifest comment's sandbox
// was another API than the one the quick start's state belongs to (exit
// 3), and the serve example planned a psync.yaml that is not there.
func TestReadmeSandboxCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	quick, err := quickStartCommands(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	serve, err := sectionCommands(string(readme), "The sandbox")
	if err != nil {
		t.Fatal(err)
	}
	if len(serve) != 2 || !strings.Contains(serve[0], " sandbox serve ") {
		t.Fatalf("the README's sandbox section shows %q, want a sandbox serve command and one using it", serve)
	}
	var suggested []string
	manifests, _ := filepath.Glob(filepath.Join(examples, "*", "psync.yaml"))
	for _, m := range manifests {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if c, ok := strings.CutPrefix(line, "#"); ok && strings.Contains(c, "cmd/psync") {
				suggested = append(suggested, strings.TrimSpace(c))
			}
		}
	}
	if len(suggested) < 2 {
		t.Fatalf("the examples suggest %q, want a command in each manifest's comment", suggested)
	}

	dir := t.TempDir()
	for _, name := range []string{"quickstart", "ml-team"} {
		if err := os.CopyFS(filepath.Join(dir, "examples", name), os.DirFS(filepath.Join(examples, name))); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "examples", name, "psync.state.json")) // a clone has none
	}
	t.Chdir(dir)
	t.Setenv("PSYNC_SANDBOX_DIALECT", "")
	t.Setenv("PAPERSPACE_API_KEY", "")
	t.Setenv("PAPERSPACE_API_URL", "")

	for _, c := range append(quick, suggested...) {
		if _, ok := quickStartNotScripted[c]; ok {
			continue
		}
		runPrinted(t, c)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	stop := make(chan os.Signal, 1)
	served := make(chan int, 1)
	var serveErr syncBuffer
	go func() {
		env, args := printedCommand(t, strings.ReplaceAll(serve[0], "127.0.0.1:8080", addr))
		if len(env) > 0 {
			t.Errorf("%q sets the environment; run it in the test's own", serve[0])
		}
		served <- run(args, &IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &serveErr, Interrupts: stop})
	}()
	t.Cleanup(func() {
		stop <- os.Interrupt
		<-served
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			break
		}
		select {
		case code := <-served:
			t.Fatalf("%s: exit %d\n%s", serve[0], code, serveErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not listening on %s\n%s", serve[0], addr, serveErr.String())
		}
	}
	runPrinted(t, strings.ReplaceAll(serve[1], "127.0.0.1:8080", addr))
}

// runPrinted runs a command as a README prints it: leading NAME=value
// words set the environment, and "go run ./cmd/psync" is psync. It must
// exit 0.
func runPrinted(t *testing.T, command string) {
	t.Helper()
	env, args := printedCommand(t, command)
	for k, v := range env {
		t.Setenv(k, v)
	}
	code, stdout, stderr := runPsync(t, args...)
	for k := range env {
		os.Unsetenv(k)
	}
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", command, code, stdout, stderr)
	}
}

// printedCommand splits "A=1 B=2 go run ./cmd/psync ARGS..." into the
// environment and psync's arguments.
func printedCommand(t *testing.T, command string) (map[string]string, []string) {
	t.Helper()
	words := strings.Fields(command)
	env := map[string]string{}
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		k, v, _ := strings.Cut(words[0], "=")
		env[k] = v
		words = words[1:]
	}
	if len(words) < 3 || words[0] != "go" || words[1] != "run" || words[2] != "./cmd/psync" {
		t.Fatalf("%q is not a psync command (go run ./cmd/psync ...)", command)
	}
	return env, words[3:]
}

// sectionCommands returns the command lines of the first code block of
// the README section with the given heading.
func sectionCommands(readme, heading string) ([]string, error) {
	_, rest, ok := strings.Cut(readme, "\n## "+heading+"\n")
	if !ok {
		return nil, fmt.Errorf("no %q section", heading)
	}
	return quickStartCommands("## Quick start\n" + rest)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader on
// different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
