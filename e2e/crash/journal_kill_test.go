package crash

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// doneLine is a progress line of a change the apply reported done, which
// it prints only once the change is journaled:
//
//	done     + script "crash-001" (3ms)
//	done     + script "crash-001" on machine "psbox002" (2ms)
var doneLine = regexp.MustCompile(`(?m)^\s*done\s+\S+\s+script "([^"]+)"(?: on machine "([^"]+)")? \(`)

// TestJournalKeepsEveryReportedChange SIGKILLs applies at random points and
// checks more than that the state loads: every change the killed process
// had printed as done (its journal update had returned) is in the state
// the next command loads. Meanwhile plans run without the lock, reading the
// state file and its journal as the apply writes them: each one loads the
// state (exit 0 or 2, never 1).
func TestJournalKeepsEveryReportedChange(t *testing.T) {
	e := newEnv(t, sandbox.Faults{Latency: time.Millisecond, Jitter: time.Millisecond})
	r := killPoints(t, 3)

	kills, checked, plans := 0, 0, 0
	for round := 1; kills < 6 && round <= 12; round++ {
		empty := desired{version: round}
		empty.write(t, e.dir)
		if code, out := e.run("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: delete all: exit %d\n%s", round, code, out)
		}
		d := desired{version: round, nScripts: 60}
		d.write(t, e.dir)
		at := 5 + r.IntN(d.changes()-10)

		// Plans racing the apply, without its lock.
		stopPlans := make(chan struct{})
		planErrs := make(chan string, 100)
		var planners sync.WaitGroup
		planners.Go(func() {
			for {
				select {
				case <-stopPlans:
					return
				default:
				}
				code, out := e.runQuiet("plan", "--detailed-exitcode")
				if code != 0 && code != 2 {
					planErrs <- fmt.Sprintf("exit %d: %s", code, out)
					return
				}
				plans++
			}
		})

		e.inst.Server.ResetStats()
		printed, killed, err := killWhen(t, e.command("apply", "--auto-approve"), func() bool { return e.inst.Server.Stats().Writes() >= at })
		close(stopPlans)
		planners.Wait()
		close(planErrs)
		for msg := range planErrs {
			t.Fatalf("round %d: a plan racing the apply failed to load the state: %s", round, msg)
		}
		if !killed {
			t.Logf("round %d: apply ended before the kill at write %d (%v)", round, at, err)
			continue
		}
		kills++

		st, err := state.Load(e.statePath)
		if err != nil {
			t.Fatalf("round %d: after a kill at write %d, the state does not load: %v", round, at, err)
		}
		byName := map[string]state.Script{}
		for _, s := range st.Scripts {
			byName[s.Name] = s
		}
		for _, m := range doneLine.FindAllStringSubmatch(printed, -1) {
			checked++
			s, ok := byName[m[1]]
			switch {
			case !ok:
				t.Errorf("round %d: killed at write %d: script %s was reported done but the state does not own it", round, at, m[1])
			case m[2] != "" && !slices.Contains(s.Assignments, m[2]):
				t.Errorf("round %d: killed at write %d: %s on %s was reported done but the state does not record it (%v)", round, at, m[1], m[2], s.Assignments)
			case m[2] == "" && (s.Body == nil || *s.Body != d.body(nameIndex(t, m[1]))):
				t.Errorf("round %d: killed at write %d: script %s was reported done but the state has another body", round, at, m[1])
			}
		}
		if code, out := e.run("apply", "--auto-approve"); code != 0 {
			t.Fatalf("round %d: the re-run after a kill: exit %d\n%s", round, code, out)
		}
		e.check(t, d, fmt.Sprintf("round %d (killed at write %d)", round, at))
		if _, err := os.Stat(state.JournalPath(e.statePath)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("round %d: a journal is left after a complete apply: %v", round, err)
		}
	}
	t.Logf("%d kills; %d changes reported done before a kill, each found in the state; %d plans raced the applies", kills, checked, plans)
	if kills < 3 {
		t.Errorf("only %d applies were killed before they ended", kills)
	}
	if checked == 0 {
		t.Error("no change was reported done before a kill: the check checked nothing")
	}
}

func nameIndex(t *testing.T, name string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(name, "crash-%03d", &i); err != nil {
		t.Fatalf("script name %q: %v", name, err)
	}
	return i
}
