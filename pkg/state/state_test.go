package state

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreTracking leaves out what a Journal uses while it runs an update.
var ignoreTracking = cmpopts.IgnoreUnexported(State{})

func ptr[T any](v T) *T { return &v }

func TestLoadMissingIsEmpty(t *testing.T) {
	got, err := Load(filepath.Join(t.TempDir(), "psync.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(New(), got, ignoreTracking); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.Lineage != "" || got.FormatVersion != FormatVersion {
		t.Errorf("empty state: lineage %q, version %d", got.Lineage, got.FormatVersion)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	s := New()
	s.APIURL = "https://api.example/v1"
	s.Team = "t1"
	s.PutScript(Script{ID: "s2", Name: "zeta", BodySHA256: BodyHash("echo z"), Body: ptr("echo z"), IsEnabled: true, Assignments: []string{"m2", "m1", "m2"}})
	s.PutScript(Script{ID: "s1", Name: "alpha", BodySHA256: BodyHash("secret"), Body: ptr("secret"), Sensitive: true, PreventDestroy: true})
	s.PutTemplate(Template{ID: "t2", Name: "base", MachineID: "m1", Note: "n"})
	s.PutTemplate(Template{ID: "t1", Name: "base", MachineID: "m2"}) // deposes t2
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(s.Lineage) {
		t.Errorf("lineage %q is not a UUID", s.Lineage)
	}
	if s.Serial != 1 {
		t.Errorf("serial after first save = %d, want 1", s.Serial)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &State{
		FormatVersion: FormatVersion, Lineage: s.Lineage, Serial: 1,
		APIURL: "https://api.example/v1", Team: "t1",
		Scripts: []Script{
			{ID: "s1", Name: "alpha", BodySHA256: BodyHash("secret"), Sensitive: true, PreventDestroy: true},
			{ID: "s2", Name: "zeta", BodySHA256: BodyHash("echo z"), Body: ptr("echo z"), IsEnabled: true, Assignments: []string{"m1", "m2"}},
		},
		Templates: []Template{
			{ID: "t1", Name: "base", MachineID: "m2"},
			{ID: "t2", Name: "base", MachineID: "m1", Note: "n", Deposed: true},
		},
	}
	if diff := cmp.Diff(want, got, ignoreTracking); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "secret\"") {
		t.Errorf("sensitive body written to the state file:\n%s", raw)
	}
	// Stable formatting: saving the loaded state again changes only the serial.
	lineage := got.Lineage
	if err := got.Save(path); err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(path)
	if got.Lineage != lineage || got.Serial != 2 {
		t.Errorf("second save: lineage %q serial %d", got.Lineage, got.Serial)
	}
	if diff := cmp.Diff(strings.Replace(string(raw), `"serial": 1`, `"serial": 2`, 1), string(raw2)); diff != "" {
		t.Errorf("re-save not stable (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(string(raw), "{\n  \"formatVersion\": 2,\n") {
		t.Errorf("not indented JSON:\n%s", raw)
	}
}

func TestSaveIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	mk := func(order []int) []byte {
		s := New()
		s.Lineage = "fixed"
		scripts := []Script{{ID: "3", Name: "c"}, {ID: "1", Name: "a"}, {ID: "2", Name: "b"}}
		for _, i := range order {
			s.Scripts = append(s.Scripts, scripts[i])
		}
		p := filepath.Join(dir, "s.json")
		if err := s.Save(p); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		return b
	}
	if diff := cmp.Diff(string(mk([]int{0, 1, 2})), string(mk([]int{2, 0, 1}))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, data string
		want       string // regexp
	}{
		{"corrupt", "{\n  \"formatVersion\": 1,\n  \"scripts\": [}\n", `state .*s\.json: line 3:15: invalid character '}'`},
		{"truncated", "{\"formatVersion\": 1, \"scripts\": [", `state .*s\.json: .*unexpected end of JSON input`},
		{"not an object", `[1,2]`, `state .*: line 1:1: json: cannot unmarshal array`},
		{"no version", `{"serial": 3}`, `no formatVersion: this is not a psync state file`},
		{"newer", `{"formatVersion": 99}`, `format version 99 is newer than this psync understands \(2\): upgrade psync`},
		{"zero", `{"formatVersion": 0}`, `invalid format version 0`},
		{"unknown field", `{"formatVersion": 1, "bogus": true}`, `unknown field "bogus"`},
		{"wrong type", "{\"formatVersion\": 1,\n \"serial\": \"x\"}", `line 2:\d+: json: cannot unmarshal string into Go struct field State.serial`},
		{"duplicate id", `{"formatVersion": 1, "scripts": [{"id": "a", "name": "x"}, {"id": "a", "name": "y"}]}`, `script id a appears more than once`},
		{"duplicate name", `{"formatVersion": 1, "scripts": [{"id": "a", "name": "x"}, {"id": "b", "name": "x"}]}`, `script name "x" is owned twice \(ids a and b\)`},
		{"duplicate template name", `{"formatVersion": 1, "templates": [{"id": "a", "name": "x"}, {"id": "b", "name": "x"}]}`, `template name "x" is owned twice`},
		{"duplicate template id", `{"formatVersion": 1, "templates": [{"id": "a", "name": "x"}, {"id": "a", "name": "y", "deposed": true}]}`, `template id a appears more than once`},
		{"no id", `{"formatVersion": 1, "scripts": [{"name": "x"}]}`, `scripts\[0\] \("x"\) has no id`},
		{"no name", `{"formatVersion": 1, "templates": [{"id": "x"}]}`, `template x has no name`},
		{"sensitive body", `{"formatVersion": 1, "scripts": [{"id": "a", "name": "x", "sensitive": true, "body": "pw"}]}`, `script "x" is sensitive but the state holds its body`},
		{"hash mismatch", `{"formatVersion": 1, "scripts": [{"id": "a", "name": "x", "bodySha256": "00", "body": "pw"}]}`, `recorded body does not match its bodySha256`},
		{"trailing", `{"formatVersion": 1} {}`, `line 1:22: invalid character .{. after top-level value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(p, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil {
				t.Fatalf("Load succeeded, want error matching %q", tt.want)
			}
			if !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Errorf("error %q does not match %q", err, tt.want)
			}
		})
	}
}

func TestLoadDeposedTemplatesShareName(t *testing.T) {
	s, err := parse("s", []byte(`{"formatVersion": 1, "templates": [{"id": "b", "name": "x", "deposed": true}, {"id": "a", "name": "x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{s.Templates[0].ID, s.Templates[1].ID}; !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("templates not sorted by name, id: %v", got)
	}
}

func TestMigrate(t *testing.T) {
	// Pretend a format 2 renamed "url" to "apiUrl", and migrate a version 1
	// document up to it.
	old := migrations
	t.Cleanup(func() { migrations = old })
	migrations = map[int]func([]byte) ([]byte, error){
		1: func(doc []byte) ([]byte, error) {
			var m map[string]any
			if err := json.Unmarshal(doc, &m); err != nil {
				return nil, err
			}
			m["apiUrl"] = m["url"]
			delete(m, "url")
			m["formatVersion"] = 2
			return json.Marshal(m)
		},
	}
	got, err := migrate("s", []byte(`{"formatVersion":1,"url":"https://x"}`), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`{"apiUrl":"https://x","formatVersion":2}`, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := migrate("s", nil, 0, 2); err == nil || !strings.Contains(err.Error(), "format version 0 is no longer supported") {
		t.Errorf("missing migration: %v", err)
	}
}

func TestCheckTarget(t *testing.T) {
	s := New()
	if err := s.CheckTarget("https://api/v1/", "t1"); err != nil {
		t.Fatal(err)
	}
	if s.APIURL != "https://api/v1" || s.Team != "t1" {
		t.Errorf("empty state did not adopt the target: %q %q", s.APIURL, s.Team)
	}
	for _, tc := range []struct {
		url, team string
		ok        bool
	}{
		{"https://api/v1", "t1", true},
		{"https://api/v1/", "t1", true},
		{"https://api/v1", "", true}, // team unknown to the caller: cannot tell
		{"https://other/v1", "t1", false},
		{"https://api/v1", "t2", false},
	} {
		err := s.CheckTarget(tc.url, tc.team)
		var te *TargetError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &te)) {
			t.Errorf("CheckTarget(%q, %q) = %v, want ok=%v and a *TargetError", tc.url, tc.team, err, tc.ok)
		}
	}
	// The advice names what points psync back at the state's target.
	for _, tc := range []struct {
		stateURL, url, team, want string
	}{
		{"https://api/v1", "https://other/v1", "t2", "the state belongs to https://api/v1 (team t1), not https://other/v1 (team t2): use --state to pick the state file of this target, or --api-url https://api/v1"},
		{"https://api/v1", "https://api/v1", "t2", "the state belongs to https://api/v1 (team t1), not https://api/v1 (team t2): use --state to pick the state file of this target, or the API key of the state's team"},
		{"sandbox:/data/sb", "https://api/v1", "t2", "the state belongs to sandbox:/data/sb (team t1), not https://api/v1 (team t2): use --state to pick the state file of this target, or --sandbox /data/sb"},
	} {
		st := &State{APIURL: tc.stateURL, Team: "t1"}
		if err := st.CheckTarget(tc.url, tc.team); err == nil || err.Error() != tc.want {
			t.Errorf("error = %v\nwant %s", err, tc.want)
		}
	}
	// A state without a team learns it.
	s2 := &State{APIURL: "https://api/v1"}
	if err := s2.CheckTarget("https://api/v1", "t9"); err != nil || s2.Team != "t9" {
		t.Errorf("CheckTarget = %v, team %q", err, s2.Team)
	}
}

func TestMutations(t *testing.T) {
	s := New()
	s.PutScript(Script{ID: "2", Name: "b"})
	s.PutScript(Script{ID: "1", Name: "c"})
	s.PutScript(Script{ID: "1", Name: "a", Sensitive: true, Body: ptr("x")}) // replace by id (rename)
	s.PutScript(Script{ID: "3", Name: "b"})                                  // recreated after drift: old "b" dropped
	if !s.AddAssignment("3", "m2") || !s.AddAssignment("3", "m1") || !s.AddAssignment("3", "m2") {
		t.Error("AddAssignment on an owned script reported false")
	}
	if s.AddAssignment("nope", "m1") || s.RemoveAssignment("nope", "m1") {
		t.Error("assignment of an unowned script reported true")
	}
	s.AddAssignment("1", "m1")
	s.RemoveAssignment("1", "m1")
	s.RemoveAssignment("3", "m9")
	s.PutTemplate(Template{ID: "t1", Name: "x", MachineID: "m1"})
	s.PutTemplate(Template{ID: "t0", Name: "x", MachineID: "m2"})
	s.PutTemplate(Template{ID: "t3", Name: "a"})
	if !s.RemoveTemplate("t3") || s.RemoveTemplate("t3") {
		t.Error("RemoveTemplate reports wrongly")
	}
	want := &State{FormatVersion: FormatVersion,
		Scripts: []Script{
			{ID: "1", Name: "a", Sensitive: true},
			{ID: "3", Name: "b", Assignments: []string{"m1", "m2"}},
		},
		Templates: []Template{
			{ID: "t0", Name: "x", MachineID: "m2"},
			{ID: "t1", Name: "x", MachineID: "m1", Deposed: true},
		},
	}
	if diff := cmp.Diff(want, s, ignoreTracking); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !s.RemoveScript("3") || s.RemoveScript("3") {
		t.Error("RemoveScript reports wrongly")
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	j := NewJournal(path, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a' + i))
			if err := j.Update(func(s *State) { s.PutScript(Script{ID: id, Name: "s-" + id}) }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scripts) != 20 || got.Serial != 20 {
		t.Errorf("after 20 updates: %d scripts, serial %d", len(got.Scripts), got.Serial)
	}
	if diff := cmp.Diff(got, j.State(), ignoreTracking); diff != "" {
		t.Errorf("journal's state differs from the file (-file +journal):\n%s", diff)
	}
	// A failed save is reported.
	bad := NewJournal(filepath.Join(t.TempDir(), "missing-dir", "s.json"), New())
	if err := bad.Update(func(*State) {}); err == nil {
		t.Error("Update into a missing directory succeeded")
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	l, err := LockAs(path, "psync apply")
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockAs(path, "psync apply --auto-approve")
	var le *LockedError
	if !errors.As(err, &le) || le.Holder == nil {
		t.Fatalf("second lock: %v, want a *LockedError with a holder", err)
	}
	host, _ := os.Hostname()
	if le.Holder.PID != os.Getpid() || le.Holder.Hostname != host || le.Holder.Command != "psync apply" {
		t.Errorf("holder = %+v", le.Holder)
	}
	wantRE := `^state .*psync\.state\.json is locked by pid \d+ on host .+ since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(psync apply\): wait for it to finish \(the lock is released when that process exits\)$`
	if !regexp.MustCompile(wantRE).MatchString(err.Error()) {
		t.Errorf("error %q does not match %q", err, wantRE)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	l2, err := Lock(path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	defer l2.Unlock()
}

func TestLockedErrorWithoutHolder(t *testing.T) {
	err := &LockedError{Path: "psync.state.json"}
	if got, want := err.Error(), "state psync.state.json is locked by another process (lock file psync.state.json.lock): wait for it to finish (the lock is released when that process exits)"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestCommandLine(t *testing.T) {
	if got := commandLine([]string{"/usr/bin/psync", "apply", "--auto-approve"}); got != "psync apply --auto-approve" {
		t.Errorf("got %q", got)
	}
	if got := commandLine([]string{"psync", strings.Repeat("x", 300)}); len(got) != 200 {
		t.Errorf("long command line not shortened: %d", len(got))
	}
}

func TestBodyHash(t *testing.T) {
	if got, want := BodyHash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("BodyHash(\"\") = %s", got)
	}
}

func TestClone(t *testing.T) {
	s := New()
	s.PutScript(Script{ID: "1", Name: "a", Body: ptr("x"), Assignments: []string{"m"}})
	c := s.Clone()
	*c.Scripts[0].Body = "y"
	c.Scripts[0].Assignments[0] = "z"
	if *s.Scripts[0].Body != "x" || s.Scripts[0].Assignments[0] != "m" {
		t.Error("Clone shares memory with the original")
	}
}
