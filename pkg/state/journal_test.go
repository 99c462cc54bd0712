package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent updates share writes, and every update still returns only
// after a write containing it.
func TestJournalGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	var writes atomic.Int32
	realWrite := j.writeFile
	j.writeFile = func(p string, data []byte) error {
		writes.Add(1)
		time.Sleep(5 * time.Millisecond) // a slow disk
		return realWrite(p, data)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			id := fmt.Sprintf("s%02d", i)
			if err := j.Update(func(s *State) { s.PutScript(Script{ID: id, Name: id}) }); err != nil {
				t.Error(err)
			}
			// What this update returned for is on disk.
			got, err := Load(path)
			if err != nil {
				t.Error(err)
				return
			}
			if _, ok := got.ScriptByID(id); !ok {
				t.Errorf("update %s returned before a write containing it", id)
			}
		})
	}
	wg.Wait()
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scripts) != 50 || got.Serial != 50 {
		t.Errorf("after 50 updates: %d scripts, serial %d; want 50, 50", len(got.Scripts), got.Serial)
	}
	if n := writes.Load(); n >= 50 {
		t.Errorf("%d writes for 50 concurrent updates: none shared", n)
	}
}

// A failed write fails the updates waiting on it; the next write saves
// their changes too.
func TestJournalFailedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	realWrite := j.writeFile
	fail := true
	j.writeFile = func(p string, data []byte) error {
		if fail {
			return errors.New("disk full")
		}
		return realWrite(p, data)
	}
	if err := j.Update(func(s *State) { s.PutScript(Script{ID: "a", Name: "a"}) }); err == nil {
		t.Fatal("update succeeded though its write failed")
	}
	fail = false
	if err := j.Update(func(s *State) { s.PutScript(Script{ID: "b", Name: "b"}) }); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scripts) != 2 {
		t.Errorf("file has %d scripts, want both the failed update's and the next", len(got.Scripts))
	}
}
