package apply_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// Deleted objects linger in the live API for a while, with or without
// dtDeleted. A plan and apply made inside that window delete (and
// replace); the next plan, still inside it, is empty: the state remembers
// the deletes. Once the API stops showing them, a plan drops the records.
func TestDeletesThatLingerAreNotPlannedAgain(t *testing.T) {
	for _, unmarked := range []bool{false, true} {
		t.Run(fmt.Sprint("unmarked=", unmarked), func(t *testing.T) {
			inst, err := sandbox.Start(sandbox.Config{Dialect: sandbox.DialectPaperspace1, Live: sandbox.LiveConfig{
				TemplateDelay: -1, DeletedLinger: time.Hour, DeletedUnmarked: unmarked,
			}}, "127.0.0.1:0")
			must(t, err)
			t.Cleanup(func() { inst.Close() })
			client, err := remote.New(remote.Config{BaseURL: inst.URL, APIKey: inst.Key, BackoffBase: time.Millisecond, PollInterval: time.Millisecond})
			must(t, err)
			w := &world{t: t, client: client, statePath: filepath.Join(t.TempDir(), state.DefaultFileName)}

			v1 := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 100},
				Scripts: []manifest.Script{
					{Name: "keep", Body: "echo keep\n", IsEnabled: true},
					{Name: "drop", Body: "echo drop\n", IsEnabled: true},
				},
				Templates: []manifest.Template{
					{Name: "base", MachineID: "psbox001"},
					{Name: "old", MachineID: "psbox002"},
				},
				Assignments: []manifest.Assignment{{Script: "drop", Machines: []string{"psbox001"}}},
			}
			w.apply(v1, apply.Options{})
			w.assertConverged(v1)

			// drop and old leave the manifest; base is made from another
			// machine (a replace: create, then delete the old one). With
			// prune, a lingering object that looked unmanaged would be
			// deleted again.
			v2 := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 100, Prune: true},
				Scripts:   []manifest.Script{{Name: "keep", Body: "echo keep\n", IsEnabled: true}},
				Templates: []manifest.Template{{Name: "base", MachineID: "psbox003"}},
			}
			w.apply(v2, apply.Options{})
			w.assertConverged(v2)

			// Still inside the window: the API lists the deleted objects
			// (marked deleted or not) and reads them by id.
			st, err := state.Load(w.statePath)
			must(t, err)
			if len(st.Deleted) != 3 {
				t.Fatalf("state records %d deletes, want 3: %+v", len(st.Deleted), st.Deleted)
			}
			for _, del := range st.Deleted {
				var gerr error
				if del.Kind == state.KindScript {
					_, gerr = client.GetScript(context.Background(), del.ID)
				} else {
					_, gerr = client.GetTemplate(context.Background(), del.ID)
				}
				if unmarked && gerr != nil {
					t.Errorf("%s %s: %v; the unmarked object should still read as there", del.Kind, del.Name, gerr)
				}
				if !unmarked && !remote.IsNotFound(gerr) {
					t.Errorf("%s %s: %v; an object marked deleted reads as gone", del.Kind, del.Name, gerr)
				}
			}
			p, _, _ := w.plan(v2)
			if len(p.Unmanaged) != 0 {
				t.Errorf("deleted objects listed as unmanaged: %+v", p.Unmanaged)
			}
			var settled []plan.Settled
			if !unmarked {
				// The client drops objects marked deleted: their records
				// can go.
				for _, del := range st.Deleted {
					settled = append(settled, plan.Settled{Kind: plan.Kind(del.Kind), ID: del.ID})
				}
			}
			if diff := cmp.Diff(settled, p.Settled); diff != "" {
				t.Errorf("settled deletes (-want +got):\n%s", diff)
			}
		})
	}
}
