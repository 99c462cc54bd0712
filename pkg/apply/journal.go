package apply

import (
	"sync"

	"github.com/psync-dev/psync/pkg/state"
)

// groupJournal commits concurrent journal updates together: while one save
// is in progress, the updates that arrive queue up, and the next save
// applies them all at once. Each Update still returns only after a save
// that includes it, so "recorded before reported done" holds, but an apply
// of thousands of changes makes far fewer saves than changes (a state file
// save is an encode of the whole state and an fsync).
//
// The saves happen on the callers' goroutines: the caller whose update
// opens a batch saves it, then hands the next batch to the first caller
// waiting in it, so that nobody's change is held back by saving others'.
type groupJournal struct {
	j Journal

	mu       sync.Mutex
	queue    []*pendingUpdate
	flushing bool
}

type pendingUpdate struct {
	fn  func(*state.State)
	err error
	// wake receives once: when the update is saved, or when its caller is
	// to save the next batch (lead).
	wake chan struct{}
	lead bool
}

func newGroupJournal(j Journal) *groupJournal { return &groupJournal{j: j} }

// Update applies fn in a save shared with the updates queued beside it.
// When that save fails, every update in it gets the error.
func (g *groupJournal) Update(fn func(*state.State)) error {
	p := &pendingUpdate{fn: fn, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	if g.flushing {
		g.mu.Unlock()
		<-p.wake
		if !p.lead {
			return p.err
		}
		g.mu.Lock()
	}
	g.flushing = true
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()

	err := g.j.Update(func(st *state.State) {
		for _, b := range batch {
			b.fn(st)
		}
	})

	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range batch {
		if b != p {
			b.err = err
			b.wake <- struct{}{}
		}
	}
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		g.flushing = false
	}
	return err
}
