package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/state"
)

// Write saves a plan as versioned, indented JSON, for `apply FILE`. The
// bodies of sensitive scripts are left out (Attributes.MarshalJSON): to
// apply such a plan, FillSensitiveBodies must put them back from the
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
	return nil
}

// FillSensitiveBodies puts the bodies of sensitive scripts, which a saved
// plan never contains, back into its changes from the manifest, by the
// script's name. It fails when the manifest lacks the script or its body's
// hash differs from the one planned: the plan must then be made again.
func (p *Plan) FillSensitiveBodies(m *manifest.Manifest) error {
	bodies := make(map[string]string, len(m.Scripts))
	for _, s := range m.Scripts {
		bodies[s.Name] = s.Body
	}
	var errs []error
	for i := range p.Changes {
		c := &p.Changes[i]
		a := c.After
		if c.Kind != KindScript || a == nil || !a.Sensitive || a.Body != nil {
			continue
		}
		body, ok := bodies[a.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("sensitive script %q: not in the manifest, so its body is unknown: plan again", a.Name))
		case state.BodyHash(body) != a.BodySHA256:
			errs = append(errs, fmt.Errorf("sensitive script %q: the manifest's body is not the one planned: plan again", a.Name))
		default:
			c.After.Body = ptr(body)
		}
	}
	return errors.Join(errs...)
}
