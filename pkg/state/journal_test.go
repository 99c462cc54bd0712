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

// encoded is s as Save would write it, for comparing states.
func encoded(t *testing.T, s *State) string {
	t.Helper()
	data, err := s.Clone().encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// loadEqual fails unless the files at path load to want.
func loadEqual(t *testing.T, path string, want *State, context string) {
	t.Helper()
	got, err := Load(path)
	if err != nil {
		t.Fatalf("%s: %v", context, err)
	}
	if g, w := encoded(t, got), encoded(t, want); g != w {
		t.Fatalf("%s: the files load to\n%s\nwant\n%s", context, g, w)
	}
}

func update(t *testing.T, j *Journal, fn func(*State)) {
	t.Helper()
	if err := j.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// Concurrent updates share writes, and every update still returns only
// after a write containing it.
func TestJournalGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	var writes atomic.Int32
	realAppend := j.appendAt
	j.appendAt = func(f *os.File, data []byte, off int64) error {
		writes.Add(1)
		time.Sleep(5 * time.Millisecond) // a slow disk
		return realAppend(f, data, off)
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
	if n := writes.Load(); n >= 49 {
		t.Errorf("%d appends for 50 concurrent updates (after the first write): none shared", n)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// After the first write, an update appends its record to the journal: the
// state file is not written again until Close, which folds the journal
// into it and removes the journal.
func TestJournalAppendsThenFolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	var stateWrites int
	realWrite := j.writeState
	j.writeState = func(p string, data []byte) error {
		stateWrites++
		return realWrite(p, data)
	}
	for i := range 20 {
		id := fmt.Sprintf("s%02d", i)
		body := strings.Repeat("echo hi\n", 100)
		update(t, j, func(s *State) { s.PutScript(Script{ID: id, Name: id, Body: &body, BodySHA256: BodyHash(body)}) })
	}
	update(t, j, func(s *State) { s.AddAssignment("s03", "m1") })
	update(t, j, func(s *State) { s.RemoveScript("s07") })
	if stateWrites != 1 {
		t.Errorf("%d writes of the state file for 22 updates; want 1 (then appends)", stateWrites)
	}
	// The journal holds one record per update after the first, each with
	// only the entries it touched.
	data, err := os.ReadFile(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 1+21 {
		t.Fatalf("journal has %d lines, want a header and 21 records:\n%s", len(lines), data)
	}
	if want := `{"serial":22,"removedScripts":["s07"]}`; lines[21] != want {
		t.Errorf("last record\n%s\nwant\n%s", lines[21], want)
	}
	// An assign writes the script's assignments, not its body again.
	if want := `{"serial":21,"assignments":{"s03":["m1"]}}`; lines[20] != want {
		t.Errorf("an assignment's record\n%s\nwant\n%s", lines[20], want)
	}
	want := j.State()
	loadEqual(t, path, want, "before Close")

	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if stateWrites != 2 {
		t.Errorf("%d writes of the state file after Close; want 2", stateWrites)
	}
	if _, err := os.Stat(JournalPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal is still there after Close: %v", err)
	}
	loadEqual(t, path, want, "after Close")
	if err := j.Update(func(*State) {}); err == nil {
		t.Error("an update after Close succeeded")
	}
}

// The property a killed apply relies on: after every update, whatever its
// mix of mutations, the files on disk load to the state in memory.
func TestJournalReplaysEveryUpdate(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			path := filepath.Join(t.TempDir(), DefaultFileName)
			start := New()
			start.APIURL = "https://api.example"
			j := NewJournal(path, start)
			for step := range 200 {
				update(t, j, randomUpdate(r))
				if step%10 == 0 || step == 199 {
					loadEqual(t, path, j.State(), fmt.Sprintf("after update %d", step+1))
				}
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// randomUpdate makes one to three mutations of the kinds the applier and
// the refresh make, through every way of changing an entry.
func randomUpdate(r *rand.Rand) func(*State) {
	var ops []func(*State)
	for range 1 + r.IntN(3) {
		id := fmt.Sprintf("id%d", r.IntN(12))
		name := fmt.Sprintf("n%d", r.IntN(8))
		machine := fmt.Sprintf("m%d", r.IntN(4))
		body := fmt.Sprintf("echo <%d> & done\n", r.IntN(100))
		sensitive := r.IntN(4) == 0
		switch r.IntN(9) {
		case 0, 1:
			ops = append(ops, func(s *State) {
				s.PutScript(Script{ID: "s" + id, Name: name, Body: &body, BodySHA256: BodyHash(body), Sensitive: sensitive, IsEnabled: true})
			})
		case 2:
			ops = append(ops, func(s *State) { s.RemoveScript("s" + id) })
		case 3:
			ops = append(ops, func(s *State) { s.AddAssignment("s"+id, machine) })
		case 4:
			ops = append(ops, func(s *State) { s.RemoveAssignment("s"+id, machine) })
		case 5:
			// As plan.Refresh does: through the pointer.
			ops = append(ops, func(s *State) {
				if e, ok := s.ScriptByID("s" + id); ok {
					e.RunOnce = !e.RunOnce
					e.Assignments = []string{}
				}
			})
		case 6:
			deposed := r.IntN(3) == 0
			ops = append(ops, func(s *State) {
				s.PutTemplate(Template{ID: "t" + id, Name: name, MachineID: machine, Deposed: deposed})
			})
		case 7:
			ops = append(ops, func(s *State) { s.RemoveTemplate("t" + id) })
		case 8:
			ops = append(ops, func(s *State) {
				if e, ok := s.TemplateByID("t" + id); ok {
					e.Note = body
				}
			})
		}
	}
	return func(s *State) {
		for _, op := range ops {
			op(s)
		}
	}
}

// A failed write fails the updates waiting on it; the next write saves
// their changes too, whether the failure was the first write (the state
// file) or a later one (a torn append).
func TestJournalFailedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	realWrite, realAppend := j.writeState, j.appendAt
	fail := true
	j.writeState = func(p string, data []byte) error {
		if fail {
			return errors.New("disk full")
		}
		return realWrite(p, data)
	}
	j.appendAt = func(f *os.File, data []byte, off int64) error {
		if fail {
			// Half the records reach the file before the error.
			if _, err := f.WriteAt(data[:len(data)/2], off); err != nil {
				return err
			}
			return errors.New("disk full")
		}
		return realAppend(f, data, off)
	}
	if err := j.Update(func(s *State) { s.PutScript(Script{ID: "a", Name: "a"}) }); err == nil {
		t.Fatal("update succeeded though its write failed")
	}
	fail = false
	update(t, j, func(s *State) { s.PutScript(Script{ID: "b", Name: "b"}) })
	loadEqual(t, path, j.State(), "after a failed first write")

	fail = true
	longName := strings.Repeat("x", 500)
	if err := j.Update(func(s *State) { s.PutScript(Script{ID: "c", Name: longName}) }); err == nil {
		t.Fatal("update succeeded though its append failed")
	}
	// The torn half-record is on disk; it is not mistaken for a record.
	loadEqual(t, path, withoutScript(j.State(), "c"), "after a torn append")
	fail = false
	update(t, j, func(s *State) { s.PutScript(Script{ID: "d", Name: "d"}) })
	loadEqual(t, path, j.State(), "after the next append")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

func withoutScript(s *State, id string) *State {
	s.RemoveScript(id)
	s.Serial--
	return s
}

// An update that changes what records do not hold (the target) saves the
// state file whole again.
func TestJournalTargetChangeCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	update(t, j, func(s *State) { s.PutScript(Script{ID: "a", Name: "a"}) })
	update(t, j, func(s *State) { s.Team = "team-1" })
	update(t, j, func(s *State) { s.PutScript(Script{ID: "b", Name: "b"}) })
	loadEqual(t, path, j.State(), "after a target change")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// What a kill leaves behind: a journal whose last line was cut short, or a
// journal the state file already holds (killed between saving the folded
// state and removing the journal).
func TestJournalKilled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultFileName)
	j := NewJournal(path, nil)
	for i := range 5 {
		id := fmt.Sprint(i)
		update(t, j, func(s *State) { s.PutScript(Script{ID: id, Name: id}) })
	}
	want := j.State()
	journal, err := os.ReadFile(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("cut short", func(t *testing.T) {
		torn := append(bytes.Clone(journal), `{"serial":6,"scripts":[{"id":"x","na`...)
		if err := os.WriteFile(JournalPath(path), torn, 0o644); err != nil {
			t.Fatal(err)
		}
		loadEqual(t, path, want, "with a torn last line")
	})

	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("already folded", func(t *testing.T) {
		if err := os.WriteFile(JournalPath(path), journal, 0o644); err != nil {
			t.Fatal(err)
		}
		loadEqual(t, path, want, "with a folded journal left behind")
		// The next apply starts a new journal over it.
		j := NewJournal(path, want.Clone())
		update(t, j, func(s *State) { s.RemoveScript("2") })
		update(t, j, func(s *State) { s.RemoveScript("3") })
		loadEqual(t, path, j.State(), "after the next apply's updates")
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("saved over", func(t *testing.T) {
		if err := os.WriteFile(JournalPath(path), journal, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(path); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(JournalPath(path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Save left the journal it replaces: %v", err)
		}
	})
}

// Journals that cannot be replayed are refused with a message naming the
// file and what to do, never silently dropped.
func TestJournalRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		state   bool // write the state file
		journal string
		want    string
	}{
		{"state missing", false, `{"psyncJournal":1,"lineage":"L","serial":3}` + "\n", "is missing, but its journal"},
		{"another lineage", true, `{"psyncJournal":1,"lineage":"other","serial":3}` + "\n", "continues another state file (lineage other, not L)"},
		{"no header", true, `{"psyncJournal":1`, "no header line"},
		{"not a journal", true, `{"hello":1}` + "\n", "line 1: not a psync journal header"},
		{"newer", true, `{"psyncJournal":9,"lineage":"L","serial":3}` + "\n", "format version 9 is newer"},
		{"corrupt record", true, `{"psyncJournal":1,"lineage":"L","serial":3}` + "\n{\"serial\":4,\"scripts\":[}\n{\"serial\":5}\n", "line 2:"},
		{"serial gap", true, `{"psyncJournal":1,"lineage":"L","serial":3}` + "\n{\"serial\":5}\n", "line 2: serial 5, want 4"},
		{"ahead of the state", true, `{"psyncJournal":1,"lineage":"L","serial":9}` + "\n{\"serial\":10}\n", "has serial 3, but its journal"},
		{"half folded", true, `{"psyncJournal":1,"lineage":"L","serial":2}` + "\n{\"serial\":3}\n{\"serial\":4}\n", "continues serial 2 up to 4"},
		{"other content, same serial", true, `{"psyncJournal":1,"lineage":"L","serial":3,"stateSha256":"0123"}` + "\n", "continues another version of state"},
		{"breaks an invariant", true, `{"psyncJournal":1,"lineage":"L","serial":3,"stateSha256":"SHA"}` + "\n" + `{"serial":4,"scripts":[{"id":"b","name":"a","runOnce":false,"isEnabled":true}]}` + "\n", `script name "a" is owned twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), DefaultFileName)
			if tc.state {
				s := &State{Lineage: "L", Serial: 2, APIURL: "https://x", Scripts: []Script{{ID: "a", Name: "a"}}}
				if err := s.Save(path); err != nil { // serial 3
					t.Fatal(err)
				}
			}
			journal := tc.journal
			if data, err := os.ReadFile(path); err == nil {
				journal = strings.Replace(journal, "SHA", BodyHash(string(data)), 1)
			}
			if err := os.WriteFile(JournalPath(path), []byte(journal), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v\nwant an error containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), JournalPath(path)) {
				t.Errorf("the error does not name the journal: %v", err)
			}
		})
	}
}

// A sensitive script's body reaches neither the state file nor the
// journal.
func TestJournalSensitive(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	secret := "TOPSECRET"
	update(t, j, func(s *State) { s.PutScript(Script{ID: "a", Name: "a", BodySHA256: BodyHash(secret)}) })
	update(t, j, func(s *State) { s.PutScript(Script{ID: "b", Name: "b", Body: &secret, Sensitive: true}) })
	update(t, j, func(s *State) {
		e, _ := s.ScriptByID("a")
		e.Sensitive, e.Body = true, &secret // as careless code might
	})
	for _, f := range []string{path, JournalPath(path)} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("%s holds a sensitive body:\n%s", filepath.Base(f), data)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// An update that changes an entry behind the journal's back (not through
// the State's methods) would be lost by a killed apply: Close reports it,
// after saving the state file from memory.
func TestJournalCloseCatchesUntrackedChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	update(t, j, func(s *State) { s.PutScript(Script{ID: "a", Name: "a"}) })
	update(t, j, func(s *State) { s.PutScript(Script{ID: "b", Name: "b"}) })
	update(t, j, func(s *State) { s.Scripts[0].RunOnce = true })
	want := j.State()
	err := j.Close()
	if err == nil || !strings.Contains(err.Error(), "internal error: replaying the journal") {
		t.Fatalf("Close = %v, want the replay check to fail", err)
	}
	loadEqual(t, path, want, "after Close")
}

// What selectors matched is journaled with its script and replayed after
// a kill, and an assign after it keeps it (its record holds only the
// assignments).
func TestJournalSelectors(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	update(t, j, func(s *State) { s.PutScript(Script{ID: "s1", Name: "cuda", IsEnabled: true}) })
	update(t, j, func(s *State) {
		if !s.SetSelectors("s1", []Selector{{Selector: "name=train-*", Machines: []string{"psbox002", "psbox001"}}}) {
			t.Error("SetSelectors of an owned script reported false")
		}
		if s.SetSelectors("nope", []Selector{{Selector: "x=y"}}) {
			t.Error("SetSelectors of a script not owned reported true")
		}
	})
	update(t, j, func(s *State) { s.AddAssignment("s1", "psbox001") })
	want := j.State()
	sc, _ := want.ScriptByID("s1")
	if got := fmt.Sprint(sc.Selectors); got != "[{name=train-* [psbox001 psbox002]}]" {
		t.Fatalf("selectors in memory: %s", got)
	}
	// Killed here: the journal holds the updates, the state file the first.
	loadEqual(t, path, want, "replayed after a kill")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	loadEqual(t, path, want, "folded")
}
