package plan

import (
	"fmt"
	"strings"

	"github.com/psync-dev/psync/pkg/remote"
)

// findings applies the safety rules to ordered changes.
//
//   - prevent-destroy: a delete or replace of an object protected by
//     preventDestroy (in the manifest or remembered in the state).
//   - max-delete-percent: for each kind with at least 10 remote objects,
//     more deletes than maxPercent of them. Replaces do not count: they
//     keep the number of objects.
func findings(changes []Change, snap *remote.Snapshot, maxPercent int, opts Options) []Finding {
	var out []Finding
	var protected []string
	deletes := map[Kind][]string{}
	for _, c := range changes {
		if c.Action != Delete && c.Action != Replace {
			continue
		}
		if c.Protected {
			protected = append(protected, c.Key)
		}
		if c.Action == Delete {
			deletes[c.Kind] = append(deletes[c.Kind], c.Key)
		}
	}
	if len(protected) > 0 {
		out = append(out, Finding{
			Rule: RulePreventDestroy,
			Keys: protected,
			Message: fmt.Sprintf("the plan destroys %s protected by preventDestroy (%s): to destroy %s, apply preventDestroy: false first, or pass --allow-destroy",
				count(len(protected), "object"), listKeys(protected), pronoun(len(protected))),
			Override:   "--allow-destroy",
			Overridden: opts.AllowDestroy,
		})
	}
	for _, kind := range []Kind{KindScript, KindTemplate} {
		total := len(snap.Scripts)
		if kind == KindTemplate {
			total = len(snap.Templates)
		}
		n := len(deletes[kind])
		if total < 10 || n*100 <= maxPercent*total {
			continue
		}
		out = append(out, Finding{
			Rule: RuleMaxDeletePercent,
			Keys: deletes[kind],
			Message: fmt.Sprintf("the plan deletes %d of %d remote %ss (%d%%), more than maxDeletePercent (%d%%): check the manifest, or pass --allow-mass-delete",
				n, total, kind, n*100/total, maxPercent),
			Override:   "--allow-mass-delete",
			Overridden: opts.AllowMassDelete,
		})
	}
	return out
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// listKeys names up to ten keys.
func listKeys(keys []string) string {
	if len(keys) <= 10 {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(keys[:10], ", "), len(keys)-10)
}
