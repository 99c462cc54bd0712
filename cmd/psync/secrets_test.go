package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// The secrets of the tests below: a fromEnv value with every character
// that an encoding changes, and a line of a sensitive body.
const (
	envSecret       = `tskey-auth-k9Zq'"\$<&>/ü` + "\n2nd line"
	sensitiveSecret = "DB_PASSWORD=hunter2-correct-horse"
)

const secretsManifest = `version: 1
scripts:
  - name: join-tailnet
    file: join.sh
    env:
      TS_AUTHKEY: { fromEnv: TAILSCALE_AUTHKEY }
      TS_HOSTNAME_PREFIX: train
  - name: db
    script: "#!/bin/sh\nexport ` + sensitiveSecret + `\nexec db-agent\n"
    sensitive: true
  - name: plain
    script: "echo plain\n"
assignments:
  - script: join-tailnet
    machines: [psbox001]
`

const joinBody = "#!/bin/bash\nset -eu\ntailscale up --authkey \"$TS_AUTHKEY\" --hostname \"$TS_HOSTNAME_PREFIX-$(hostname)\"\n"

// secretManifestDir writes secretsManifest and its script file.
func secretManifestDir(t *testing.T) string {
	t.Helper()
	m := writeManifest(t, secretsManifest)
	if err := os.WriteFile(filepath.Join(filepath.Dir(m), "join.sh"), []byte(joinBody), 0o644); err != nil {
		t.Fatal(err)
	}
	return m
}

// encodings are the forms a secret could take in psync's output or files:
// raw, JSON-escaped (with and without HTML escaping), Go-quoted,
// shell-quoted, URL-escaped, base64 (both alphabets, padded or not), hex,
// and its bare SHA-256.
func encodings(v string, lines bool) map[string]string {
	out := map[string]string{"raw": v}
	b, _ := json.Marshal(v)
	out["json"] = string(b[1 : len(b)-1])
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	j := strings.TrimSpace(buf.String())
	out["json-no-html"] = j[1 : len(j)-1]
	q := strconv.Quote(v)
	out["go-quoted"] = q[1 : len(q)-1]
	out["shell-quoted"] = manifest.ShellQuote(v)
	out["query-escaped"] = url.QueryEscape(v)
	out["path-escaped"] = url.PathEscape(v)
	out["base64"] = base64.StdEncoding.EncodeToString([]byte(v))
	out["base64url"] = base64.RawURLEncoding.EncodeToString([]byte(v))
	out["hex"] = hex.EncodeToString([]byte(v))
	sum := sha256.Sum256([]byte(v))
	out["sha256"] = hex.EncodeToString(sum[:])
	// Each line alone (a quoted excerpt), for a secret, not for a pushed
	// body, whose other lines are public.
	for i, line := range strings.Split(v, "\n") {
		if lines && len(line) >= 6 {
			out[fmt.Sprintf("line %d", i+1)] = line
		}
	}
	return out
}

// leakCheck finds any encoding of any secret in what psync printed or
// wrote.
type leakCheck struct {
	t     *testing.T
	forms map[string]string // "what: encoding" -> the text
}

func newLeakCheck(t *testing.T, secrets map[string]string) *leakCheck {
	l := &leakCheck{t: t, forms: map[string]string{}}
	for what, v := range secrets {
		for enc, f := range encodings(v, !strings.HasPrefix(what, "pushed")) {
			l.forms[what+" "+enc] = f
		}
	}
	return l
}

func (l *leakCheck) scan(where, text string) {
	l.t.Helper()
	for what, f := range l.forms {
		if strings.Contains(text, f) {
			l.t.Errorf("%s holds the %s (%q)", where, what, f)
		}
	}
}

func (l *leakCheck) scanFile(path string) {
	l.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		l.t.Fatal(err)
	}
	l.scan(filepath.Base(path), string(data))
}

// pushedSecrets are the secrets and the bodies that hold them as pushed.
func pushedSecrets() map[string]string {
	return map[string]string{
		"env secret":          envSecret,
		"sensitive line":      sensitiveSecret,
		"sensitive body":      "#!/bin/sh\nexport " + sensitiveSecret + "\nexec db-agent\n",
		"pushed join-tailnet": "#!/bin/bash\nexport TS_AUTHKEY=" + manifest.ShellQuote(envSecret) + "\nexport TS_HOSTNAME_PREFIX=train\nset -eu\n",
		"pushed export line":  "export TS_AUTHKEY=" + manifest.ShellQuote(envSecret),
	}
}

// TestSecretsNeverLeak runs plans (text, Markdown, JSON, GitHub, saved and
// shown) and applies (text, JSON, --debug), and prints the state, of a
// manifest with a secret variable and a sensitive script, and finds no
// secret in any encoding in any output, the state file or the saved
// plan, while the sandbox received every value byte for byte.
func TestSecretsNeverLeak(t *testing.T) {
	inst := startSandbox(t)
	t.Setenv("TAILSCALE_AUTHKEY", envSecret)
	m := secretManifestDir(t)
	dir := filepath.Dir(m)
	leaks := newLeakCheck(t, pushedSecrets())
	planFile := filepath.Join(dir, "plan.json")
	runs := [][]string{
		{"--debug", "-f", m, "plan"},
		{"-f", m, "plan", "-o", "markdown"},
		{"-f", m, "plan", "-o", "json"},
		{"-f", m, "plan", "-o", "github"},
		{"-f", m, "plan", "--out", planFile},
		{"-f", m, "show", planFile},
		{"-f", m, "show", "-o", "markdown", planFile},
		{"-f", m, "show", "-o", "json", planFile},
		{"--debug", "-f", m, "apply", planFile},
		{"-f", m, "plan", "--detailed-exitcode"},
		{"-f", m, "state", "pull"},
		{"-f", m, "state", "show", "script/join-tailnet"},
		{"-f", m, "state", "show", "script/db"},
		{"-f", m, "plan", "-o", "json", "--replace", "script/join-tailnet", "--replace", "script/db"},
	}
	for _, args := range runs {
		code, stdout, stderr := runPsync(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		leaks.scan(fmt.Sprint(args, " stdout"), stdout)
		leaks.scan(fmt.Sprint(args, " stderr"), stderr)
		if args[len(args)-1] == "markdown" && !strings.Contains(stdout, "export TS_AUTHKEY=<secret from $TAILSCALE_AUTHKEY>") {
			t.Errorf("the Markdown plan does not show the secret's placeholder:\n%s", stdout)
		}
	}
	leaks.scanFile(planFile)
	leaks.scanFile(filepath.Join(dir, state.DefaultFileName))

	// Rotated: an update naming the variable, neither value shown; applied
	// with the JSON report.
	t.Setenv("TAILSCALE_AUTHKEY", envSecret+"-rotated")
	rotated := newLeakCheck(t, map[string]string{"old secret": envSecret, "new secret": envSecret + "-rotated"})
	code, stdout, stderr := runPsync(t, "-f", m, "plan", "--detailed-exitcode")
	if code != ExitChanges || !strings.Contains(stdout, "secret TS_AUTHKEY changed") || !strings.Contains(stdout, "Plan: 0 to create, 0 to adopt, 1 to update") {
		t.Errorf("rotated secret: exit %d\n%s%s", code, stdout, stderr)
	}
	rotated.scan("rotation plan", stdout+stderr)
	code, stdout, stderr = runPsync(t, "--debug", "-f", m, "apply", "--auto-approve", "-o", "json")
	if code != 0 {
		t.Fatalf("apply the rotation: exit %d\n%s%s", code, stdout, stderr)
	}
	rotated.scan("rotation apply", stdout+stderr)
	rotated.scanFile(filepath.Join(dir, state.DefaultFileName))

	d, err := inst.Server.Dump(inst.TeamID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"join-tailnet": "#!/bin/bash\nexport TS_AUTHKEY=" + manifest.ShellQuote(envSecret+"-rotated") + "\nexport TS_HOSTNAME_PREFIX=train\n" + strings.TrimPrefix(joinBody, "#!/bin/bash\n"),
		"db":           "#!/bin/sh\nexport " + sensitiveSecret + "\nexec db-agent\n",
		"plain":        "echo plain\n",
	}
	for _, s := range d.StartupScripts {
		if s.Script != want[s.Name] {
			t.Errorf("pushed %s:\n%q\nwant\n%q", s.Name, s.Script, want[s.Name])
		}
	}
}

// TestMissingSecret: without the variable, a plan that would push the
// script fails naming the script, the variable and its position, and apply
// applies nothing; once nothing needs pushing, plan only notes it.
func TestMissingSecret(t *testing.T) {
	inst := startSandbox(t)
	m := secretManifestDir(t)
	os.Unsetenv("TAILSCALE_AUTHKEY")
	wantErr := m + `:6:7: script "join-tailnet": variable TS_AUTHKEY: $TAILSCALE_AUTHKEY is not set`
	code, stdout, stderr := runPsync(t, "-f", m, "plan")
	if code != ExitError || !strings.Contains(stderr, wantErr) || !strings.Contains(stderr, "the plan would create the script") {
		t.Errorf("plan without the secret: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = runPsync(t, "-f", m, "apply", "--auto-approve")
	if code != ExitError || !strings.Contains(stderr, wantErr) || !strings.Contains(stderr, "nothing was applied") {
		t.Errorf("apply without the secret: exit %d\n%s", code, stderr)
	}
	// The JSON document places the problem at the variable's line, as
	// for a plan (it was one message with the place in its text).
	code, stdout, _ = runPsync(t, "-f", m, "apply", "--auto-approve", "-o", "json")
	if code != ExitError || !strings.Contains(stdout, `"message": "script \"join-tailnet\": variable TS_AUTHKEY: $TAILSCALE_AUTHKEY is not set`) ||
		!strings.Contains(stdout, `"line": 6,`) || !strings.Contains(stdout, `"column": 7`) {
		t.Errorf("apply -o json without the secret: exit %d\n%s", code, stdout)
	}
	if d, _ := inst.Server.Dump(inst.TeamID); len(d.StartupScripts) != 0 {
		t.Errorf("apply without the secret created %d scripts", len(d.StartupScripts))
	}

	// Empty is refused, unless allowEmpty.
	t.Setenv("TAILSCALE_AUTHKEY", "")
	code, _, stderr = runPsync(t, "-f", m, "plan")
	if code != ExitError || !strings.Contains(stderr, "$TAILSCALE_AUTHKEY is empty (set allowEmpty: true to push an empty value)") {
		t.Errorf("empty secret: exit %d\n%s", code, stderr)
	}

	t.Setenv("TAILSCALE_AUTHKEY", envSecret)
	if code, stdout, stderr := runPsync(t, "-f", m, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	os.Unsetenv("TAILSCALE_AUTHKEY")
	code, stdout, stderr = runPsync(t, "-f", m, "plan", "--detailed-exitcode")
	if code != 0 || !strings.Contains(stderr, "psync: note: "+wantErr) || !strings.Contains(stderr, "the plan assumes it unchanged") {
		t.Errorf("plan without the secret, nothing to push: exit %d\n%s%s", code, stdout, stderr)
	}
	// A change elsewhere in the body needs the secret again.
	os.WriteFile(filepath.Join(filepath.Dir(m), "join.sh"), []byte(joinBody+"echo joined\n"), 0o644)
	code, _, stderr = runPsync(t, "-f", m, "plan")
	if code != ExitError || !strings.Contains(stderr, wantErr) || !strings.Contains(stderr, "the plan would update the script: body changed") {
		t.Errorf("plan without the secret, body changed: exit %d\n%s", code, stderr)
	}
}

// hexRun finds every hex string of 32 or more digits: all that could be a
// hash.
var hexRun = regexp.MustCompile(`[0-9a-fA-F]{32,}`)

// TestPINCannotBeBruteForced: the state file and a saved plan of a script
// holding a four-digit PIN (as a sensitive body, and as a secret variable)
// contain nothing from which the PIN can be computed without the key: no
// hash-like string in them is the SHA-256 of any candidate body or value
// for any of the 10,000 PINs.
func TestPINCannotBeBruteForced(t *testing.T) {
	startSandbox(t)
	const pin = "7391"
	m := writeManifest(t, `version: 1
scripts:
  - name: pin-sensitive
    script: "export DB_PIN=`+pin+`\n"
    sensitive: true
  - name: pin-env
    script: "db-login\n"
    env:
      DB_PIN: {fromEnv: DB_PIN}
`)
	t.Setenv("DB_PIN", pin)
	dir := filepath.Dir(m)
	planFile := filepath.Join(dir, "plan.json")
	for _, args := range [][]string{{"-f", m, "plan", "--out", planFile}, {"-f", m, "apply", "--auto-approve"}} {
		if code, stdout, stderr := runPsync(t, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	var hashes []string
	for _, f := range []string{planFile, filepath.Join(dir, state.DefaultFileName)} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte("bodyHmac")) {
			t.Errorf("%s has no keyed fingerprint:\n%s", f, data)
		}
		hashes = append(hashes, hexRun.FindAllString(string(data), -1)...)
	}
	found := map[string]bool{}
	for _, h := range hashes {
		found[strings.ToLower(h)] = true
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	for n := range 10000 {
		p := fmt.Sprintf("%04d", n)
		for _, candidate := range []string{
			p, "DB_PIN=" + p, "export DB_PIN=" + p, "export DB_PIN=" + p + "\n",
			"export DB_PIN=" + p + "\ndb-login\n", "DB_PIN\x00" + p,
		} {
			if h := sum(candidate); found[h] || found[h[:32]] {
				t.Fatalf("a hash in the files is the SHA-256 of %q: the PIN is %s", candidate, p)
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("no hash-like strings at all: the test looked at nothing")
	}
}

// TestBareHashesMigrated: a state file with the bare SHA-256 an older psync
// wrote for a sensitive body plans no change, and the next apply replaces
// it with the keyed fingerprint; a saved plan with bare hashes applies,
// and records keyed ones.
func TestBareHashesMigrated(t *testing.T) {
	startSandbox(t)
	t.Setenv("TAILSCALE_AUTHKEY", envSecret)
	m := secretManifestDir(t)
	dir := filepath.Dir(m)
	statePath := filepath.Join(dir, state.DefaultFileName)
	if code, stdout, stderr := runPsync(t, "-f", m, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	dbBody := "#!/bin/sh\nexport " + sensitiveSecret + "\nexec db-agent\n"
	bare := state.BodyHash(dbBody)
	toBare := func() {
		st, err := state.Load(statePath)
		if err != nil {
			t.Fatal(err)
		}
		for i := range st.Scripts {
			if sc := &st.Scripts[i]; sc.Name == "db" {
				sc.BodyHMAC, sc.FingerprintKey, sc.BodySHA256 = "", "", bare
			}
		}
		if err := st.Save(statePath); err != nil {
			t.Fatal(err)
		}
	}
	keyed := func(when string) {
		t.Helper()
		data, _ := os.ReadFile(statePath)
		if bytes.Contains(data, []byte(bare)) || !bytes.Contains(data, []byte(`"bodyHmac"`)) {
			t.Errorf("%s: the state still holds the bare hash:\n%s", when, data)
		}
	}
	toBare()
	if code, stdout, stderr := runPsync(t, "-f", m, "plan", "--detailed-exitcode"); code != 0 {
		t.Errorf("plan with a bare hash: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runPsync(t, "-f", m, "apply", "--auto-approve"); code != 0 || !strings.Contains(stdout, "No changes") {
		t.Errorf("apply with a bare hash: exit %d\n%s%s", code, stdout, stderr)
	}
	keyed("after an apply with nothing to do")

	// A saved plan whose sensitive body has a bare hash, as an older psync
	// wrote it.
	toBare()
	os.WriteFile(m, []byte(strings.Replace(secretsManifest, "    sensitive: true\n", "    sensitive: true\n    runOnce: true\n", 1)), 0o644)
	planFile := filepath.Join(dir, "plan.json")
	if code, stdout, stderr := runPsync(t, "-f", m, "plan", "--out", planFile); code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, stdout, stderr)
	}
	var saved map[string]any
	data, _ := os.ReadFile(planFile)
	json.Unmarshal(data, &saved)
	for _, c := range saved["changes"].([]any) {
		after := c.(map[string]any)["after"].(map[string]any)
		if after["name"] == "db" {
			delete(after, "bodyHmac")
			delete(after, "fingerprintKey")
			after["bodySha256"] = bare
		}
	}
	data, _ = json.Marshal(saved)
	os.WriteFile(planFile, data, 0o644)
	if code, stdout, stderr := runPsync(t, "-f", m, "apply", planFile); code != 0 {
		t.Fatalf("apply an old saved plan: exit %d\n%s%s", code, stdout, stderr)
	}
	keyed("after applying an old saved plan")
}

// TestHostileAPIEchoesSecrets: an API that quotes every request body back
// in its errors (raw, in JSON details, and escaped) never gets a secret
// into psync's output: text and JSON reports, stderr, --debug.
func TestHostileAPIEchoesSecrets(t *testing.T) {
	inst, err := sandbox.Start(sandbox.Config{Keys: map[string]string{"psk_live_0123456789abcdef": "team-a"}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			inst.Server.Handler().ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		msg, _ := json.Marshal(map[string]any{
			"code":    "INVALID",
			"message": "invalid script: " + string(body),
			"details": map[string]any{"request": string(body), "quoted": strconv.Quote(string(body))},
			"issues":  []map[string]any{{"message": "bad value " + string(body), "path": []string{string(body)}}},
		})
		w.Write(msg)
	}))
	t.Cleanup(echo.Close)
	t.Setenv("PAPERSPACE_API_URL", echo.URL+"/v1")
	t.Setenv("PAPERSPACE_API_KEY", inst.Key)
	t.Setenv("TAILSCALE_AUTHKEY", envSecret)
	m := secretManifestDir(t)
	leaks := newLeakCheck(t, pushedSecrets())
	for _, args := range [][]string{
		{"--debug", "-f", m, "apply", "--auto-approve"},
		{"--debug", "-f", m, "apply", "--auto-approve", "-o", "json"},
		// Annotations escape a message's %, CR and LF (%25, %0D, %0A).
		{"--debug", "-f", m, "apply", "--auto-approve", "-o", "github"},
	} {
		code, stdout, stderr := runPsync(t, args...)
		if code != ExitError {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, ExitError, stdout, stderr)
		}
		if !strings.Contains(stdout+stderr, "[REDACTED]") || !strings.Contains(stdout+stderr, "invalid script") {
			t.Errorf("%v: the API's message is not shown (redacted):\n%s%s", args, stdout, stderr)
		}
		leaks.scan(fmt.Sprint(args, " stdout"), stdout)
		leaks.scan(fmt.Sprint(args, " stderr"), stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(m), state.DefaultFileName)); err == nil {
		leaks.scanFile(filepath.Join(filepath.Dir(m), state.DefaultFileName))
	}
}

// TestImportKeepsSecretVariables: import writes a script with fromEnv
// variables back as the manifest had it, env block and body apart, so
// that the imported manifest pushes the same body: the state holds the
// body with "<secret from $VAR>" in place of each value, which pushed as
// is would put the placeholder on the machines instead of the secret.
func TestImportKeepsSecretVariables(t *testing.T) {
	startSandbox(t)
	t.Setenv("TAILSCALE_AUTHKEY", envSecret)
	m := secretManifestDir(t)
	dir := filepath.Dir(m)
	if code, stdout, stderr := runPsync(t, "-f", m, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	imported := filepath.Join(dir, "imported.yaml")
	code, stdout, stderr := runPsync(t, "-f", m, "import", "--out", imported)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, stdout, stderr)
	}
	newLeakCheck(t, pushedSecrets()).scan("import's output", stdout+stderr)
	doc, _ := os.ReadFile(imported)
	wantEnv := "    env:\n      TS_AUTHKEY:\n        fromEnv: TAILSCALE_AUTHKEY\n      TS_HOSTNAME_PREFIX: train\n"
	if !strings.Contains(string(doc), wantEnv) {
		t.Errorf("the imported manifest lacks the env block %q:\n%s", wantEnv, doc)
	}
	body, err := os.ReadFile(filepath.Join(dir, "scripts", "join-tailnet.sh"))
	if err != nil || string(body) != joinBody {
		t.Errorf("scripts/join-tailnet.sh is\n%q (%v), want the manifest's file\n%q", body, err, joinBody)
	}
	// With the sensitive body filled in, the imported manifest plans
	// nothing: the bodies it would push are the ones pushed.
	os.WriteFile(filepath.Join(dir, "scripts", "db.sh"), []byte("#!/bin/sh\nexport "+sensitiveSecret+"\nexec db-agent\n"), 0o644)
	if code, stdout, stderr := runPsync(t, "-f", imported, "plan", "--detailed-exitcode"); code != 0 {
		t.Errorf("plan of the imported manifest: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestSplitExports: the env import takes back from a recorded body is the
// one written, whatever its plain values hold, and a body it cannot take
// apart exactly is refused rather than written with a placeholder in it.
func TestSplitExports(t *testing.T) {
	values := []string{"train", "", "it's", "'", "two\nlines\n", "$HOME", `\`, "--flag", "x=y", "<secret from $X>", "ü"}
	for _, head := range []string{"#!/bin/bash\n", "#!/bin/sh", "#!/bin/sh\r\n", ""} {
		for _, v := range values {
			s := manifest.Script{Body: head + "export OWN=1\nexport S=override\necho \"$S\"\n", Env: []manifest.EnvVar{
				{Name: "P", Value: v}, {Name: "S", FromEnv: "SRC"}, {Name: "Q", Value: v + "'"},
			}}
			display := s.DisplayBody()
			env, body, ok := splitExports(display, map[string]string{"S": "fp"})
			if !ok {
				t.Errorf("%q, %q: not split:\n%s", head, v, display)
				continue
			}
			var back []manifest.EnvVar
			for _, e := range env {
				if e.Secret != nil {
					back = append(back, manifest.EnvVar{Name: e.Name, FromEnv: e.Secret.FromEnv})
				} else {
					back = append(back, manifest.EnvVar{Name: e.Name, Value: *e.Value})
				}
			}
			if got := (&manifest.Script{Body: body, Env: back}).DisplayBody(); got != display {
				t.Errorf("%q, %q: written back\n%q, want\n%q", head, v, got, display)
			}
			// OWN joins env (it pushes the same bytes there); S set again
			// is the body's. (After "#!/bin/sh" with no newline, OWN's
			// line is the shebang's.)
			wantEnv, wantBody := 4, head+"export S=override\n"
			if !strings.HasSuffix(head, "\n") && head != "" {
				wantEnv, wantBody = 3, head+"export OWN=1\nexport S=override\n"
			}
			if len(env) != wantEnv || env[1].Secret == nil || env[1].Secret.FromEnv != "SRC" || !strings.HasPrefix(body, wantBody) {
				t.Errorf("%q, %q: env %v", head, v, env)
			}
		}
	}
	for _, display := range []string{
		"#!/bin/sh\necho hi\n", // no export lines: the state names a secret they lack
		"#!/bin/sh\nexport S=<secret from $SRC\necho hi\n",
		"#!/bin/sh\nexport P='open\nexport S=<secret from $SRC>\n",
		"#!/bin/sh\nexport S=<secret from $SRC>\n", // the state names another secret too
	} {
		if env, body, ok := splitExports(display, map[string]string{"S": "fp", "T": "fp"}); ok {
			t.Errorf("%q: split into %v and %q", display, env, body)
		}
	}
}

// TestFingerprintKeyRotation: PSYNC_FINGERPRINT_KEY replaces the API key
// as the fingerprints' key; switching to it costs one push of the scripts
// that hold a secret and nothing else, and it appears nowhere. A key short
// enough to try (the state's key id and keyed fingerprints would let
// anyone holding the state test guesses of it offline) is refused, without
// being quoted.
func TestFingerprintKeyRotation(t *testing.T) {
	startSandbox(t)
	t.Setenv("TAILSCALE_AUTHKEY", envSecret)
	m := secretManifestDir(t)
	if code, stdout, stderr := runPsync(t, "-f", m, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	const key = "fpk-0123456789abcdef0123456789abcdef"
	t.Setenv("PSYNC_FINGERPRINT_KEY", key)
	leaks := newLeakCheck(t, map[string]string{"fingerprint key": key})
	code, stdout, stderr := runPsync(t, "-f", m, "plan", "--detailed-exitcode")
	if code != ExitChanges || !strings.Contains(stdout, "Plan: 0 to create, 0 to adopt, 2 to update, 0 to replace") ||
		strings.Count(stdout, "fingerprinted with another key") != 2 || strings.Contains(stdout, `script "plain"`) {
		t.Errorf("plan with a new fingerprint key: exit %d\n%s%s", code, stdout, stderr)
	}
	leaks.scan("plan", stdout+stderr)
	code, stdout, stderr = runPsync(t, "--debug", "-f", m, "apply", "--auto-approve", "-o", "json")
	if code != 0 {
		t.Fatalf("apply with a new fingerprint key: exit %d\n%s%s", code, stdout, stderr)
	}
	leaks.scan("apply", stdout+stderr)
	leaks.scanFile(filepath.Join(filepath.Dir(m), state.DefaultFileName))
	if code, stdout, stderr := runPsync(t, "-f", m, "plan", "--detailed-exitcode"); code != 0 {
		t.Errorf("plan after the re-push: exit %d\n%s%s", code, stdout, stderr)
	}

	for _, weak := range []string{"7391", "correct-horse"} {
		t.Setenv("PSYNC_FINGERPRINT_KEY", weak)
		code, stdout, stderr = runPsync(t, "-f", m, "plan")
		if code != ExitError || !strings.Contains(stderr, "PSYNC_FINGERPRINT_KEY is too short") || strings.Contains(stdout+stderr, weak) {
			t.Errorf("plan with PSYNC_FINGERPRINT_KEY=%q: exit %d\n%s%s", weak, code, stdout, stderr)
		}
	}
}
