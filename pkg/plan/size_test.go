package plan

import (
	"strings"
	"testing"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/manifest"
)

// The 16 KiB limit is the spec's: a larger body is an error against the
// spec's API, naming where it was written, and a warning against the live
// API, which documents none.
func TestScriptSizeByDialect(t *testing.T) {
	big := strings.Repeat("x", api.MaxScriptBytes+1)
	m := manifestOf([]manifest.Script{
		{Name: "big", Body: big, IsEnabled: true, Pos: manifest.Position{File: "psync.yaml", Line: 3, Column: 5}, BodyPos: manifest.Position{File: "psync.yaml", Line: 4, Column: 13}},
		{Name: "exact", Body: big[1:], IsEnabled: true},
	}, nil)
	_, err := Compute(m, specSnap(nil, nil), stateOf(nil, nil), Options{})
	if want := `psync.yaml:4:13: script "big" is 16385 bytes; the API accepts at most 16384 (16 KiB)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("spec: %v, want %s", err, want)
	}
	p, err := Compute(m, liveSnap(nil, nil), stateOf(nil, nil), Options{})
	if err != nil {
		t.Fatalf("live: %v", err)
	}
	want := `psync.yaml:4:13: script "big" is 16385 bytes, above the 16 KiB Paperspace's legacy API accepted; the live API documents no limit, but may refuse it`
	if len(p.Warnings) != 1 || p.Warnings[0] != want {
		t.Errorf("live warnings %q, want %q", p.Warnings, want)
	}
	if len(p.Changes) != 2 {
		t.Errorf("live: %d changes, want both creates", len(p.Changes))
	}
}
