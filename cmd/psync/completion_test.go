package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// completionCases are command lines, the cursor at their end, and the
// candidates every shell must offer there (sorted).
var completionCases = []struct {
	line string
	want []string
}{
	{"psync ", []string{"apply", "completion", "import", "plan", "sandbox", "schema", "show", "state", "validate", "version"}},
	{"psync show --output ", []string{"json", "markdown", "text"}},
	{"psync validate --output ", []string{"github", "json", "text"}},
	{"psync p", []string{"plan"}},
	{"psync -f x.yaml --sandbox sb p", []string{"plan"}},
	{"psync plan --o", []string{"--out", "--output"}},
	{"psync plan --output ", []string{"github", "json", "markdown", "text"}},
	{"psync plan -o m", []string{"markdown"}},
	{"psync apply --output ", []string{"github", "json", "text"}},
	{"psync apply --auto", []string{"--auto-approve"}},
	{"psync sandbox ", []string{"serve"}},
	{"psync state ", []string{"list", "migrate", "pull", "push", "rm", "show", "unlock"}},
	{"psync sandbox serve --dialect ", []string{"paperspace-v1", "spec"}},
	{"psync --sandbox-dialect ", []string{"paperspace-v1", "spec"}},
	{"psync plan --sandbox-dialect p", []string{"paperspace-v1"}},
	{"psync completion ", []string{"bash", "fish", "zsh"}},
	// A global flag after a command, and a value that looks like a command.
	{"psync plan --no-c", []string{"--no-color"}},
	{"psync -f plan v", []string{"validate", "version"}},
}

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"completion", shell}, &IO{Stdout: &stdout, Stderr: &stderr}); code != 0 {
		t.Fatalf("psync completion %s: exit %d: %s", shell, code, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "psync."+shell)
	if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func shellOrSkip(t *testing.T, shell string) string {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		t.Skipf("%s is not installed", shell)
	}
	return path
}

// TestCompletionBash runs the bash script's completion function the way
// bash calls it, on each case.
func TestCompletionBash(t *testing.T) {
	bash := shellOrSkip(t, "bash")
	script := completionScript(t, "bash")
	for _, tc := range completionCases {
		t.Run(tc.line, func(t *testing.T) {
			// COMP_WORDS as bash splits the line (no '=' in these cases).
			words := strings.Fields(tc.line)
			if strings.HasSuffix(tc.line, " ") {
				words = append(words, "")
			}
			var quoted []string
			for _, w := range words {
				quoted = append(quoted, shellQuote(w))
			}
			prog := "source " + shellQuote(script) + "\n" +
				"COMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
				"COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n" +
				"_psync_complete\n" +
				`printf '%s\n' "${COMPREPLY[@]}" | sort` + "\n"
			out, err := exec.Command(bash, "--noprofile", "--norc", "-c", prog).CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			if diff := cmp.Diff(tc.want, strings.Fields(string(out))); diff != "" {
				t.Errorf("candidates (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompletionFish asks fish itself for the candidates (complete -C).
func TestCompletionFish(t *testing.T) {
	fish := shellOrSkip(t, "fish")
	script := completionScript(t, "fish")
	for _, tc := range completionCases {
		t.Run(tc.line, func(t *testing.T) {
			prog := "source " + shellQuote(script) + "; complete -C " + shellQuote(tc.line) + " | string replace -r '\\t.*' '' | sort"
			cmd := exec.Command(fish, "--no-config", "-c", prog)
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("fish: %v\n%s", err, out)
			}
			if diff := cmp.Diff(tc.want, strings.Fields(string(out))); diff != "" {
				t.Errorf("candidates (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompletionZsh loads the script into zsh's bash emulation the way the
// script's header says to, and calls the function as zsh's compgen -F does
// (under sh emulation, arrays from 0). zsh filters by prefix itself, so the
// candidates are filtered here. One zsh runs every case: compinit is slow.
func TestCompletionZsh(t *testing.T) {
	zsh := shellOrSkip(t, "zsh")
	script := completionScript(t, "zsh")
	dump := t.TempDir()
	prog := "autoload -U compinit && compinit -u -d " + shellQuote(filepath.Join(dump, "zcompdump")) + "\n" +
		"source " + shellQuote(script) + "\n" +
		"[[ $(complete -p) == *_psync_complete* ]] || { echo not registered; exit 1 }\n" +
		"local -a COMP_WORDS COMPREPLY\n"
	var lasts []string
	for _, tc := range completionCases {
		words := strings.Fields(tc.line)
		if strings.HasSuffix(tc.line, " ") {
			words = append(words, "")
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, shellQuote(w))
		}
		last := words[len(words)-1]
		lasts = append(lasts, last)
		prog += "COMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
			"COMP_CWORD=$(( ${#COMP_WORDS} - 1 ))\n" +
			"compgen -F _psync_complete -- " + shellQuote(last) + "\n" +
			"echo ---\n"
	}
	cmd := exec.Command(zsh, "-f", "-c", prog)
	cmd.Env = append(os.Environ(), "HOME="+dump)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	results := strings.Split(string(out), "---\n")
	if len(results) != len(completionCases)+1 {
		t.Fatalf("zsh printed %d results for %d cases:\n%s", len(results)-1, len(completionCases), out)
	}
	for i, tc := range completionCases {
		var got []string
		for _, c := range strings.Fields(results[i]) {
			if strings.HasPrefix(c, lasts[i]) {
				got = append(got, c)
			}
		}
		slices.Sort(got)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q: candidates (-want +got):\n%s", tc.line, diff)
		}
	}
}
