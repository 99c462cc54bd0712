package plan_test

import (
	"bytes"
	"strings"
	"testing"

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
	tests := []struct {
		name       string
		stateName  string // the state's name for id s1; the API calls it "team-billing"
		tplName    string // the state's name for template t1; the API calls it "gpu-base"
		unbound    bool
		wantFlag   []string // keys of the changes flagged
		wantReason string
	}{
		{"bound, same names", "team-billing", "gpu-base", false, nil, ""},
		{"entry points at another name", "old-tool", "gpu-base", false, []string{"script/team-billing"}, `the state records id s1 as "old-tool", but the API shows it as "team-billing"`},
		{"template entry points at another name", "team-billing", "my-template", false, []string{"template/gpu-base"}, `id t1 as "my-template"`},
		{"unbound state", "team-billing", "gpu-base", true, []string{"script/team-billing", "template/gpu-base"}, "records no API URL or team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := state.New()
			st.Lineage = "lineage-1"
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
			p, err := plan.Compute(m, snap, st, plan.Options{APIURL: "https://api.test/v1", UnboundState: tt.unbound, AllowMassDelete: true})
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
