package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

// A brief report lists only what was not done: progress already showed
// the rest.
func TestBriefReportListsOnlyProblems(t *testing.T) {
	r := &apply.Report{Elapsed: time.Second, Parallelism: 2, Results: []apply.Result{
		{Change: plan.Change{Key: "script/a", Kind: plan.KindScript, Action: plan.Create, Name: "a"}, Status: apply.Done, Duration: time.Millisecond},
		{Change: plan.Change{Key: "script/b", Kind: plan.KindScript, Action: plan.Create, Name: "b"}, Status: apply.Failed, Error: "create script \"b\": 500 INTERNAL_SERVER_ERROR: boom"},
	}}
	for _, brief := range []bool{false, true} {
		var out bytes.Buffer
		if err := Report(&out, r, Text, Options{Brief: brief}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), `script "a"`); got == brief {
			t.Errorf("brief=%v: done change listed=%v:\n%s", brief, got, out.String())
		}
		if !strings.Contains(out.String(), "boom") || !strings.Contains(out.String(), "Apply failed: 1 done, 1 failed") {
			t.Errorf("brief=%v: failure or summary missing:\n%s", brief, out.String())
		}
	}
}
