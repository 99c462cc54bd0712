package plan_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/render"
	"github.com/psync-dev/psync/pkg/state"
)

// TestStateIsNotProof: a delete that only a state entry justifies is
// flagged as unverified, in every format, when the state is unbound or
// when the API shows the entry's id under another name (an entry a pull
// request pointed at someone else's object).
func TestStateIsNotProof(t *testing.T) {
	m := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 100}}
	began := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		stateName  string // the state's name for id s1; the API calls it "team-billing"
		tplName    string // the state's name for template t1; the API calls it "gpu-base"
		unbound    bool
		created    time.Time // the API's dtCreated of s1; the state began at began
		wantFlag   []string  // keys of the changes flagged
		wantReason string
	}{
		{"bound, same names", "team-billing", "gpu-base", false, time.Time{}, nil, ""},
		{"made after the state began", "team-billing", "gpu-base", false, began.Add(time.Hour), nil, ""},
		{"made before the state began", "team-billing", "gpu-base", false, began.Add(-24 * time.Hour), []string{"script/team-billing"}, "before this state began (2026-06-01T00:00:00Z)"},
		{"entry points at another name", "old-tool", "gpu-base", false, time.Time{}, []string{"script/team-billing"}, `the state records id s1 as "old-tool", but the API shows it as "team-billing"`},
		{"template entry points at another name", "team-billing", "my-template", false, time.Time{}, []string{"template/gpu-base"}, `id t1 as "my-template"`},
		{"unbound state", "team-billing", "gpu-base", true, time.Time{}, []string{"script/team-billing", "template/gpu-base"}, "records no API URL or team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := state.New()
			st.Lineage = lineageAt(began)
			if !tt.unbound {
				st.APIURL = "https://api.test/v1"
			}
			st.PutScript(state.Script{ID: "s1", Name: tt.stateName, IsEnabled: true})
			st.PutTemplate(state.Template{ID: "t1", Name: tt.tplName, MachineID: "ps1"})
			snap := &remote.Snapshot{
				Dialect:   remote.DialectPaperspaceV1,
				Scripts:   []remote.Script{{ID: "s1", Name: "team-billing", IsEnabled: true}},
				Templates: []remote.Template{{ID: "t1", Name: "gpu-base", MachineID: "ps1"}},
			}
			created := map[string]time.Time{}
			if !tt.created.IsZero() {
				created["s1"] = tt.created
			}
			p, err := plan.Compute(m, snap, st, plan.Options{APIURL: "https://api.test/v1", UnboundState: tt.unbound, AllowMassDelete: true, Created: created})
			if err != nil {
				t.Fatal(err)
			}
			var flagged []string
			for _, c := range p.Changes {
				for _, r := range c.Reasons {
					if strings.HasPrefix(r, plan.UnverifiedPrefix) {
						flagged = append(flagged, c.Key)
						if !strings.Contains(r, tt.wantReason) {
							t.Errorf("%s: reason %q does not say %q", c.Key, r, tt.wantReason)
						}
					}
				}
			}
			if strings.Join(flagged, ",") != strings.Join(tt.wantFlag, ",") {
				t.Errorf("flagged %v, want %v", flagged, tt.wantFlag)
			}
			for _, f := range []render.Format{render.Text, render.Markdown, render.JSON} {
				var b bytes.Buffer
				if err := render.Plan(&b, p, f, render.Options{}); err != nil {
					t.Fatal(err)
				}
				if got := strings.Contains(b.String(), "unverified ownership"); got != (len(tt.wantFlag) > 0) {
					t.Errorf("%s output shows the flag: %v, want %v:\n%s", f, got, len(tt.wantFlag) > 0, b.String())
				}
			}
		})
	}
}

// lineageAt is a version 7 lineage of a state begun at t.
func lineageAt(t time.Time) string {
	h := fmt.Sprintf("%012x", t.UnixMilli())
	return h[:8] + "-" + h[8:12] + "-7000-8000-000000000000"
}
