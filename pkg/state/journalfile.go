package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
)

// The journal file sits beside the state file while an apply runs (see
// Journal). It is JSON lines: a header naming the state file it continues,
// then one record per journaled update, appended as the apply goes:
//
//	{"psyncJournal":1,"lineage":"…","serial":41,"stateSha256":"…"}
//	{"serial":42,"scripts":[{"id":"scr_1","name":"setup",…}]}
//	{"serial":43,"assignments":{"scr_1":["psbox001","psbox002"]}}
//	{"serial":44,"removedTemplates":["tpl_9"]}
//
// A record holds the whole new value of every entry the update changed and
// the ids of the entries it removed (and, for a script whose assignments
// alone changed, only its new assignment list): replaying it needs no
// knowledge of what the update did. Load replays the journal when its header continues the
// state file exactly (same lineage, same serial). A journal the state file
// has already absorbed (an apply that stopped between writing the folded
// state and removing the journal) is ignored. A last line without its
// newline is a record whose write was cut short by a crash; its update never
// returned, so it is dropped.

// JournalPath is the journal file of the state file at statePath.
func JournalPath(statePath string) string { return statePath + ".journal" }

// journalVersion is the version of the journal file format.
const journalVersion = 1

type journalHeader struct {
	Version int    `json:"psyncJournal"`
	Lineage string `json:"lineage"`
	// Serial is the serial of the state file the records continue, and
	// StateSHA256 the SHA-256 of its bytes: lineage and serial alone do
	// not tell that file from another state of the same history (a branch,
	// a restored backup).
	Serial      int64  `json:"serial"`
	StateSHA256 string `json:"stateSha256"`
}

type journalRecord struct {
	// Serial is the state's serial after this update: the header's plus
	// the record's position.
	Serial           int64      `json:"serial"`
	Scripts          []Script   `json:"scripts,omitempty"`
	Templates        []Template `json:"templates,omitempty"`
	RemovedScripts   []string   `json:"removedScripts,omitempty"`
	RemovedTemplates []string   `json:"removedTemplates,omitempty"`
	// Assignments holds, by script id, the whole new assignment list of
	// the scripts whose assignments alone changed: an assign does not
	// write its script's body again.
	Assignments map[string][]string `json:"assignments,omitempty"`
	// Deleted and Undeleted are the records of recent deletes the update
	// made, and those it dropped ("kind/id").
	Deleted   []Deleted `json:"deleted,omitempty"`
	Undeleted []string  `json:"undeleted,omitempty"`
}

// touchedSet collects the ids of the entries an update may have changed:
// every entry a mutation method changed or removed, and every entry a
// ByID method handed out a pointer to; and apart, the scripts whose
// assignments alone AddAssignment and RemoveAssignment changed. A nil set
// collects nothing.
type touchedSet struct {
	scripts, templates, assigned []string
	// deletes holds the keys ("kind/id") of the records of recent deletes
	// the update added or dropped.
	deletes []string
}

func (t *touchedSet) deleted(key string) {
	if t != nil {
		t.deletes = append(t.deletes, key)
	}
}

func (t *touchedSet) assignments(id string) {
	if t != nil {
		t.assigned = append(t.assigned, id)
	}
}

func (t *touchedSet) script(id string) {
	if t != nil {
		t.scripts = append(t.scripts, id)
	}
}

func (t *touchedSet) template(id string) {
	if t != nil {
		t.templates = append(t.templates, id)
	}
}

// record describes, from the state after an update, the entries the update
// touched.
func (s *State) record(t *touchedSet) journalRecord {
	r := journalRecord{Serial: s.Serial}
	slices.Sort(t.scripts)
	for _, id := range slices.Compact(t.scripts) {
		if i := slices.IndexFunc(s.Scripts, func(x Script) bool { return x.ID == id }); i >= 0 {
			// A copy: the journal keeps its records, and later updates
			// change the state's entries in place.
			e := s.Scripts[i]
			e.Assignments = slices.Clone(e.Assignments)
			e.Selectors = cloneSelectors(e.Selectors)
			e.Secrets = maps.Clone(e.Secrets)
			if e.Sensitive || e.Body == nil {
				e.Body = nil
			} else {
				body := *e.Body
				e.Body = &body
			}
			r.Scripts = append(r.Scripts, e)
		} else {
			r.RemovedScripts = append(r.RemovedScripts, id)
		}
	}
	// A script recorded whole above carries its assignments already; a
	// script that is gone was removed by a method that recorded it.
	slices.Sort(t.assigned)
	for _, id := range slices.Compact(t.assigned) {
		if _, whole := slices.BinarySearch(t.scripts, id); whole {
			continue
		}
		if i := slices.IndexFunc(s.Scripts, func(x Script) bool { return x.ID == id }); i >= 0 {
			if r.Assignments == nil {
				r.Assignments = map[string][]string{}
			}
			r.Assignments[id] = slices.Clone(s.Scripts[i].Assignments)
		}
	}
	slices.Sort(t.templates)
	for _, id := range slices.Compact(t.templates) {
		if i := slices.IndexFunc(s.Templates, func(x Template) bool { return x.ID == id }); i >= 0 {
			r.Templates = append(r.Templates, s.Templates[i])
		} else {
			r.RemovedTemplates = append(r.RemovedTemplates, id)
		}
	}
	slices.Sort(t.deletes)
	for _, key := range slices.Compact(t.deletes) {
		if i := slices.IndexFunc(s.Deleted, func(d Deleted) bool { return d.key() == key }); i >= 0 {
			r.Deleted = append(r.Deleted, s.Deleted[i])
		} else {
			r.Undeleted = append(r.Undeleted, key)
		}
	}
	return r
}

// appendJSONLine appends v as one line of compact JSON.
func appendJSONLine(buf []byte, v any) ([]byte, error) {
	b := bytes.NewBuffer(buf)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode ends the line
		return buf, err
	}
	return b.Bytes(), nil
}

// replay applies records to s in order. Each record puts and removes
// entries by id as recorded, without the name rules of PutScript and
// PutTemplate (the record already holds their outcome), so only the last
// record of each entry matters: replay keeps that one and rebuilds the
// entry lists once, rather than once per record.
func replay(s *State, records []journalRecord) {
	if len(records) == 0 {
		return
	}
	scripts := map[string]*Script{} // nil: removed
	templates := map[string]*Template{}
	for i := range records {
		r := &records[i]
		for _, id := range r.RemovedScripts {
			scripts[id] = nil
		}
		for j := range r.Scripts {
			e := r.Scripts[j] // a copy: an assignment record may change it
			scripts[e.ID] = &e
		}
		for id, machines := range r.Assignments {
			e, seen := scripts[id]
			if !seen {
				k := slices.IndexFunc(s.Scripts, func(x Script) bool { return x.ID == id })
				if k < 0 {
					continue // in no record and not in the state: nothing to assign to
				}
				c := s.Scripts[k]
				e, scripts[id] = &c, &c
			}
			if e != nil {
				if len(machines) == 0 {
					machines = nil
				}
				e.Assignments = machines
			}
		}
		for _, id := range r.RemovedTemplates {
			templates[id] = nil
		}
		for j := range r.Templates {
			templates[r.Templates[j].ID] = &r.Templates[j]
		}
	}
	s.Scripts = slices.DeleteFunc(s.Scripts, func(x Script) bool { _, ok := scripts[x.ID]; return ok })
	for _, e := range scripts {
		if e != nil {
			s.Scripts = append(s.Scripts, *e)
		}
	}
	s.Templates = slices.DeleteFunc(s.Templates, func(x Template) bool { _, ok := templates[x.ID]; return ok })
	for _, e := range templates {
		if e != nil {
			s.Templates = append(s.Templates, *e)
		}
	}
	slices.SortFunc(s.Scripts, compareScripts)
	slices.SortFunc(s.Templates, compareTemplates)
	for _, r := range records {
		for _, key := range r.Undeleted {
			s.Deleted = slices.DeleteFunc(s.Deleted, func(d Deleted) bool { return d.key() == key })
		}
		s.Deleted = append(s.Deleted, r.Deleted...)
	}
	s.Deleted = normalDeleted(s.Deleted)
	s.Serial = records[len(records)-1].Serial
}

// errJournalAhead means the journal continues a state file newer than the
// one read: a concurrent apply replaced both between the two reads, and
// reading them again sorts it out.
var errJournalAhead = errors.New("the journal continues a newer state file")

// aheadError is an error that errJournalAhead may explain, worded for the
// user should reading again not sort it out.
type aheadError struct{ msg string }

func (e *aheadError) Error() string        { return e.msg }
func (e *aheadError) Is(target error) bool { return target == errJournalAhead }

// replayJournal applies the journal beside the state file at path to s, the
// state read from that file, or New() when the file does not exist. It
// reports whether it replayed records; the caller checks the invariants.
func (s *State) replayJournal(path string, stateExists bool, stateData, data []byte, err error) (bool, error) {
	jpath := JournalPath(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state journal: %w", err)
	}
	h, records, err := parseJournal(jpath, data)
	if err != nil {
		return false, err
	}
	last := h.Serial + int64(len(records))
	switch {
	case !stateExists:
		return false, &aheadError{fmt.Sprintf("state %s is missing, but its journal %s holds the changes of an apply that was interrupted: restore the state file (from version control, say), or delete the journal to go on without them", path, jpath)}
	case h.Lineage != s.Lineage:
		return false, fmt.Errorf("state journal %s continues another state file (lineage %s, not %s): delete it if %s is the right state file", jpath, h.Lineage, s.Lineage, path)
	case h.Serial == s.Serial && h.StateSHA256 != BodyHash(string(stateData)):
		return false, fmt.Errorf("state journal %s continues another version of state %s (same serial %d, other content: the state file was replaced or edited): delete the journal if the state file is the right one", jpath, path, s.Serial)
	case h.Serial == s.Serial:
		replay(s, records)
		s.normalize()
		return true, nil
	case last <= s.Serial:
		// Already folded into the state file; the next apply replaces it.
	case h.Serial > s.Serial:
		return false, &aheadError{fmt.Sprintf("state %s has serial %d, but its journal %s continues serial %d, a newer state file: restore that state file, or delete the journal if this one is right", path, s.Serial, jpath, h.Serial)}
	default:
		return false, fmt.Errorf("state journal %s continues serial %d up to %d, but state %s has serial %d: delete the journal if the state file is the right one", jpath, h.Serial, last, path, s.Serial)
	}
	return false, nil
}

// parseJournal decodes a journal file; name is used in errors.
func parseJournal(name string, data []byte) (journalHeader, []journalRecord, error) {
	var h journalHeader
	line, rest, complete := bytes.Cut(data, []byte("\n"))
	if !complete {
		// The header is written whole (an atomic rename) before any
		// record: a file without one is not a journal psync wrote.
		return h, nil, fmt.Errorf("state journal %s: no header line", name)
	}
	if err := decodeStrict(line, &h); err != nil || h.Version == 0 {
		return h, nil, fmt.Errorf("state journal %s: line 1: not a psync journal header: %v", name, err)
	}
	if h.Version > journalVersion {
		return h, nil, fmt.Errorf("state journal %s: format version %d is newer than this psync understands (%d): upgrade psync", name, h.Version, journalVersion)
	}
	var records []journalRecord
	for n := 2; len(rest) > 0; n++ {
		line, rest, complete = bytes.Cut(rest, []byte("\n"))
		if !complete {
			break // a write cut short by a crash: its update never returned
		}
		var r journalRecord
		if err := decodeStrict(line, &r); err != nil {
			return h, nil, fmt.Errorf("state journal %s: line %d: %w: the journal is damaged (psync never edits a line it wrote); delete it to go on without the changes it holds (the next plan adopts their objects by name)", name, n, err)
		}
		if want := h.Serial + int64(len(records)) + 1; r.Serial != want {
			return h, nil, fmt.Errorf("state journal %s: line %d: serial %d, want %d", name, n, r.Serial, want)
		}
		records = append(records, r)
	}
	return h, records, nil
}

func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return shortError(err)
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}
