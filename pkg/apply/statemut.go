package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/psync-dev/psync/pkg/state"
)

// The state mutations a journal update makes. They keep the state's
// invariants (one entry per id, assignments sorted and unique) and are
// no-ops where the object is already as wanted, so replaying one is
// harmless.

// putScript records a script by id, keeping the assignments already
// recorded for it.
func putScript(st *state.State, s state.Script) {
	if cur, ok := st.ScriptByID(s.ID); ok {
		s.Assignments = cur.Assignments
		*cur = s
		return
	}
	st.Scripts = append(st.Scripts, s)
}

func removeScript(st *state.State, id string) {
	st.Scripts = slices.DeleteFunc(st.Scripts, func(s state.Script) bool { return s.ID == id })
}

// putTemplate records a template by id.
func putTemplate(st *state.State, t state.Template) {
	if cur, ok := st.TemplateByID(t.ID); ok {
		*cur = t
		return
	}
	st.Templates = append(st.Templates, t)
}

// deposeTemplate marks a replaced template for deletion, recording it
// (as before) if the state did not know it.
func deposeTemplate(st *state.State, id string, before state.Template) {
	if cur, ok := st.TemplateByID(id); ok {
		cur.Deposed = true
		return
	}
	before.Deposed = true
	st.Templates = append(st.Templates, before)
}

func removeTemplate(st *state.State, id string) {
	st.Templates = slices.DeleteFunc(st.Templates, func(t state.Template) bool { return t.ID == id })
}

// addAssignment records an assignment of an owned script. An assignment of
// a script the state does not own is not recorded: ownership is never
// invented by the applier.
func addAssignment(st *state.State, scriptID, machine string) {
	s, ok := st.ScriptByID(scriptID)
	if !ok {
		return
	}
	if i, found := slices.BinarySearch(s.Assignments, machine); !found {
		s.Assignments = slices.Insert(s.Assignments, i, machine)
	}
}

func removeAssignment(st *state.State, scriptID, machine string) {
	s, ok := st.ScriptByID(scriptID)
	if !ok {
		return
	}
	s.Assignments = slices.DeleteFunc(s.Assignments, func(m string) bool { return m == machine })
	if len(s.Assignments) == 0 {
		s.Assignments = nil
	}
}

// bodyHash is the hex SHA-256 the state records for a body.
func bodyHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}
