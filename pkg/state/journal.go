package state

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/google/renameio/v2"
)

// Journal records changes into a state file as they happen: Update applies
// a change and returns only once the state file holding it has been written
// atomically, so an interrupted apply loses nothing. It implements
// apply.Journal.
//
// Writes are group-committed: while one write is in flight, the changes of
// concurrent Updates accumulate in memory and the next write carries all of
// them. Every Update still waits for a write that contains its change, but
// N concurrent workers cost about one write per round instead of N, which
// is what keeps journaling off an apply's critical path (a state file with
// thousands of bodies takes milliseconds to encode and sync).
//
// Serial counts changes: it is incremented once per Update.
//
// The caller should hold the state's Lock for as long as it journals.
type Journal struct {
	mu      sync.Mutex
	written *sync.Cond // broadcast after every write attempt
	path    string
	state   *State
	changes uint64 // Updates applied to state
	saved   uint64 // Updates contained in the file
	writing bool
	// writeFile writes the file atomically; tests slow it down.
	writeFile func(path string, data []byte) error
}

// NewJournal journals changes of s into the file at path. From now on s
// must be read and changed only through the journal.
func NewJournal(path string, s *State) *Journal {
	if s == nil {
		s = New()
	}
	j := &Journal{path: path, state: s, writeFile: func(path string, data []byte) error {
		return renameio.WriteFile(path, data, 0o644, renameio.WithTempDir(filepath.Dir(path)))
	}}
	j.written = sync.NewCond(&j.mu)
	return j
}

// Update applies fn to the state and returns once a write containing the
// change is on disk. When a write fails the change stays in memory and the
// error is returned; a later successful write saves it too.
func (j *Journal) Update(fn func(*State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn(j.state)
	j.state.Serial++
	j.changes++
	mine := j.changes
	for j.saved < mine {
		if j.writing {
			j.written.Wait()
			continue
		}
		if err := j.write(); err != nil {
			return fmt.Errorf("journal: save state %s: %w", j.path, err)
		}
	}
	return nil
}

// write saves every change applied so far. It is called with mu held and
// releases it during the write so that other Updates can apply their
// changes and wait for the next write.
func (j *Journal) write() error {
	j.writing = true
	upTo := j.changes
	data, err := j.state.encode()
	if err == nil {
		j.mu.Unlock()
		err = j.writeFile(j.path, data)
		j.mu.Lock()
	}
	j.writing = false
	if err == nil {
		j.saved = upTo
	}
	j.written.Broadcast()
	return err
}

// State returns a deep copy of the journaled state as it is now.
func (j *Journal) State() *State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state.Clone()
}
