package main

import (
	"errors"
	"fmt"

	"github.com/psync-dev/psync/pkg/manifest"
)

// refuseKeyInManifest refuses a manifest that holds the API key (in any
// encoding the client's redactor finds) in a value psync prints or records:
// a name, a non-sensitive body, a note, a machine id. The plan, a saved
// plan, the JSON plan and the state would carry it. A sensitive body may
// hold it: psync never prints or stores one.
func refuseKeyInManifest(m *manifest.Manifest, holdsKey func(string) bool) error {
	var errs []error
	check := func(pos manifest.Position, what, v string) {
		if holdsKey(v) {
			errs = append(errs, fmt.Errorf("%s: %s contains the API key: psync would print it in the plan and record it in the state; remove it (a script that needs it can be marked sensitive: true)", pos, what))
		}
	}
	for _, s := range m.Scripts {
		check(s.Pos, "the name of a script", s.Name)
		for _, p := range s.PreviousNames {
			check(s.Pos, "a previous name of script "+safeName(s.Name, holdsKey), p)
		}
		if !s.Sensitive {
			check(s.BodyPos, "the body of script "+safeName(s.Name, holdsKey), s.Body)
			for _, v := range s.Env {
				if !v.IsSecret() {
					check(v.Pos, "variable "+v.Name+" of script "+safeName(s.Name, holdsKey), v.Value)
				}
			}
		}
	}
	for _, t := range m.Templates {
		check(t.Pos, "the name of a template", t.Name)
		for _, p := range t.PreviousNames {
			check(t.Pos, "a previous name of template "+safeName(t.Name, holdsKey), p)
		}
		check(t.Pos, "the note of template "+safeName(t.Name, holdsKey), t.Note)
		check(t.MachinePos, "the machine of template "+safeName(t.Name, holdsKey), t.MachineID)
	}
	for _, a := range m.Assignments {
		check(a.Pos, "an assignment's script", a.Script)
		for i, id := range a.Machines {
			pos := a.Pos
			if i < len(a.MachinePos) {
				pos = a.MachinePos[i]
			}
			check(pos, "a machine of the assignment of "+safeName(a.Script, holdsKey), id)
		}
	}
	return errors.Join(errs...)
}

// safeName quotes name for an error, unless it is the very value that
// holds the key.
func safeName(name string, holdsKey func(string) bool) string {
	if holdsKey(name) {
		return "(whose name holds it too)"
	}
	return fmt.Sprintf("%q", name)
}

// refuseKeyInSecrets refuses a secret variable whose value holds the API
// key: $PAPERSPACE_API_KEY is refused as a fromEnv source because psync's
// own credential never goes to the machines, and a copy of it in another
// variable must not take it there either.
func refuseKeyInSecrets(m *manifest.Manifest, holdsKey func(string) bool) error {
	var errs []error
	for i := range m.Scripts {
		s := &m.Scripts[i]
		for _, v := range s.Env {
			if sec, ok := s.Secrets()[v.Name]; ok && v.IsSecret() && holdsKey(sec.Reveal()) {
				errs = append(errs, fmt.Errorf("%s: script %s: variable %s: $%s contains the API key, psync's own credential, which it never pushes to machines", v.Pos, safeName(s.Name, holdsKey), v.Name, v.FromEnv))
			}
		}
	}
	return errors.Join(errs...)
}
