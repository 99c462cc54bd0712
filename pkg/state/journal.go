package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/google/renameio/v2"
)

// Journal records changes into a state file as they happen: Update applies
// a change and returns only once the change is on disk, so an apply killed
// at any moment loses nothing it reported done. It implements
// apply.Journal.
//
// Saving the whole state file for every change would cost time in
// proportion to the state (380 KiB for 1,000 scripts with their bodies),
// and did dominate large applies. So the first write saves the state file
// whole and starts a journal file beside it (JournalPath); every later
// write appends only the records of the changes made since, and syncs.
// Close folds them into the state file and removes the journal; Load
// replays a journal that an apply killed before Close left behind.
//
// Writes are group-committed: while one write is in flight, the records of
// concurrent Updates accumulate in memory and the next write carries all of
// them. Every Update still waits for a write that contains its change, but
// N concurrent workers cost about one write per round instead of N.
//
// Serial counts changes: it is incremented once per Update.
//
// The caller should hold the state's Lock from NewJournal until Close
// returns.
type Journal struct {
	mu      sync.Mutex
	written *sync.Cond // broadcast after every write attempt
	path    string
	state   *State
	changes uint64 // Updates applied to state
	saved   uint64 // Updates on disk
	writing bool
	closed  bool
	// pending holds the records of the changes not yet written, as JSON
	// lines.
	pending []byte
	// checkpointDue says the next write must save the state file whole
	// and start a new journal file: before the first write, after a
	// failed one, and after an update changed what records do not hold
	// (the target or the lineage).
	checkpointDue bool
	file          *os.File // the journal file, once started
	size          int64    // bytes of the journal file written and synced
	// base is the state the last checkpoint saved, and records the
	// records of the updates since, for Close to check that replaying
	// them gives the state in memory.
	base    *State
	records []journalRecord

	// writeState writes the state file atomically, and appendAt writes
	// records at an offset of the journal file and syncs it; tests slow
	// them down or make them fail.
	writeState func(path string, data []byte) error
	appendAt   func(f *os.File, data []byte, off int64) error
}

// NewJournal journals changes of s into the state file at path. From now
// on s must be read and changed only through the journal.
func NewJournal(path string, s *State) *Journal {
	if s == nil {
		s = New()
	}
	j := &Journal{
		path:          path,
		state:         s,
		checkpointDue: true,
		writeState:    writeFileAtomic,
		appendAt:      writeAtAndSync,
	}
	j.written = sync.NewCond(&j.mu)
	return j
}

func writeFileAtomic(path string, data []byte) error {
	return renameio.WriteFile(path, data, 0o644, renameio.WithTempDir(filepath.Dir(path)))
}

func writeAtAndSync(f *os.File, data []byte, off int64) error {
	if _, err := f.WriteAt(data, off); err != nil {
		return err
	}
	return f.Sync()
}

// Update applies fn to the state and returns once a write containing the
// change is on disk. When a write fails the change stays in memory and the
// error is returned; a later successful write saves it too.
func (j *Journal) Update(fn func(*State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return fmt.Errorf("journal: state %s: update after Close", j.path)
	}
	lineage, target := j.state.Lineage, [2]string{j.state.APIURL, j.state.Team}
	touched := &touchedSet{}
	func() {
		j.state.touched = touched
		defer func() { j.state.touched = nil }()
		fn(j.state)
	}()
	j.state.Serial++
	j.changes++
	// The journal file continues a state file of one lineage: a state
	// file of another would not take it after a kill.
	var refused error
	if j.state.Lineage != lineage {
		j.state.Lineage = lineage
		refused = fmt.Errorf("journal: state %s: an update may not change the lineage", j.path)
	}
	if target != [2]string{j.state.APIURL, j.state.Team} {
		j.checkpointDue = true
	}
	if !j.checkpointDue {
		rec := j.state.record(touched)
		var err error
		if j.pending, err = appendJSONLine(j.pending, rec); err != nil {
			j.checkpointDue = true // a checkpoint holds the change instead
		}
		j.records = append(j.records, rec)
	}
	mine := j.changes
	for j.saved < mine {
		if j.closed {
			// Close ran while this update waited, and could not save it.
			return fmt.Errorf("journal: save state %s: closed before the change was saved", j.path)
		}
		if j.writing {
			j.written.Wait()
			continue
		}
		if err := j.write(); err != nil {
			return fmt.Errorf("journal: save state %s: %w", j.path, err)
		}
	}
	return refused
}

// write saves every change applied so far. It is called with mu held and
// releases it during the write, so that other Updates can apply their
// changes and wait for the next write.
func (j *Journal) write() error {
	j.writing = true
	defer func() {
		j.writing = false
		j.written.Broadcast()
	}()
	upTo := j.changes
	if j.checkpointDue {
		return j.checkpoint(upTo)
	}
	data, off := j.pending, j.size
	j.pending = nil
	j.mu.Unlock()
	err := j.appendAt(j.file, data, off)
	j.mu.Lock()
	if err != nil {
		// The next write writes them again, at the same offset and in
		// order, before the records that came meanwhile.
		j.pending = append(data, j.pending...)
		return err
	}
	j.size += int64(len(data))
	j.saved = upTo
	return nil
}

// checkpoint saves the state file whole, then starts a new journal file
// continuing it. It is called with mu held and releases it during the
// writes. The order matters to a crash between the two: a state file newer
// than every record of the old journal makes that journal stale, and Load
// ignores it.
func (j *Journal) checkpoint(upTo uint64) error {
	data, err := j.state.encode()
	if err != nil {
		return err
	}
	// A state file that breaks an invariant would not load after a kill.
	if err := j.state.Validate(); err != nil {
		return err
	}
	header, err := appendJSONLine(nil, journalHeader{Version: journalVersion, Lineage: j.state.Lineage, Serial: j.state.Serial, StateSHA256: BodyHash(string(data))})
	if err != nil {
		return err
	}
	// The state file holds the changes so far; the records of the
	// Updates made during the writes follow it in the new journal.
	j.pending = nil
	j.base, j.records = j.state.Clone(), nil
	j.checkpointDue = false
	old := j.file
	j.mu.Unlock()
	f, err := j.startFiles(data, header)
	j.mu.Lock()
	if err != nil {
		j.checkpointDue = true
		return err
	}
	if old != nil {
		old.Close()
	}
	j.file, j.size = f, int64(len(header))
	j.saved = upTo
	return nil
}

func (j *Journal) startFiles(state, header []byte) (*os.File, error) {
	if err := j.writeState(j.path, state); err != nil {
		return nil, err
	}
	jpath := JournalPath(j.path)
	if err := writeFileAtomic(jpath, header); err != nil {
		return nil, fmt.Errorf("start the journal: %w", err)
	}
	f, err := os.OpenFile(jpath, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("start the journal: %w", err)
	}
	// The renames above must outlive a power cut before the records
	// appended next do.
	if dir, err := os.Open(filepath.Dir(jpath)); err == nil {
		dir.Sync() // not every file system syncs directories; best effort
		dir.Close()
	}
	return f, nil
}

// Close folds the journal into the state file: it saves the state file
// whole and removes the journal file. A journal that recorded nothing
// writes nothing. Updates fail after Close.
//
// Close also checks that the journal's records replay to the state in
// memory, which is what a killed apply relies on. A difference is a bug in psync:
// Close reports it as an error once the state file is saved (from memory,
// so it is right).
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.writing {
		j.written.Wait()
	}
	if j.closed {
		return nil
	}
	j.closed = true
	if j.file != nil {
		defer func() {
			j.file.Close()
			j.file = nil
		}()
	}
	if j.changes == 0 {
		return nil
	}
	onDisk := j.file != nil && !j.checkpointDue && j.saved == j.changes
	kept := ""
	if onDisk {
		kept = fmt.Sprintf(" (every change is in %s, which the next psync command reads)", JournalPath(j.path))
	}
	data, err := j.state.encode()
	if err != nil {
		return fmt.Errorf("journal: save state %s: %w%s", j.path, err, kept)
	}
	if err := j.state.Validate(); err != nil {
		return fmt.Errorf("journal: state %s: %w%s", j.path, err, kept)
	}
	var replayErr error
	if !j.checkpointDue {
		replayErr = j.checkReplay(data)
	}
	if err := j.writeState(j.path, data); err != nil {
		return fmt.Errorf("journal: save state %s: %w%s", j.path, err, kept)
	}
	// Updates waiting for a write return: this one saved them.
	j.saved = j.changes
	// A journal left behind is stale now, and Load ignores it; the next
	// apply replaces it.
	if err := os.Remove(JournalPath(j.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: remove %s after saving the state: %w", JournalPath(j.path), err)
	}
	return replayErr
}

// checkReplay checks that the last checkpoint and the records since, which
// is what the files on disk hold, replay to want, the encoded state in
// memory: that every change an update made was recorded.
func (j *Journal) checkReplay(want []byte) error {
	replayed := j.base.Clone()
	replay(replayed, j.records)
	got, err := replayed.encode()
	if err == nil && !bytes.Equal(got, want) {
		err = errors.New("it differs from the state the apply made")
	}
	if err != nil {
		return fmt.Errorf("internal error: replaying the journal %s: %w (the state file was saved from memory and is right; please report this)", JournalPath(j.path), err)
	}
	return nil
}

// State returns a deep copy of the journaled state as it is now.
func (j *Journal) State() *State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state.Clone()
}
