package manifest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loadEnvManifest loads a manifest with one script whose env is given as
// YAML lines.
func loadEnvManifest(t *testing.T, body string, env ...string) *Manifest {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "body.sh"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	y := "version: 1\nscripts:\n  - name: s\n    file: body.sh\n    env:\n"
	for _, e := range env {
		y += "      " + e + "\n"
	}
	p := filepath.Join(dir, "psync.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lookupMap(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestPushBodyRoundTripsThroughBash runs the pushed body with bash (and
// dash, sh) and checks that every variable, secret or plain, arrives byte
// for byte, whatever it holds.
func TestPushBodyRoundTripsThroughBash(t *testing.T) {
	requireBash(t)
	values := []string{
		"plain", "", "it's", "'", "''", `\`, `a\nb`, "two\nlines\n", "\n", "$HOME", "${PATH}", "$(id)", "`id`",
		`"double"`, "tab\there", " lead and trail ", "*", "~", "!x", "#", "a;b&c|d>e<f", "ünï©ødé", "\r\n", "--flag",
		"x=y", strings.Repeat("'\\$", 50), "\x01\x1b[31m",
		"\r", "-", "-n", "=", "'leading", "trailing'", strings.Repeat("a'b\n", 1000),
	}
	var env []string
	secrets := map[string]string{}
	want := map[string]string{}
	for i, v := range values {
		// Every value both as a secret and as a plain value.
		env = append(env, fmt.Sprintf("S%d: {fromEnv: SRC%d, allowEmpty: true}", i, i))
		secrets[fmt.Sprintf("SRC%d", i)] = v
		want[fmt.Sprintf("S%d", i)] = v
		env = append(env, fmt.Sprintf("P%d: %s", i, yamlQuote(v)))
		want[fmt.Sprintf("P%d", i)] = v
	}
	// The body prints each variable NUL-terminated, so newlines survive.
	var body strings.Builder
	body.WriteString("#!/bin/bash\nset -eu\n")
	for name := range want {
		fmt.Fprintf(&body, "printf '%%s=%%s\\0' %s \"$%s\"\n", name, name)
	}
	m := loadEnvManifest(t, body.String(), env...)
	if err := m.ResolveEnv(lookupMap(secrets)); err != nil {
		t.Fatal(err)
	}
	s := &m.Scripts[0]
	pushed, ok := s.PushBody()
	if !ok {
		t.Fatalf("PushBody not ready: %v", s.Unresolved())
	}
	if !strings.HasPrefix(pushed, "#!/bin/bash\nexport S0=plain\n") {
		t.Errorf("the export lines do not follow the shebang:\n%s", pushed[:80])
	}
	// bash, and sh where it is another shell (dash on Debian): the
	// quoting is POSIX, and a #!/bin/sh script gets the same lines.
	for _, sh := range []string{"bash", "dash", "sh"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		out, err := exec.Command(sh, "-c", pushed).Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", sh, err, pushed)
		}
		got := map[string]string{}
		for _, rec := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
			k, v, _ := strings.Cut(rec, "=")
			got[k] = v
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("variables as %s sees them (-want +got):\n%s", sh, diff)
		}
	}
	display := s.DisplayBody()
	for i := range values {
		if line := fmt.Sprintf("\nexport S%d=<secret from $SRC%d>\n", i, i); !strings.Contains(display, line) {
			t.Errorf("display body lacks %q", line)
		}
	}
}

// yamlQuote writes v as a YAML double-quoted scalar.
func yamlQuote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestExportsPlacement(t *testing.T) {
	cases := []struct{ body, want string }{
		{"#!/bin/sh\necho hi\n", "#!/bin/sh\nexport A=1\nexport B=<secret from $SB>\necho hi\n"},
		{"echo hi\n", "export A=1\nexport B=<secret from $SB>\necho hi\n"},
		{"#!/bin/sh", "#!/bin/sh\nexport A=1\nexport B=<secret from $SB>\n"},
		{"", "export A=1\nexport B=<secret from $SB>\n"},
		{"#!/usr/bin/env bash\necho hi\n", "#!/usr/bin/env bash\nexport A=1\nexport B=<secret from $SB>\necho hi\n"},
		// CRLF: the shebang line keeps its CR (the interpreter's name is
		// the user's), the export lines are plain LF lines.
		{"#!/bin/sh\r\necho hi\r\n", "#!/bin/sh\r\nexport A=1\nexport B=<secret from $SB>\necho hi\r\n"},
		// A BOM before #! is no shebang for the kernel either.
		{"\ufeff#!/bin/sh\necho hi\n", "export A=1\nexport B=<secret from $SB>\n\ufeff#!/bin/sh\necho hi\n"},
		{" #!/bin/sh\n", "export A=1\nexport B=<secret from $SB>\n #!/bin/sh\n"},
	}
	for _, c := range cases {
		m := loadEnvManifest(t, c.body, "A: 1", "B: {fromEnv: SB}")
		if got := m.Scripts[0].DisplayBody(); got != c.want {
			t.Errorf("body %q: display\n%q, want\n%q", c.body, got, c.want)
		}
	}
}

func TestResolveEnv(t *testing.T) {
	m := loadEnvManifest(t, "echo\n",
		"SET: {fromEnv: SET_VAR}",
		"MISSING: {fromEnv: MISSING_VAR}",
		"EMPTY: {fromEnv: EMPTY_VAR}",
		"EMPTY_OK: {fromEnv: EMPTY_VAR, allowEmpty: true}",
		"PLAIN: x",
	)
	env := map[string]string{"SET_VAR": "s3cr3t", "EMPTY_VAR": ""}
	if err := m.ResolveEnv(lookupMap(env)); err != nil {
		t.Fatal(err)
	}
	s := &m.Scripts[0]
	var got []string
	for _, d := range s.Unresolved() {
		got = append(got, filepath.Base(d.String()))
	}
	want := []string{
		`psync.yaml:7:7: script "s": variable MISSING: $MISSING_VAR is not set (the secret comes from psync's environment: set it, e.g. from a CI secret)`,
		`psync.yaml:8:7: script "s": variable EMPTY: $EMPTY_VAR is empty (set allowEmpty: true to push an empty value)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unresolved (-want +got):\n%s", diff)
	}
	if _, ok := s.PushBody(); ok {
		t.Error("PushBody is ready with a secret missing")
	}
	if got := s.Secrets(); len(got) != 2 || got["SET"].Reveal() != "s3cr3t" || got["EMPTY_OK"].Reveal() != "" {
		t.Errorf("Secrets() = %v", got)
	}
	// A secret printed by mistake shows a placeholder: alone, and where
	// it is kept (an unexported field, whose methods fmt cannot call), in
	// a variable, a script or the whole manifest.
	if got := fmt.Sprintf("%v %+v %#v", s.Secrets()["SET"], s.Secrets(), s.Secrets()); strings.Contains(got, "s3cr3t") {
		t.Errorf("a formatted secret shows its value: %s", got)
	}
	type holder struct {
		script Script
		m      *Manifest
	}
	for _, v := range []any{s.Env[0], s.Env, *s, s, m, *m, holder{*s, m}, &holder{*s, m}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			if got := fmt.Sprintf(verb, v); strings.Contains(got, "s3cr3t") {
				t.Errorf("%s of a %T shows the secret: %s", verb, v, got)
			}
		}
	}

	env["MISSING_VAR"], env["EMPTY_VAR"] = "m", "e"
	if err := m.ResolveEnv(lookupMap(env)); err != nil {
		t.Fatal(err)
	}
	if u := s.Unresolved(); len(u) != 0 {
		t.Errorf("still unresolved after setting them: %v", u)
	}
	pushed, ok := s.PushBody()
	want1 := "export SET=s3cr3t\nexport MISSING=m\nexport EMPTY=e\nexport EMPTY_OK=e\nexport PLAIN=x\necho\n"
	if !ok || pushed != want1 {
		t.Errorf("PushBody = %q, %v; want %q", pushed, ok, want1)
	}

	env["SET_VAR"] = strings.Repeat("x", MaxBodyBytes)
	if err := m.ResolveEnv(lookupMap(env)); err == nil || !strings.Contains(err.Error(), "is over 262144 bytes (256 KiB) with its env variables") {
		t.Errorf("an oversized body: %v", err)
	}
	env["SET_VAR"] = "a\x00b"
	if err := m.ResolveEnv(lookupMap(env)); err == nil || strings.Contains(err.Error(), "a\x00b") || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("a NUL byte: %v", err)
	}
}
