package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/state"
)

// Write saves a plan as versioned, indented JSON, for `apply FILE`. The
// bodies of sensitive scripts are left out (Attributes.MarshalJSON): to
// apply such a plan, FillBodies must put them back from the
// manifest.
func Write(w io.Writer, p *Plan) error {
	cp := *p
	cp.FormatVersion = FormatVersion
	if cp.Changes == nil {
		cp.Changes = []Change{}
	}
	data, err := json.MarshalIndent(&cp, "", "  ")
	if err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	if _, err := w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// Read loads a plan saved by Write. It refuses a plan of an unknown or newer
// format, and one whose changes are not a well-formed ordered set (unique
// keys, dependencies earlier in the plan), since apply trusts that order.
// Errors do not name the file: the caller knows it.
func Read(r io.Reader) (*Plan, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var head struct {
		FormatVersion *int `json:"formatVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not a saved plan: %w", err)
	}
	switch {
	case head.FormatVersion == nil:
		return nil, errors.New("no formatVersion: this is not a saved psync plan")
	case *head.FormatVersion > FormatVersion:
		return nil, fmt.Errorf("format version %d is newer than this psync understands (%d): upgrade psync", *head.FormatVersion, FormatVersion)
	case *head.FormatVersion != FormatVersion:
		return nil, fmt.Errorf("unknown format version %d", *head.FormatVersion)
	}
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("not a saved plan: %w", err)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("malformed plan: %w", err)
	}
	return &p, nil
}

func (p *Plan) validate() error {
	seen := make(map[string]bool, len(p.Changes))
	for i, c := range p.Changes {
		if c.Key == "" {
			return fmt.Errorf("change %d has no key", i)
		}
		if seen[c.Key] {
			return fmt.Errorf("two changes have the key %q", c.Key)
		}
		if _, ok := actionNames[c.Action]; !ok {
			return fmt.Errorf("change %q has no action", c.Key)
		}
		for _, d := range c.DependsOn {
			if !seen[d] {
				return fmt.Errorf("change %q depends on %q, which does not come before it", c.Key, d)
			}
		}
		seen[c.Key] = true
	}
	for _, c := range p.Changes {
		if err := c.consistent(); err != nil {
			return fmt.Errorf("change %q%w", c.Key, err)
		}
	}
	return nil
}

// consistent checks that a change applies what it shows: show and the
// plan views name a change by its key, kind, name and machine, while
// apply acts on its after side, so that a plan edited by hand could
// otherwise show one object and change another.
func (c Change) consistent() error {
	switch c.Kind {
	case KindScript, KindTemplate:
		if k, _, _ := strings.Cut(c.Key, "#"); k != key(c.Kind, c.Name) {
			return fmt.Errorf(" is of %s %q", c.Kind, c.Name)
		}
		switch c.Action {
		case Assign, Unassign:
			return fmt.Errorf(": a %s cannot %s", c.Kind, c.Action)
		case Create, Adopt, Update, Replace:
			if c.After == nil || c.After.Name != c.Name {
				after := ""
				if c.After != nil {
					after = c.After.Name
				}
				return fmt.Errorf(" shows %s %q but applies name %q", c.Kind, c.Name, after)
			}
		}
	case KindAssignment:
		if c.Key != "assignment/"+c.Name+"/"+c.Machine {
			return fmt.Errorf(" is of assignment %q to %q", c.Name, c.Machine)
		}
		if c.Action != Assign && c.Action != Unassign {
			return fmt.Errorf(": an assignment cannot %s", c.Action)
		}
	default:
		return fmt.Errorf(" has the unknown kind %q", c.Kind)
	}
	return nil
}

// FillBodies puts back into a saved plan what it never contains: the
// bodies of sensitive scripts and the secret values of fromEnv variables.
// It takes them from the manifest (with its environment resolved) by the
// script's name, and checks that they are the ones planned: the keyed
// fingerprint, or the bare SHA-256 an older psync saved for a sensitive
// body. It then fingerprints the body with key afresh, so that the applier
// records a keyed fingerprint whatever the plan held (an old plan's bare
// hash is migrated). It fails when the manifest lacks the script, a secret
// is not set, or the body differs: the plan must then be made again.
func (p *Plan) FillBodies(m *manifest.Manifest, key state.FingerprintKey) error {
	scripts := make(map[string]*manifest.Script, len(m.Scripts))
	for i := range m.Scripts {
		scripts[m.Scripts[i].Name] = &m.Scripts[i]
	}
	var errs []error
	for i := range p.Changes {
		c := &p.Changes[i]
		a := c.After
		if c.Kind != KindScript || a == nil || !a.Sensitive && a.BodyHMAC == "" && len(a.Secrets) == 0 {
			continue
		}
		kind := "script"
		if a.Sensitive {
			kind = "sensitive script"
		}
		d, ok := scripts[a.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s %q: not in the manifest, so its body is unknown: plan again", kind, a.Name))
			continue
		}
		if u := d.Unresolved(); len(u) > 0 {
			for _, diag := range u {
				errs = append(errs, fmt.Errorf("%s: nothing was applied", diag))
			}
			continue
		}
		if a.BodyHMAC != "" && a.FingerprintKey != key.ID() {
			errs = append(errs, fmt.Errorf("%s %q: the plan was fingerprinted with another key (the API key or PSYNC_FINGERPRINT_KEY changed since): plan again", kind, a.Name))
			continue
		}
		push, _ := d.PushBody()
		display := d.DisplayBody()
		var same bool
		switch {
		case a.BodyHMAC != "":
			same = a.FingerprintKey == key.ID() && key.Body(push) == a.BodyHMAC
		case a.BodySHA256 != "":
			same = state.BodyHash(push) == a.BodySHA256
		}
		if !a.Sensitive && (a.Body == nil || *a.Body != display) {
			same = false
		}
		if !same {
			what := "body"
			if d.HasSecrets() {
				what = "body or a secret in it"
			}
			errs = append(errs, fmt.Errorf("%s %q: the manifest's %s is not the one planned: plan again", kind, a.Name, what))
			continue
		}
		a.Body, a.Push = ptr(display), nil
		if push != display {
			a.Push = ptr(push)
		}
		a.BodySHA256, a.BodyHMAC, a.FingerprintKey, a.Secrets = "", key.Body(push), key.ID(), nil
		for name, v := range d.Secrets() {
			if a.Secrets == nil {
				a.Secrets = map[string]string{}
			}
			a.Secrets[name] = key.Secret(name, v.Reveal())
		}
	}
	return errors.Join(errs...)
}
