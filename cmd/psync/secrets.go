package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// fingerprintKeyEnv overrides the secret the fingerprint key is derived
// from (the API key by default).
const fingerprintKeyEnv = "PSYNC_FINGERPRINT_KEY"

// fingerprintKey is the key of the fingerprints of bodies that hold a
// secret. It is derived from the API key: every plan and apply has it
// already, nothing more needs setting up, the repository does not hold
// it, and it belongs to the team the state does. Rotating the API key
// costs one re-push of those scripts (their fingerprints no longer
// verify) and nothing else. Teams whose plans and applies run with
// different API keys (each person's own, say) set PSYNC_FINGERPRINT_KEY
// to one shared secret instead, or every plan would see those scripts as
// not verifiable.
//
// A PSYNC_FINGERPRINT_KEY shorter than minFingerprintKeyLen is refused:
// anyone holding the state (committed) has the key's id and the keyed
// fingerprints of known bodies, against which guesses of a short key can
// be tried offline, and the key gives every secret back.
func fingerprintKey(lookup manifest.LookupEnv, apiKey string) (state.FingerprintKey, error) {
	if v, ok := lookup(fingerprintKeyEnv); ok && strings.TrimSpace(v) != "" {
		if len(strings.TrimSpace(v)) < minFingerprintKeyLen {
			return state.FingerprintKey{}, fmt.Errorf("%s is too short: a short key can be guessed from the fingerprints the state holds; use %d or more random characters (e.g. openssl rand -hex 32), or unset it to key them with the API key", fingerprintKeyEnv, minFingerprintKeyLen)
		}
		return state.NewFingerprintKey(strings.TrimSpace(v)), nil
	}
	return state.NewFingerprintKey(apiKey), nil
}

// minFingerprintKeyLen is the shortest PSYNC_FINGERPRINT_KEY taken: 32
// characters, what 16 random bytes in hex make.
const minFingerprintKeyLen = 32

// resolveSecrets reads the secret variables of the manifest's scripts from
// psync's environment, and gives the client every secret (those values
// and the bodies of sensitive scripts) to scrub from what it reports: an
// API may quote a request back in an error.
func (ws *workspace) resolveSecrets(lookup manifest.LookupEnv) error {
	if err := ws.manifest.ResolveEnv(lookup); err != nil {
		return err
	}
	if v, ok := lookup(fingerprintKeyEnv); ok && strings.TrimSpace(v) != "" {
		ws.client.Redactor().AddSecret(strings.TrimSpace(v))
	}
	for i := range ws.manifest.Scripts {
		s := &ws.manifest.Scripts[i]
		for _, v := range s.Secrets() {
			// As is, as the pushed body holds it (shell-quoted), and each
			// line of a multi-line value alone.
			ws.client.Redactor().AddSecret(v.Reveal())
			ws.client.Redactor().AddSecret(manifest.ShellQuote(v.Reveal()))
			addLines(ws.client.Redactor(), v.Reveal())
		}
		if s.Sensitive {
			ws.client.Redactor().AddSecret(s.Body)
			if push, ok := s.PushBody(); ok {
				ws.client.Redactor().AddSecret(push)
			}
			addLines(ws.client.Redactor(), s.Body)
		}
	}
	return nil
}

// addLines registers each line of a secret text alone, as an API quoting
// one line of a script ("line 3: ...") would show it: trimmed, and long
// enough not to be one of "fi", "done"...
func addLines(r *remote.Redactor, text string) {
	if !strings.Contains(text, "\n") {
		return
	}
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); len(line) >= 6 {
			r.AddSecret(line)
		}
	}
}

// requireSecrets fails when any secret variable is unresolved: apply
// applies nothing then, not even the changes that do not need it, so that
// a CI job missing a secret fails as a whole.
func requireSecrets(m *manifest.Manifest) error {
	var diags []manifest.Diagnostic
	for i := range m.Scripts {
		diags = append(diags, m.Scripts[i].Unresolved()...)
	}
	if len(diags) == 0 {
		return nil
	}
	// Manifest problems, so that every view places each at its line.
	what := "a secret variable is not set"
	if len(diags) > 1 {
		what = fmt.Sprintf("%d secret variables are not set", len(diags))
	}
	return fmt.Errorf("nothing was applied: %s:\n%w", what, &manifest.Errors{Diagnostics: diags})
}

// noteUnresolved tells, for plan, of the secret variables that are not set
// where the plan does not push their script: the plan assumed them
// unchanged. (Where it pushes one, planning failed already.)
func noteUnresolved(w io.Writer, m *manifest.Manifest) {
	for i := range m.Scripts {
		for _, d := range m.Scripts[i].Unresolved() {
			fmt.Fprintf(w, "psync: note: %s; the plan assumes it unchanged\n", d)
		}
	}
}

// migrateFingerprints replaces, in the state, the bare SHA-256 an older
// psync recorded for a body that holds a secret with its keyed
// fingerprint, where the manifest's body is the one recorded: a bare hash
// of a short secret gives the secret back to anyone reading the state
// file. It reports whether it changed anything, for apply to save it.
func migrateFingerprints(st *state.State, m *manifest.Manifest, key state.FingerprintKey) bool {
	byName := make(map[string]*manifest.Script, len(m.Scripts))
	for i := range m.Scripts {
		byName[m.Scripts[i].Name] = &m.Scripts[i]
	}
	changed := false
	for i := range st.Scripts {
		sc := &st.Scripts[i]
		d := byName[sc.Name]
		if sc.BodySHA256 == "" || d == nil || !d.Keyed() {
			continue
		}
		push, ok := d.PushBody()
		if !ok || state.BodyHash(push) != sc.BodySHA256 {
			continue // a body that changed: the apply pushes it, with a keyed fingerprint
		}
		sc.BodySHA256, sc.BodyHMAC, sc.FingerprintKey = "", key.Body(push), key.ID()
		sc.Secrets = nil
		for name, v := range d.Secrets() {
			if sc.Secrets == nil {
				sc.Secrets = map[string]string{}
			}
			sc.Secrets[name] = key.Secret(name, v.Reveal())
		}
		if !sc.Sensitive {
			display := d.DisplayBody()
			sc.Body = &display
		}
		changed = true
	}
	return changed
}
