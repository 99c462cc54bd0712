package plan

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

const envYAML = `version: 1
scripts:
  - name: join
    script: "#!/bin/sh\ntailscale up\n"
    runOnce: RUNONCE
    env:
      TS_AUTHKEY: {fromEnv: TAILSCALE_AUTHKEY}
      PREFIX: PREFIXVALUE
`

// envManifest loads envYAML with the given runOnce and plain value, and
// resolves it against env.
func envManifest(t *testing.T, runOnce, prefix string, env map[string]string) *manifest.Manifest {
	t.Helper()
	p := filepath.Join(t.TempDir(), "psync.yaml")
	y := strings.NewReplacer("RUNONCE", runOnce, "PREFIXVALUE", prefix).Replace(envYAML)
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ResolveEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	return m
}

// recorded is the state entry the applier makes of c.
func recorded(id string, c Change) state.Script {
	a := c.After
	return state.Script{ID: id, Name: a.Name, Body: a.Body, BodyHMAC: a.BodyHMAC, FingerprintKey: a.FingerprintKey,
		Secrets: a.Secrets, RunOnce: *a.RunOnce, IsEnabled: *a.IsEnabled}
}

// TestComputeEnv plans scripts with a secret and a plain variable: the
// plan shows and saves the placeholder, pushes the value, and tells a
// rotated secret, a changed plain value, another key and an unset secret
// apart.
func TestComputeEnv(t *testing.T) {
	const secret = "tskey-9f8e7d"
	env := map[string]string{"TAILSCALE_AUTHKEY": secret}
	m := envManifest(t, "false", "train", env)
	p, err := Compute(m, specSnap(nil, nil), nil, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Changes[0]
	display := "#!/bin/sh\nexport TS_AUTHKEY=<secret from $TAILSCALE_AUTHKEY>\nexport PREFIX=train\ntailscale up\n"
	push := "#!/bin/sh\nexport TS_AUTHKEY=" + secret + "\nexport PREFIX=train\ntailscale up\n"
	if *c.After.Body != display || c.After.Push == nil || *c.After.Push != push {
		t.Fatalf("after: body %q, push %v", *c.After.Body, c.After.Push)
	}
	want := &Attributes{Name: "join", RunOnce: ptr(false), IsEnabled: ptr(true), Body: ptr(display), Push: ptr(push),
		BodyHMAC: testKey.Body(push), FingerprintKey: testKey.ID(), Secrets: map[string]string{"TS_AUTHKEY": testKey.Secret("TS_AUTHKEY", secret)}}
	if diff := cmp.Diff(want, c.After); diff != "" {
		t.Errorf("after (-want +got):\n%s", diff)
	}
	var saved bytes.Buffer
	if err := Write(&saved, p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(saved.String(), secret) || strings.Contains(saved.String(), state.BodyHash(push)) {
		t.Errorf("the saved plan holds the secret or the bare hash of the pushed body:\n%s", saved.String())
	}
	back, err := Read(&saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.FillBodies(m, testKey); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("refilled saved plan (-computed +refilled):\n%s", diff)
	}
	rotated := envManifest(t, "false", "train", map[string]string{"TAILSCALE_AUTHKEY": secret + "-2"})
	back, _ = Read(bytes.NewReader(mustWrite(t, p)))
	if err := back.FillBodies(rotated, testKey); err == nil || !strings.Contains(err.Error(), `script "join": the manifest's body or a secret in it is not the one planned: plan again`) {
		t.Errorf("a saved plan applied with a rotated secret: %v", err)
	}
	// Applied with another fingerprint key (the API key or
	// PSYNC_FINGERPRINT_KEY changed since): refused, saying so.
	back, _ = Read(bytes.NewReader(mustWrite(t, p)))
	if err := back.FillBodies(m, state.NewFingerprintKey("another API key")); err == nil || !strings.Contains(err.Error(), `script "join": the plan was fingerprinted with another key (the API key or PSYNC_FINGERPRINT_KEY changed since): plan again`) {
		t.Errorf("a saved plan applied with another fingerprint key: %v", err)
	}

	snap := specSnap([]remote.Script{{ID: "s1", Name: "join", IsEnabled: true}}, nil)
	st := stateOf([]state.Script{recorded("s1", c)}, nil)
	otherKey := stateOf([]state.Script{recorded("s1", c)}, nil)
	otherKey.Scripts[0].FingerprintKey = "another-key-id"
	bare := stateOf([]state.Script{recorded("s1", c)}, nil)
	bare.Scripts[0].BodyHMAC, bare.Scripts[0].FingerprintKey, bare.Scripts[0].BodySHA256 = "", "", state.BodyHash(push)
	unset := map[string]string{}
	tests := []struct {
		name    string
		m       *manifest.Manifest
		st      *state.State
		reasons []string // nil: no change
		err     string
	}{
		{name: "unchanged", m: m, st: st},
		{name: "rotated", m: envManifest(t, "false", "train", map[string]string{"TAILSCALE_AUTHKEY": "tskey-new"}), st: st, reasons: S{"secret TS_AUTHKEY changed"}},
		{name: "plain value changed", m: envManifest(t, "false", "eval", env), st: st, reasons: S{"body changed"}},
		{name: "both", m: envManifest(t, "false", "eval", map[string]string{"TAILSCALE_AUTHKEY": "tskey-new"}), st: st, reasons: S{"secret TS_AUTHKEY changed", "body changed"}},
		{name: "another key", m: m, st: otherKey, reasons: S{"content not verifiable: fingerprinted with another key (the API key or PSYNC_FINGERPRINT_KEY changed)"}},
		{name: "bare hash of an older psync", m: m, st: bare},
		// The env block dropped and the body reviewers saw written in its
		// place (as an import that lost env would): the display is the
		// same, but the body pushed now holds the placeholder, not the
		// secret.
		{name: "env dropped, placeholders in the body", m: manifestOf([]manifest.Script{mScript("join", display)}, nil), st: st, reasons: S{"body changed"}},
		{name: "unset, nothing to push", m: envManifest(t, "false", "train", unset), st: st},
		{name: "unset, the body would be pushed", m: envManifest(t, "true", "train", unset), st: st,
			err: `psync.yaml:7:7: script "join": variable TS_AUTHKEY: $TAILSCALE_AUTHKEY is not set (the secret comes from psync's environment: set it, e.g. from a CI secret) (the plan would update the script: runOnce false → true)`},
		{name: "unset, plain value changed", m: envManifest(t, "false", "eval", unset), st: st,
			err: `(the plan would update the script: body changed)`},
		{name: "unset, no state", m: envManifest(t, "false", "train", unset), st: nil,
			err: `(the plan would adopt the script: adopting: content not verifiable)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compute(tt.m, snap, tt.st, Options{Key: testKey})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if len(p.Changes) > 0 {
				got = p.Changes[0].Reasons
				if b := p.Changes[0].Before; b.Body == nil || *b.Body != display {
					t.Errorf("before shows %v, want the state's display body", b.Body)
				}
			}
			if diff := cmp.Diff(tt.reasons, got); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBareHashNotCopiedIntoPlans: a state an older psync wrote holds the
// bare SHA-256 of a sensitive body (from which a short secret in it is
// computed at once). Until the next apply replaces it, plans must not
// copy it into the JSON view or the saved plan, which travel further than
// the state (CI artifacts, pull requests).
func TestBareHashNotCopiedIntoPlans(t *testing.T) {
	const body = "export DB_PIN=7391\n"
	d := mScript("pin", body)
	d.Sensitive = true
	m := manifestOf([]manifest.Script{d}, nil)
	bare := state.BodyHash(body)
	for _, tt := range []struct {
		name      string
		runOnce   bool
		stateBody string
	}{
		{"attribute changed", true, body},
		{"body changed", false, "export DB_PIN=1234\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := stateOf([]state.Script{{ID: "s1", Name: "pin", Sensitive: true, BodySHA256: state.BodyHash(tt.stateBody), RunOnce: tt.runOnce, IsEnabled: true}}, nil)
			snap := specSnap([]remote.Script{{ID: "s1", Name: "pin", IsEnabled: true, RunOnce: tt.runOnce}}, nil)
			p, err := Compute(m, snap, st, Options{Key: testKey})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Changes) != 1 || p.Changes[0].Action != Update {
				t.Fatalf("changes %+v, want one update", rows(p))
			}
			// The same body is told keyed, so no body change is shown.
			c := p.Changes[0]
			if same := c.Before.BodyHMAC != "" && c.Before.BodyHMAC == c.After.BodyHMAC; same != (tt.stateBody == body) {
				t.Errorf("before %+v, after %+v: same body %t, want %t", c.Before, c.After, same, tt.stateBody == body)
			}
			saved := string(mustWrite(t, p))
			for _, h := range []string{bare, state.BodyHash(tt.stateBody)} {
				if strings.Contains(saved, h) {
					t.Errorf("the saved plan holds the bare hash %s of a sensitive body:\n%s", h, saved)
				}
			}
		})
	}
}
