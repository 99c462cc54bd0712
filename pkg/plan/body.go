package plan

import (
	"maps"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// desiredBody is what the planner knows of the body a manifest script
// would push.
type desiredBody struct {
	// display is the body reviewers see ("<secret from $VAR>" for each
	// secret); push the body psync pushes, known when ready (every
	// secret resolved).
	display, push string
	ready         bool
	// keyed bodies hold a secret: they are fingerprinted with the key
	// (hmac, secrets), plain ones with SHA-256 (sha).
	keyed   bool
	sha     string
	hmac    string
	secrets map[string]string
}

func (p *planner) desiredBody(d *manifest.Script) desiredBody {
	b := desiredBody{display: d.DisplayBody(), keyed: d.Keyed()}
	b.push, b.ready = d.PushBody()
	if !b.keyed {
		b.sha = state.BodyHash(b.display)
		return b
	}
	for name, v := range d.Secrets() {
		if b.secrets == nil {
			b.secrets = map[string]string{}
		}
		b.secrets[name] = p.opts.Key.Secret(name, v.Reveal())
	}
	if b.ready {
		b.hmac = p.opts.Key.Body(b.push)
	}
	return b
}

// after fills a change's After with the body.
func (b desiredBody) after(a *Attributes, key state.FingerprintKey) {
	a.Body = ptr(b.display)
	if !b.keyed {
		a.BodySHA256 = b.sha
		return
	}
	if b.ready && b.push != b.display {
		a.Push = ptr(b.push)
	}
	a.BodyHMAC, a.FingerprintKey, a.Secrets = b.hmac, key.ID(), maps.Clone(b.secrets)
}

// bodyStatus is how the body psync would push compares with the one the
// team has.
type bodyStatus int

const (
	bodySame bodyStatus = iota
	bodyChanged
	// bodyUnknown: nothing tells what the team's body is.
	bodyUnknown
)

// compareBody compares the desired body with what the API (if it returns
// bodies) or the state says of the team's. The reasons say what changed
// when that can be told: "secret NAME changed", "body changed", or why
// the old body cannot be checked.
//
// While a secret is unresolved (not set in psync's environment) the
// comparison assumes it unchanged: the body counts as the same when
// everything else in it is, so that a plan without the secret (a pull
// request from a fork) is still exact about every other change.
func (p *planner) compareBody(d *manifest.Script, b desiredBody, r *remote.Script, st *state.Script) (bodyStatus, []string) {
	key := p.opts.Key
	switch {
	case r.Body != nil:
		// An API that returns bodies: the truth, whatever the state says.
		if !b.ready {
			return bodyUnknown, nil
		}
		same := state.BodyHash(*r.Body) == state.BodyHash(b.push)
		if same {
			return bodySame, nil
		}
		return bodyChanged, []string{"body changed"}
	case st == nil:
		return bodyUnknown, nil
	case st.BodyHMAC != "":
		if st.FingerprintKey != key.ID() {
			return bodyUnknown, []string{"content not verifiable: fingerprinted with another key (the API key or PSYNC_FINGERPRINT_KEY changed)"}
		}
		if b.ready && key.Body(b.push) == st.BodyHMAC {
			return bodySame, nil
		}
		var reasons []string
		for _, v := range d.Env {
			if !v.IsSecret() {
				continue
			}
			old, had := st.Secrets[v.Name]
			now, known := b.secrets[v.Name]
			if had && known && old != now {
				reasons = append(reasons, "secret "+v.Name+" changed")
			}
		}
		displayChanged := st.Body == nil || *st.Body != b.display
		if !b.ready {
			// Same unless something other than the unresolved secrets
			// differs (or cannot be compared).
			for _, v := range d.Env {
				if _, had := st.Secrets[v.Name]; v.IsSecret() && !had {
					displayChanged = true
				}
			}
			if len(reasons) == 0 && !displayChanged && !d.Sensitive {
				return bodySame, nil
			}
		}
		// The fingerprint differs: the body changed even when nothing
		// shown does (env dropped with its placeholders left in the
		// body, which would push "<secret from $VAR>" literally).
		if displayChanged && st.Body != nil || len(reasons) == 0 {
			reasons = append(reasons, "body changed")
		}
		return bodyChanged, reasons
	case st.BodySHA256 != "":
		// A plain body, or the bare hash an older psync wrote for a
		// sensitive one (the next apply replaces it with a keyed one).
		switch {
		case !b.keyed && st.BodySHA256 == b.sha, b.ready && b.keyed && st.BodySHA256 == state.BodyHash(b.push):
			return bodySame, nil
		case !b.ready:
			return bodyUnknown, nil
		}
		return bodyChanged, []string{"body changed"}
	}
	return bodyUnknown, nil
}
