package apply_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// Against the live API a body above 16 KiB is planned with a warning and
// pushed; one the API refuses fails with the API's own message.
func TestLiveScriptAbove16KiB(t *testing.T) {
	inst, err := sandbox.Start(sandbox.Config{Dialect: sandbox.DialectPaperspace1, Live: sandbox.LiveConfig{MaxScriptBytes: 20_000}}, "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { inst.Close() })
	client, err := remote.New(remote.Config{BaseURL: inst.URL, APIKey: inst.Key, BackoffBase: time.Millisecond})
	must(t, err)
	w := &world{t: t, client: client, statePath: filepath.Join(t.TempDir(), state.DefaultFileName)}
	m := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 100},
		Scripts: []manifest.Script{
			{Name: "17k", Body: strings.Repeat("#", 17_000), IsEnabled: true},
			{Name: "30k", Body: strings.Repeat("#", 30_000), IsEnabled: true},
		},
	}
	p, _, st := w.plan(m)
	if len(p.Warnings) != 2 || !strings.Contains(p.Warnings[0], "above the 16 KiB") {
		t.Errorf("warnings %q, want one per script above 16 KiB", p.Warnings)
	}
	j := state.NewJournal(w.statePath, st)
	report, err := apply.Run(context.Background(), p, client, j, apply.Options{})
	must(t, err)
	must(t, j.Close())
	for _, res := range report.Results {
		switch res.Change.Name {
		case "17k":
			if res.Status != apply.Done {
				t.Errorf("17k: %s %s", res.Status, res.Error)
			}
		case "30k":
			if res.Status != apply.Failed || !strings.Contains(res.Error, "400 BAD_REQUEST: script is 30000 bytes; the most is 20000") {
				t.Errorf("30k: %s %q, want failed with the API's message", res.Status, res.Error)
			}
		}
	}
}
