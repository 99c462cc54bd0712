package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/state"
)

// The state file is psync's word that it owns an object, and a state file
// can be edited in a pull request like any other. It is not proof: a
// change that acts on an object only because a state entry names its id is
// flagged, in its reasons (which every format shows), when the entry
// cannot be trusted:
//
//   - the state records no target (Options.UnboundState): nothing ties its
//     entries to this team;
//   - the API says an object psync would delete or replace was made before
//     the state began (its lineage's time, Options.Created): psync adopted
//     it then, or the entry points at an object psync never made;
//   - the API shows the id of an entry psync would delete or replace under
//     another name than the state records: renamed in the console, or an
//     entry pointed at an object psync never made. (An update that renames
//     it back says so in its drift reasons already.)
//
// psync still plans the change (a console rename is common, and refusing
// would leave the team unmanageable); the reviewer sees why it may be
// wrong. A flagged delete or replace is the one to read twice.

// clockSkew is how far the API's clock may be behind the machine that
// began the state before an object seems older than the state.
const clockSkew = 5 * time.Minute

// UnverifiedPrefix starts the reason that flags such a change.
const UnverifiedPrefix = "unverified ownership: "

// flagUnverifiedOwnership adds the reason to every change on an owned
// object whose state entry cannot be trusted.
func (p *planner) flagUnverifiedOwnership() {
	stScripts := map[string]string{}
	for _, s := range p.st.Scripts {
		stScripts[s.ID] = s.Name
	}
	stTemplates := map[string]string{}
	for _, t := range p.st.Templates {
		stTemplates[t.ID] = t.Name
	}
	remoteScripts := map[string]string{}
	for _, r := range p.snap.Scripts {
		remoteScripts[r.ID] = r.Name
	}
	remoteTemplates := map[string]string{}
	for _, r := range p.snap.Templates {
		remoteTemplates[r.ID] = r.Name
	}
	began, hasBegan := state.LineageTime(p.st.Lineage)
	flagged := 0
	for i := range p.changes {
		c := &p.changes[i]
		if c.ID == "" || c.Action == Forget {
			continue
		}
		var stName, remoteName string
		var owned bool
		switch c.Kind {
		case KindScript:
			stName, owned = stScripts[c.ID]
			remoteName = remoteScripts[c.ID]
		case KindTemplate:
			stName, owned = stTemplates[c.ID]
			remoteName = remoteTemplates[c.ID]
		default:
			continue
		}
		if !owned {
			continue
		}
		var doubts []string
		if p.opts.UnboundState {
			doubts = append(doubts, "the state file records no API URL or team, so nothing ties its entry to this team")
		}
		// An update that renames it back already says so in its drift
		// reasons; a delete or replace of an object under another name
		// is where a forged entry does harm.
		destroys := c.Action == Delete || c.Action == Replace
		if created, ok := p.opts.Created[c.ID]; destroys && ok && hasBegan && created.Before(began.Add(-clockSkew)) {
			doubts = append(doubts, fmt.Sprintf("the API says it was made %s, before this state began (%s): psync adopted it then, or the entry is not psync's",
				created.UTC().Format(time.RFC3339), began.Format(time.RFC3339)))
		}
		if destroys && remoteName != "" && remoteName != stName {
			doubts = append(doubts, fmt.Sprintf("the state records id %s as %q, but the API shows it as %q", c.ID, stName, remoteName))
		}
		if len(doubts) == 0 {
			continue
		}
		c.Reasons = append(c.Reasons, UnverifiedPrefix+strings.Join(doubts, "; ")+": the object may not be psync's")
		flagged++
	}
	if flagged > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("%d %s act on objects psync owns only by the state file's word, which cannot be verified here: check them (look for %q)", flagged, pluralWord(flagged, "change", "changes"), strings.TrimSuffix(UnverifiedPrefix, ": ")))
	}
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
