package render

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
)

// TestJSONErrorsKeepsEveryJoinedError: a plan that fails for several
// reasons (an unknown machine id, found as manifest problems, and a
// missing secret) lists each in the JSON document. errors.As used to find
// the manifest problems inside the join and drop all the rest.
func TestJSONErrorsKeepsEveryJoinedError(t *testing.T) {
	at := func(line int) manifest.Position { return manifest.Position{File: "psync.yaml", Line: line, Column: 7} }
	machines := &manifest.Errors{Diagnostics: []manifest.Diagnostic{{Pos: at(12), Message: "machine psbox099 is not in the team"}}}
	secret := &manifest.Errors{Diagnostics: []manifest.Diagnostic{{Pos: at(8), Message: `script "s2": variable TOKEN: $MY_TOKEN is not set`}}}
	other := errors.New("renaming would make two scripts of that name")
	for name, err := range map[string]error{
		"joined":         errors.Join(machines, secret, other),
		"joined wrapped": fmt.Errorf("plan: %w", errors.Join(machines, secret, other)),
	} {
		t.Run(name, func(t *testing.T) {
			got := NewJSONErrors(PlanFormatVersion, err).Errors
			want := []JSONError{
				{Message: "machine psbox099 is not in the team", File: "psync.yaml", Line: 12, Column: 7},
				{Message: `script "s2": variable TOKEN: $MY_TOKEN is not set`, File: "psync.yaml", Line: 8, Column: 7},
				{Message: "renaming would make two scripts of that name"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("NewJSONErrors (-want +got):\n%s", diff)
			}
		})
	}
}
