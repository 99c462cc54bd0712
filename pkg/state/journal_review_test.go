package state

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These tests review the journal adversarially: they stop the journal's
// writes at every point a kill could (before and after the state file is
// replaced, part way through an append) by copying what is on disk at that
// moment, and check that the copy loads, to a state that holds every
// update already acknowledged.

// reviewSecret marks the bodies of sensitive scripts: it must never reach
// a file.
const reviewSecret = "REVIEW-SECRET"

// diskCopy copies the state file and its journal, as they are now, into a
// new directory, with the journal's bytes from off replaced by tail (a
// torn append) when tail is not nil. It returns the copy's state path.
func diskCopy(t *testing.T, path string, off int64, tail []byte) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), DefaultFileName)
	for _, f := range []struct{ from, to string }{{path, dst}, {JournalPath(path), JournalPath(dst)}} {
		data, err := os.ReadFile(f.from)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if tail != nil && f.from == JournalPath(path) {
			data = append(bytes.Clone(data[:min(off, int64(len(data)))]), tail...)
		}
		if err := os.WriteFile(f.to, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// cuts are the lengths of data at which a kill could cut an append short:
// nothing, a byte, around every line end, half, and all of it.
func cuts(data []byte) []int {
	out := []int{0, 1, len(data) / 2, len(data)}
	for i, b := range data {
		if b == '\n' {
			out = append(out, i, i+1)
		}
	}
	return out
}

// noSecret fails if a file of the copy at path holds a sensitive body.
func noSecret(t *testing.T, path, when string) {
	t.Helper()
	for _, f := range []string{path, JournalPath(path)} {
		data, err := os.ReadFile(f)
		if err == nil && bytes.Contains(data, []byte(reviewSecret)) {
			t.Errorf("%s: %s holds a sensitive body", when, filepath.Base(f))
		}
	}
}

// reviewUpdate is randomUpdate plus the ways of handing a sensitive body
// to the state, and target changes (which force a checkpoint).
func reviewUpdate(r *rand.Rand) func(*State) {
	base := randomUpdate(r)
	id := fmt.Sprintf("sid%d", r.IntN(12))
	secret := fmt.Sprintf("echo %s-%d\n", reviewSecret, r.IntN(100))
	team := fmt.Sprintf("team-%d", r.IntN(3))
	var extra func(*State)
	switch r.IntN(8) {
	case 0:
		extra = func(s *State) {
			s.PutScript(Script{ID: id, Name: "secret-" + id, Body: &secret, BodySHA256: BodyHash(secret), Sensitive: true})
		}
	case 1:
		// Careless code making an entry sensitive through the pointer.
		extra = func(s *State) {
			if e, ok := s.ScriptByID(id); ok {
				e.Sensitive, e.Body, e.BodySHA256 = true, &secret, BodyHash(secret)
			}
		}
	case 2:
		extra = func(s *State) { s.Team = team }
	}
	return func(s *State) {
		base(s)
		if extra != nil {
			extra(s)
		}
	}
}

// Sequential updates, with a kill simulated at every write point of every
// update and of Close: each copy loads to the state of an update at least
// as late as the last one acknowledged, and no later than the one in
// flight.
func TestReviewKillAtEveryWritePoint(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			path := filepath.Join(t.TempDir(), DefaultFileName)
			start := &State{Lineage: "L", APIURL: "https://api.example", Team: "team-0"}
			if err := start.Save(path); err != nil {
				t.Fatal(err)
			}
			// history[serial] is the state after the update of that
			// serial, as a shadow copy applying the same updates says.
			shadow := start.Clone()
			history := map[int64]string{shadow.Serial: encoded(t, shadow)}
			var acked, inFlight int64 = shadow.Serial, shadow.Serial
			var copies int
			check := func(copyPath, when string) {
				t.Helper()
				copies++
				noSecret(t, copyPath, when)
				got, err := Load(copyPath)
				if err != nil {
					t.Fatalf("%s: a kill here leaves a state that does not load: %v", when, err)
				}
				if got.Serial < acked || got.Serial > inFlight {
					t.Fatalf("%s: a kill here loads serial %d; want %d..%d", when, got.Serial, acked, inFlight)
				}
				if g := encoded(t, got); g != history[got.Serial] {
					t.Fatalf("%s: a kill here loads\n%s\nwant the state of serial %d:\n%s", when, g, got.Serial, history[got.Serial])
				}
			}
			j := NewJournal(path, start.Clone())
			realWrite, realAppend := j.writeState, j.appendAt
			j.writeState = func(p string, data []byte) error {
				check(diskCopy(t, path, 0, nil), "before a state write")
				if err := realWrite(p, data); err != nil {
					return err
				}
				check(diskCopy(t, path, 0, nil), "after a state write")
				return nil
			}
			j.appendAt = func(f *os.File, data []byte, off int64) error {
				for _, n := range cuts(data) {
					check(diskCopy(t, path, off, data[:n]), fmt.Sprintf("append of %d bytes cut at %d", len(data), n))
				}
				return realAppend(f, data, off)
			}
			for step := range 50 {
				fn := reviewUpdate(r)
				fn(shadow)
				shadow.Serial++
				history[shadow.Serial] = encoded(t, shadow)
				inFlight = shadow.Serial
				update(t, j, fn)
				acked = shadow.Serial
				check(diskCopy(t, path, 0, nil), fmt.Sprintf("after update %d", step+1))
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			check(diskCopy(t, path, 0, nil), "after Close")
			if copies < 200 {
				t.Errorf("only %d kill points checked", copies)
			}
		})
	}
}

// Concurrent updates, each adding its own script, with writes that fail
// now and then (some after writing part of their bytes) and kills
// simulated at every write: every update that returned nil is in every
// later copy, and once the failures stop, Close saves every update, even
// those whose write failed.
func TestReviewConcurrentFailuresAndKills(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), DefaultFileName)
			j := NewJournal(path, &State{Lineage: "L", APIURL: "https://api.example"})
			var mu sync.Mutex // guards r, acked and failing
			r := rand.New(rand.NewPCG(seed, 5))
			acked := map[string]bool{}
			failing := true
			failNow := func() bool {
				mu.Lock()
				defer mu.Unlock()
				return failing && r.IntN(4) == 0
			}
			// ackedNow is what a kill at this moment must keep.
			ackedNow := func() []string {
				mu.Lock()
				defer mu.Unlock()
				var ids []string
				for id := range acked {
					ids = append(ids, id)
				}
				return ids
			}
			check := func(copyPath, when string, must []string) {
				t.Helper()
				got, err := Load(copyPath)
				if err != nil {
					t.Errorf("%s: a kill here leaves a state that does not load: %v", when, err)
					return
				}
				for _, id := range must {
					if _, ok := got.ScriptByID(id); !ok {
						t.Errorf("%s: a kill here loses %s, whose update had returned nil", when, id)
					}
				}
			}
			realWrite, realAppend := j.writeState, j.appendAt
			j.writeState = func(p string, data []byte) error {
				must := ackedNow()
				check(diskCopy(t, path, 0, nil), "before a state write", must)
				if failNow() {
					return errors.New("injected: disk full")
				}
				if err := realWrite(p, data); err != nil {
					return err
				}
				check(diskCopy(t, path, 0, nil), "after a state write", must)
				return nil
			}
			j.appendAt = func(f *os.File, data []byte, off int64) error {
				must := ackedNow()
				for _, n := range []int{0, len(data) / 3, len(data) - 1} {
					check(diskCopy(t, path, off, data[:max(n, 0)]), "mid-append", must)
				}
				time.Sleep(200 * time.Microsecond)
				if failNow() {
					f.WriteAt(data[:len(data)/2], off)
					return errors.New("injected: I/O error")
				}
				return realAppend(f, data, off)
			}
			var wg sync.WaitGroup
			var failed atomic.Int32
			for w := range 8 {
				wg.Go(func() {
					for i := range 15 {
						id := fmt.Sprintf("w%d-%02d", w, i)
						err := j.Update(func(s *State) {
							s.PutScript(Script{ID: id, Name: id})
							if i%5 == 4 {
								s.RemoveScript(fmt.Sprintf("w%d-%02d", w, i-4))
								s.PutScript(Script{ID: fmt.Sprintf("w%d-%02d", w, i-4), Name: fmt.Sprintf("w%d-%02d", w, i-4), RunOnce: true})
							}
						})
						if err != nil {
							failed.Add(1)
							continue
						}
						mu.Lock()
						acked[id] = true
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if failed.Load() == 0 {
				t.Error("no write failed: the test injects nothing")
			}
			mu.Lock()
			failing = false
			mu.Unlock()
			want := j.State()
			if len(want.Scripts) != 8*15 {
				t.Errorf("%d scripts in memory, want %d", len(want.Scripts), 8*15)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			loadEqual(t, path, want, "after Close")
			if _, err := os.Stat(JournalPath(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("journal left after Close: %v", err)
			}
		})
	}
}

// The journal file is closed when a checkpoint replaces it and at Close:
// an apply leaks no descriptor, whatever its checkpoints.
func TestReviewNoDescriptorLeak(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	path := filepath.Join(t.TempDir(), DefaultFileName)
	before := fds()
	for round := range 3 {
		j := NewJournal(path, nil)
		for i := range 10 {
			id := fmt.Sprintf("r%d-%d", round, i)
			update(t, j, func(s *State) {
				s.PutScript(Script{ID: id, Name: id})
				if i%3 == 0 {
					s.Team = id // a checkpoint replaces the journal file
				}
			})
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if after := fds(); after != before {
		t.Errorf("%d descriptors open before three applies, %d after", before, after)
	}
}

// A journal record never carries what it need not: a record of an update
// that touched nothing holds only its serial, and replaying it still
// counts the update.
func TestReviewEmptyUpdateIsRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, &State{Lineage: "L", APIURL: "u"})
	update(t, j, func(s *State) { s.PutScript(Script{ID: "a", Name: "a"}) })
	update(t, j, func(s *State) {}) // a Forget of what is already gone
	update(t, j, func(s *State) { s.RemoveScript("gone") })
	update(t, j, func(s *State) { s.AddAssignment("gone", "m") })
	data, err := os.ReadFile(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if want := []string{`{"serial":2}`, `{"serial":3,"removedScripts":["gone"]}`, `{"serial":4}`}; strings.Join(lines[1:], "\n") != strings.Join(want, "\n") {
		t.Errorf("records\n%s\nwant\n%s", strings.Join(lines[1:], "\n"), strings.Join(want, "\n"))
	}
	loadEqual(t, path, j.State(), "before Close")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}
