package state

import (
	"fmt"
	"sync"
)

// Journal records changes into a state file as they happen: each Update is
// applied under a mutex and saved atomically before Update returns, so an
// interrupted apply loses nothing. It implements apply.Journal.
//
// The caller should hold the state's Lock for as long as it journals.
type Journal struct {
	mu    sync.Mutex
	path  string
	state *State
}

// NewJournal journals changes of s into the file at path. From now on s
// must be read and changed only through the journal.
func NewJournal(path string, s *State) *Journal {
	if s == nil {
		s = New()
	}
	return &Journal{path: path, state: s}
}

// Update applies fn to the state and saves it (Serial incremented). When
// the save fails the change stays in memory and the error is returned; a
// later successful Update writes it too.
func (j *Journal) Update(fn func(*State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn(j.state)
	if err := j.state.Save(j.path); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// State returns a deep copy of the journaled state as it is now.
func (j *Journal) State() *State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state.Clone()
}
