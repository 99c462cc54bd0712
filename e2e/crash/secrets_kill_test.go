package crash

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// TestKillWithSecrets SIGKILLs applies of scripts with a secret variable
// and sensitive bodies, part-way through creating them and through
// rotating the secret, and finds no secret in any encoding in psync's
// output, the state file, its journal or any file a killed write left
// behind; each re-run converges, and the sandbox holds every script with
// the secret of that round.
func TestKillWithSecrets(t *testing.T) {
	e := newEnv(t, sandbox.Faults{Latency: time.Millisecond, Jitter: time.Millisecond})
	const n = 60
	var b strings.Builder
	b.WriteString("version: 1\nscripts:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: s%02d\n    script: \"#!/bin/sh\\necho %d\\n\"\n    env:\n      TOKEN: {fromEnv: CRASH_SECRET}\n      PLAIN: v%d\n", i, i, i)
		if i%10 == 0 {
			fmt.Fprintf(&b, "  - name: sensitive%02d\n    script: \"export DB_PASSWORD=sensitive-%d-horse-battery\\n\"\n    sensitive: true\n", i, i)
		}
	}
	b.WriteString("assignments:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - script: s%02d\n    machines: [psbox%03d, psbox%03d]\n", i, 1+i%10, 1+(i+5)%10)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "psync.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := killPoints(t, 18)
	var secrets []string
	for i := range n {
		if i%10 == 0 {
			secrets = append(secrets, fmt.Sprintf("DB_PASSWORD=sensitive-%d-horse-battery", i))
		}
	}
	kills, journals := 0, 0
	for round := range 3 {
		secret := fmt.Sprintf(`crash-secret-%d-'"\$<&>/`, round)
		secrets = append(secrets, secret)
		withSecret := func(cmd *exec.Cmd) *exec.Cmd {
			cmd.Env = append(cmd.Env, "CRASH_SECRET="+secret)
			return cmd
		}
		// Round 0 creates everything; the others rotate the secret, which
		// updates every script.
		at := 5 + r.IntN(n-10)
		e.inst.Server.ResetStats()
		out, killed, err := killWhen(t, withSecret(e.command("apply", "--auto-approve", "--debug")), func() bool { return e.inst.Server.Stats().Writes() >= at })
		if killed {
			kills++
		} else {
			t.Logf("round %d: the apply ended before the kill at write %d (%v)", round, at, err)
		}
		scanForSecrets(t, fmt.Sprintf("round %d, killed apply's output", round), out, secrets)
		if _, err := os.Stat(e.statePath + ".journal"); err == nil {
			journals++
		}
		scanDirs(t, fmt.Sprintf("round %d, after the kill", round), secrets, e.dir, e.tmp)

		rerun := withSecret(e.command("apply", "--auto-approve", "--debug"))
		outAgain, err := rerun.CombinedOutput()
		if err != nil {
			t.Fatalf("round %d: the re-run: %v\n%s", round, err, outAgain)
		}
		scanForSecrets(t, fmt.Sprintf("round %d, re-run's output", round), string(outAgain), secrets)
		scanDirs(t, fmt.Sprintf("round %d, after the re-run", round), secrets, e.dir, e.tmp)
		plan := withSecret(e.command("plan", "--detailed-exitcode"))
		if out, err := plan.CombinedOutput(); err != nil {
			t.Fatalf("round %d: the plan after the re-run: %v\n%s", round, err, out)
		}
		// The sandbox has every script, with this round's secret.
		dump := e.dump(t)
		if len(dump.StartupScripts) != n+n/10 {
			t.Fatalf("round %d: %d scripts in the sandbox, want %d", round, len(dump.StartupScripts), n+n/10)
		}
		for _, s := range dump.StartupScripts {
			if !strings.HasPrefix(s.Name, "sensitive") && !strings.Contains(s.Script, "export TOKEN="+manifest.ShellQuote(secret)+"\n") {
				t.Fatalf("round %d: %s was pushed as %q", round, s.Name, s.Script)
			}
		}
	}
	t.Logf("%d of 3 applies killed, %d left a journal", kills, journals)
	if kills == 0 {
		t.Error("no apply was killed before it ended")
	}
}

// scanDirs scans every file in dirs (the state, its journal, and whatever
// temporary files killed writes left).
func scanDirs(t *testing.T, when string, secrets []string, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range entries {
			if de.IsDir() || de.Name() == "psync.yaml" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			scanForSecrets(t, when+": "+de.Name(), string(data), secrets)
		}
	}
}

// scanForSecrets fails when text holds a secret raw, JSON-escaped,
// Go-quoted, shell-quoted, URL-escaped, in base64 or hex, or its SHA-256.
func scanForSecrets(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		forms := map[string]string{"raw": s}
		j, _ := json.Marshal(s)
		forms["json"] = string(j[1 : len(j)-1])
		q := strconv.Quote(s)
		forms["quoted"] = q[1 : len(q)-1]
		forms["shell-quoted"] = manifest.ShellQuote(s)
		forms["url"] = url.QueryEscape(s)
		forms["base64"] = base64.StdEncoding.EncodeToString([]byte(s))
		forms["hex"] = hex.EncodeToString([]byte(s))
		sum := sha256.Sum256([]byte(s))
		forms["sha256"] = hex.EncodeToString(sum[:])
		for enc, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("%s holds the secret %q %s", where, s, enc)
			}
		}
	}
}
