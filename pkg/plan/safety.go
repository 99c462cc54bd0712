package plan

import (
	"fmt"
	"slices"
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
//   - all-owned-gone: every one of the (at least minOwnedGone) objects the
//     state owns is gone from the team. That is what a state of another
//     team looks like (the spec's API cannot say whose a key is), and
//     forgetting them all would leave that team's objects unmanaged for
//     good. Overridden by --allow-mass-delete, for when they really were
//     all deleted outside psync.
func findings(changes []Change, snap *remote.Snapshot, owned, maxPercent int, opts Options) []Finding {
	var out []Finding
	var protected, gone []string
	deletes := map[Kind][]string{}
	for _, c := range changes {
		if c.Action == Forget && !slices.Contains(c.Reasons, reasonIgnored) {
			gone = append(gone, c.Key)
		}
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
			Message: fmt.Sprintf("the plan destroys %s protected by preventDestroy (%s): to destroy %s, first apply preventDestroy: false in %s manifest entry (put the entry back if you removed it)",
				count(len(protected), "object"), listKeys(protected), pronoun(len(protected)), possessive(len(protected))),
			Override:   "--allow-destroy",
			Overridden: opts.AllowDestroy,
		})
	}
	if owned >= minOwnedGone && len(gone) == owned {
		out = append(out, Finding{
			Rule: RuleAllOwnedGone,
			Keys: gone,
			Message: fmt.Sprintf("none of the %d objects the state owns is in the team: is this the state of another team or API key? "+
				"Use the key of the state's team, or --state to pick this team's state file; if they really were all deleted outside psync, the override forgets them",
				owned),
			Override:   "--allow-mass-delete",
			Overridden: opts.AllowMassDelete,
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
			Message: fmt.Sprintf("the plan deletes %d of %d remote %ss (%d%%), more than maxDeletePercent (%d%%): check the manifest",
				n, total, kind, n*100/total, maxPercent),
			Override:   "--allow-mass-delete",
			Overridden: opts.AllowMassDelete,
		})
	}
	return out
}

// minOwnedGone is the fewest owned objects for all-owned-gone: losing one
// or two to the console is ordinary.
const minOwnedGone = 3

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func possessive(n int) string {
	if n == 1 {
		return "its"
	}
	return "their"
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
