package apply

import (
	"fmt"
	"time"

	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/state"
)

// Status is what became of one change.
type Status int

// The statuses a change ends in.
const (
	// Pending: never started (the apply was interrupted first).
	Pending Status = iota
	Done
	Failed
	// Skipped: not attempted because a change it depends on failed.
	Skipped
)

var statusNames = map[Status]string{Pending: "pending", Done: "done", Failed: "failed", Skipped: "skipped"}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalText writes the status's name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Result is the outcome of one change.
type Result struct {
	Change plan.Change `json:"change"`
	Status Status      `json:"status"`
	// Err is the failure, for Failed (operation, object, status and the
	// API's message, as the remote client words it).
	Err error `json:"-"`
	// Error is Err's text, for JSON.
	Error string `json:"error,omitempty"`
	// SkippedBecause is the Key of the failed change that caused a skip.
	SkippedBecause string `json:"skippedBecause,omitempty"`
	// Started is when the change started, from the start of the apply;
	// Duration how long it took. Both zero unless it ran.
	Started  time.Duration `json:"started"`
	Duration time.Duration `json:"duration"`
	// Step is the order in which the change started (1 for the first),
	// zero unless it ran. In a dry run it is the schedule.
	Step int `json:"step,omitempty"`
}

// Report is the outcome of an apply: one Result per change, in plan order.
type Report struct {
	Results     []Result      `json:"results"`
	Elapsed     time.Duration `json:"elapsed"`
	DryRun      bool          `json:"dryRun,omitempty"`
	Interrupted bool          `json:"interrupted,omitempty"`
	// Parallelism is the limit the apply ran under.
	Parallelism int `json:"parallelism"`
}

// Counts tallies results by status.
func (r *Report) Counts() map[Status]int {
	n := map[Status]int{}
	for _, res := range r.Results {
		n[res.Status]++
	}
	return n
}

// OK reports whether every change was done.
func (r *Report) OK() bool {
	for _, res := range r.Results {
		if res.Status != Done {
			return false
		}
	}
	return true
}

// EventKind says what an Event reports.
type EventKind int

// The events an apply emits. A change meets them in the order
// EventStarted, EventProgress (any number), EventSaving (when its calls
// succeeded), EventFinished; a skipped change only EventFinished.
const (
	EventStarted EventKind = iota + 1
	// EventProgress: a long change (an asynchronous template create)
	// is still in progress; Message says how far.
	EventProgress
	EventFinished
	// EventSaving: the change's API calls are done and its slot is free;
	// it is finished once the journal has recorded it.
	EventSaving
)

// Event is progress reported while an apply runs, for live output. Events
// of one change arrive in order; events of different changes interleave.
type Event struct {
	Kind    EventKind
	Result  Result // for EventFinished; for the others, Change is set
	Message string
	// Done and Total count finished changes, for a progress line.
	Done, Total int
}

// Journal records each successful change in the state, durably, before
// the next one is reported done. *state.Journal implements it.
type Journal interface {
	// Update applies fn to the state under a lock and saves the result
	// atomically (serial incremented).
	Update(fn func(*state.State)) error
}
