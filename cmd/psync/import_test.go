package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// import writes the bodies the state holds, and only those: never a
// sensitive one (not stored), never one that held a secret (stored with
// placeholders), never over an existing file or through a symbolic link.
func TestImportWritesTheBodiesTheStateHolds(t *testing.T) {
	dir := t.TempDir()
	body := func(s string) *string { return &s }
	st := state.New()
	st.PutScript(state.Script{ID: "s1", Name: "plain", Body: body("echo plain\n"), BodySHA256: state.BodyHash("echo plain\n")})
	st.PutScript(state.Script{ID: "s2", Name: "secret", Sensitive: true})
	st.PutScript(state.Script{ID: "s3", Name: "with-token", Body: body("export T=<secret from $T>\n"), BodyHMAC: "hmac"})
	st.PutScript(state.Script{ID: "s4", Name: "kept", Body: body("echo new\n")})
	st.PutScript(state.Script{ID: "s5", Name: "linked", Body: body("echo linked\n")})
	doc := &importedManifest{scriptIDs: map[string]string{}}
	for _, s := range []struct{ id, name string }{{"s1", "plain"}, {"s2", "secret"}, {"s3", "with-token"}, {"s4", "kept"}, {"s5", "linked"}, {"s6", "unknown"}} {
		doc.Scripts = append(doc.Scripts, importedScript{Name: s.name, File: "scripts/" + s.name + ".sh"})
		doc.scriptIDs[s.name] = s.id
	}
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scripts", "kept.sh"), []byte("echo mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "target")
	if err := os.Symlink(outside, filepath.Join(dir, "scripts", "linked.sh")); err != nil {
		t.Fatal(err)
	}

	n, err := writeKnownBodies(dir, doc, st)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("wrote %d files, want 1", n)
	}
	for file, want := range map[string]string{"plain.sh": "echo plain\n", "kept.sh": "echo mine\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, "scripts", file)); err != nil || string(got) != want {
			t.Errorf("scripts/%s = %q (%v), want %q", file, got, err, want)
		}
	}
	for _, file := range []string{"secret.sh", "with-token.sh", "unknown.sh"} {
		if _, err := os.Stat(filepath.Join(dir, "scripts", file)); err == nil {
			t.Errorf("scripts/%s was written", file)
		}
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("a body was written through a symbolic link")
	}
}

// Script files differ in more than case: on a case-insensitive file system
// (macOS, Windows) scripts/Setup.sh and scripts/setup.sh are one file, so
// import would write one script's body there and leave the other pointing
// at it, and the next apply would push that body to both.
func TestImportFileNamesDifferInMoreThanCase(t *testing.T) {
	snap := &remote.Snapshot{Scripts: []remote.Script{
		{ID: "s1", Name: "Setup", IsEnabled: true}, {ID: "s2", Name: "setup", IsEnabled: true}, {ID: "s3", Name: "SETUP", IsEnabled: true},
	}}
	doc, _ := describe(snap, state.New())
	seen := map[string]string{}
	for _, s := range doc.Scripts {
		folded := strings.ToLower(s.File)
		if other, ok := seen[folded]; ok {
			t.Errorf("scripts %q and %q share the file %s on a case-insensitive file system", other, s.Name, s.File)
		}
		seen[folded] = s.Name
	}
}
