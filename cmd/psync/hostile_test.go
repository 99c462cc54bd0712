package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// TestManifestHoldingTheKeyIsRefused: a manifest (from a pull request,
// say) that holds the API key in a value psync prints or records is
// refused before anything is printed, in each encoding; a sensitive body
// may hold it.
func TestManifestHoldingTheKeyIsRefused(t *testing.T) {
	inst := startSandbox(t)
	key := inst.Key
	tests := []struct {
		name, manifest string
		wantCode       int
	}{
		{"body", "version: 1\nscripts:\n  - name: a\n    script: \"curl -H 'Authorization: Bearer " + key + "'\\n\"\n", 1},
		{"body base64", "version: 1\nscripts:\n  - name: a\n    script: \"echo " + base64.StdEncoding.EncodeToString([]byte("Bearer "+key)) + "\\n\"\n", 1},
		{"template note", "version: 1\ntemplates:\n  - name: t\n    machineId: psbox001\n    note: \"" + key + "\"\n", 1},
		{"script name", "version: 1\nscripts:\n  - name: \"" + key + "\"\n    script: \"echo\\n\"\n", 1},
		{"sensitive body", "version: 1\nscripts:\n  - name: a\n    sensitive: true\n    script: \"export KEY=" + key + "\\n\"\n", 2},
		// The export line of a plain value is in every plan and the state.
		{"plain env value", "version: 1\nscripts:\n  - name: a\n    script: \"echo\\n\"\n    env:\n      K: \"" + key + "\"\n", 1},
		// psync's own credential under another name would go to the
		// machines, as $PAPERSPACE_API_KEY is refused for.
		{"secret env value", "version: 1\nscripts:\n  - name: a\n    script: \"echo\\n\"\n    env:\n      K: {fromEnv: PS_KEY_COPY}\n", 1},
	}
	t.Setenv("PS_KEY_COPY", key)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeManifest(t, tt.manifest)
			code, stdout, stderr := runPsync(t, "-f", path, "plan", "--detailed-exitcode")
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if tt.wantCode == 1 && !strings.Contains(stderr, "contains the API key") {
				t.Errorf("stderr does not say why:\n%s", stderr)
			}
			if strings.Contains(stdout+stderr, key) {
				t.Errorf("the key is in the output:\n%s\n%s", stdout, stderr)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), "psync.state.json")); err == nil {
				t.Error("a state file was written")
			}
		})
	}
}

// TestHostileAPIErrorIsEscaped: an API error whose message, code, details
// and issues carry terminal escapes, line breaks and bidirectional
// overrides prints as one inert, visible line.
func TestHostileAPIErrorIsEscaped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"code":"BAD\u001b[31m","message":"denied\u001b[2J\rpsync: Apply complete\nforged\u202eline","details":{"x\u0007":"\u200b"},"issues":[{"path":["\u2066a"],"message":"\u001b]8;;http://evil\u0007"}]}`))
	}))
	defer srv.Close()
	t.Setenv("PAPERSPACE_API_URL", srv.URL)
	t.Setenv("PAPERSPACE_API_KEY", "psk_test_hostile_0123")
	path := writeManifest(t, twoScripts)
	code, stdout, stderr := runPsync(t, "-f", path, "plan")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, bad := range []string{"\x1b", "\r", "\a", "\u202e", "\u200b", "\u2066", "\nforged"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr holds %q raw:\n%q", bad, stderr)
		}
	}
	if !strings.Contains(stderr, `\x1b[2J`) || !strings.Contains(stderr, `\u202e`) {
		t.Errorf("stderr does not show the escapes:\n%s", stderr)
	}
}

// TestTrojanSourceIsVisible: bidirectional overrides and zero-width
// characters show escaped in a plan's body diff (text and Markdown) and
// are flagged in an imported manifest, so a reviewer sees what will run.
func TestTrojanSourceIsVisible(t *testing.T) {
	inst := startSandbox(t)
	path := writeManifest(t, "version: 1\nscripts:\n  - name: a\n    script: \"if [ \\\"$ROLE\\\" != \\\"user\u202e \u2066# admin\u2069 \u2066\\\" ]; then\\n  echo ok\u200b\\nfi\\n\"\n")
	for _, format := range []string{"text", "markdown"} {
		code, stdout, stderr := runPsync(t, "-f", path, "plan", "-o", format)
		if code != 0 {
			t.Fatalf("plan -o %s: exit %d\n%s", format, code, stderr)
		}
		for _, r := range []string{"\u202e", "\u2066", "\u2069", "\u200b"} {
			if strings.Contains(stdout, r) {
				t.Errorf("plan -o %s prints %U raw:\n%s", format, []rune(r)[0], stdout)
			}
		}
		if !strings.Contains(stdout, `\u202e`) || !strings.Contains(stdout, `\u200b`) {
			t.Errorf("plan -o %s does not show the characters escaped:\n%s", format, stdout)
		}
	}

	c, err := remote.New(remote.Config{BaseURL: inst.URL, APIKey: inst.Key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateScript(context.Background(), remote.ScriptInput{Name: "setup\u202egnp.sh", Body: "echo\n", IsEnabled: true}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "imported.yaml")
	code, _, stderr := runPsync(t, "import", "--out", out)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "  # psync: invisible or bidirectional characters on the next line: - name: setup\\u202egnp.sh\n  - name: setup\u202egnp.sh") {
		t.Errorf("the imported manifest does not flag the name:\n%s", data)
	}
	if !strings.Contains(stderr, "invisible or bidirectional") {
		t.Errorf("import does not warn:\n%s", stderr)
	}
}

// TestUnboundStateIsSaidAndBound: a state that owns objects but records no
// target is not taken silently: plan says so, and apply records the target.
func TestUnboundStateIsSaidAndBound(t *testing.T) {
	startSandbox(t)
	path := writeManifest(t, "version: 1\n")
	statePath := filepath.Join(filepath.Dir(path), "psync.state.json")
	st := state.New()
	st.PutScript(state.Script{ID: "scr_gone", Name: "old", IsEnabled: true})
	if err := st.Save(statePath); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runPsync(t, "-f", path, "plan")
	if code != 0 || !strings.Contains(stderr, "records no API URL or team") {
		t.Fatalf("plan: exit %d, want a warning about the unbound state\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runPsync(t, "-f", path, "apply", "--auto-approve", "--allow-mass-delete")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	got, err := state.Load(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if got.APIURL == "" {
		t.Error("apply did not record the target")
	}
}

// TestStateNamesAreEscaped: a name or id from a state file (state list,
// rm, push) that holds a control or invisible character is printed
// quoted, with the character escaped; a plain one as it is.
func TestStateNamesAreEscaped(t *testing.T) {
	for _, r := range []rune{'\x1b', '\t', '\u009b', '\u202e', '\u200b', '\ufeff', '\u2028', '\u2060', '\U000E0041', '\u00ad', '\u3164'} {
		name := "a" + string(r) + "[2Jb"
		if got := safe(name); strings.ContainsRune(got, r) || !strings.HasPrefix(got, `"`) {
			t.Errorf("safe(%q) = %q: not escaped", name, got)
		}
	}
	if got := safe("setup-gpu é"); got != "setup-gpu é" {
		t.Errorf("safe of a plain name = %q", got)
	}
}

// TestTeamlessStateIsSaidAndBound: a state that records the API URL but no
// team is not tied to the key's team either (every team shares the URL):
// plan says so, and apply records the team.
func TestTeamlessStateIsSaidAndBound(t *testing.T) {
	// The live dialect says whose a key is (GET /auth/session).
	inst, err := sandbox.Start(sandbox.Config{Dialect: sandbox.DialectPaperspace1, Keys: map[string]string{"key-of-team-a": "team-a"}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	t.Setenv("PAPERSPACE_API_URL", inst.URL)
	t.Setenv("PAPERSPACE_API_KEY", "key-of-team-a")
	path := writeManifest(t, "version: 1\n")
	statePath := filepath.Join(filepath.Dir(path), "psync.state.json")
	st := state.New()
	base, err := remote.ParseBaseURL(inst.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	st.APIURL = base.String()
	st.PutScript(state.Script{ID: "scr_gone", Name: "old", IsEnabled: true})
	if err := st.Save(statePath); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runPsync(t, "-f", path, "plan")
	if code != 0 || !strings.Contains(stderr, "records no API URL or team") {
		t.Fatalf("plan: exit %d, want a warning about the state without a team\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runPsync(t, "-f", path, "apply", "--auto-approve", "--allow-mass-delete")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	got, err := state.Load(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if got.Team != "team-a" {
		t.Errorf("apply recorded team %q, want team-a", got.Team)
	}
}
