package state

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/psync-dev/psync/internal/safefile"
)

// New returns an empty state: it owns nothing, knows no hashes and has no
// lineage yet (Save gives it one).
func New() *State {
	return &State{FormatVersion: FormatVersion, Scripts: []Script{}, Templates: []Template{}}
}

// BodyHash is the hex SHA-256 of a script body, as recorded in the state and
// in plans.
func BodyHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// migrations[v] turns a state document of format version v into version
// v+1. When FormatVersion is bumped, the function that upgrades the
// previous version goes here, so old state files keep loading.
var migrations = map[int]func(doc []byte) ([]byte, error){
	// Version 2 only added the optional list of recent deletes: a version
	// 1 document is a version 2 document. (Version 1 psync refuses a
	// version 2 file as newer rather than drop the deletes it records.)
	1: func(doc []byte) ([]byte, error) { return doc, nil },
}

// Load reads the state file at path. A missing file is not an error: it
// returns New(). A file written by a newer psync, a corrupt file or one that
// breaks the state's invariants is an error naming the file.
//
// A journal beside the file (JournalPath), left by an apply that was killed
// before it could fold its changes into the file, is replayed: the state
// returned is the state the apply had recorded.
func Load(path string) (*State, error) {
	// An apply running alongside may replace the state file and its
	// journal between the two reads; reading again sorts that out.
	for attempt := 1; ; attempt++ {
		s, err := loadWithJournal(path)
		if errors.Is(err, errJournalAhead) && attempt < 3 {
			continue
		}
		return s, err
	}
}

func loadWithJournal(path string) (*State, error) {
	// The journal before the state file: an apply writes the state file
	// before it starts or removes a journal, so a state file read after
	// the journal is at least as new as every record read, and a journal
	// that is gone was folded into the state file read next.
	journal, jerr := safefile.ReadFile(JournalPath(path), journalFileRules(path))
	s := New()
	data, err := safefile.ReadFile(path, stateFileRules(path))
	exists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read state: %w", err)
	default:
		if s, err = decode(path, data); err != nil {
			return nil, err
		}
	}
	// A checkpoint in the middle of an apply may break an invariant that
	// the journal's later records restore: only the replayed state must
	// hold them.
	replayed, err := s.replayJournal(path, exists, data, journal, jerr)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		if replayed {
			return nil, fmt.Errorf("state %s with its journal %s: %w", path, JournalPath(path), err)
		}
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return s, nil
}

// MaxStateBytes and MaxJournalBytes cap the state file and its journal. A
// state holding every body of a thousand 16 KiB scripts is 16 MiB; the
// journal of an apply can repeat each body a few times. Larger files are
// refused before they are read, so a hostile one cannot exhaust memory.
const (
	MaxStateBytes   = 64 << 20
	MaxJournalBytes = 256 << 20
)

// stateFileRules confine the state file: a regular file, at most
// MaxStateBytes, and, should the path be a symlink, one that stays in the
// directory the path names (the state may sit wherever --state says, but a
// committed link must not make psync read a file outside it).
func stateFileRules(path string) safefile.Options {
	return safefile.Options{Root: filepath.Dir(path), Limit: MaxStateBytes, What: "state file"}
}

func journalFileRules(statePath string) safefile.Options {
	return safefile.Options{Root: filepath.Dir(statePath), Limit: MaxJournalBytes, What: "state journal"}
}

// decode decodes a state document, without checking its invariants.
func decode(name string, data []byte) (*State, error) {
	var head struct {
		FormatVersion *int `json:"formatVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("state %s: %w", name, describeJSONError(data, err))
	}
	if head.FormatVersion == nil {
		return nil, fmt.Errorf("state %s: no formatVersion: this is not a psync state file", name)
	}
	v := *head.FormatVersion
	switch {
	case v > FormatVersion:
		return nil, fmt.Errorf("state %s: format version %d is newer than this psync understands (%d): upgrade psync", name, v, FormatVersion)
	case v < 1:
		return nil, fmt.Errorf("state %s: invalid format version %d", name, v)
	}
	data, err := migrate(name, data, v, FormatVersion)
	if err != nil {
		return nil, err
	}

	var s State
	dec := json.NewDecoder(bytes.NewReader(data))
	// Unknown fields mean a file psync did not write, or one a newer psync
	// wrote without bumping the version: refusing beats silently dropping
	// them on the next save.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("state %s: %w", name, describeJSONError(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("state %s: unexpected data after the JSON object", name)
	}
	s.FormatVersion = FormatVersion
	s.normalize()
	return &s, nil
}

// parse decodes and validates a state document; name is used in errors.
func parse(name string, data []byte) (*State, error) {
	s, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("state %s: %w", name, err)
	}
	return s, nil
}

// migrate upgrades a state document from format version from to version
// to, one migration at a time.
func migrate(name string, data []byte, from, to int) ([]byte, error) {
	for v := from; v < to; v++ {
		m, ok := migrations[v]
		if !ok {
			return nil, fmt.Errorf("state %s: format version %d is no longer supported by this psync", name, v)
		}
		var err error
		if data, err = m(data); err != nil {
			return nil, fmt.Errorf("state %s: migrate from format version %d: %w", name, v, err)
		}
	}
	return data, nil
}

// describeJSONError adds line:column to a syntax or type error.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		return fmt.Errorf("line %d:%d: %w", line, col, err)
	case errors.As(err, &typ):
		line, col := lineCol(data, typ.Offset)
		return fmt.Errorf("line %d:%d: %w", line, col, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		line, col := lineCol(data, int64(len(data)))
		return fmt.Errorf("line %d:%d: truncated JSON", line, col)
	}
	return shortError(err)
}

// maxQuotedError is the most of a decoding error an error message keeps:
// encoding/json quotes an unknown field's name whole, and a state file
// from a pull request may make that name a secret, or a megabyte.
const maxQuotedError = 160

// shortError cuts err's message to maxQuotedError bytes.
func shortError(err error) error {
	msg := err.Error()
	if len(msg) <= maxQuotedError {
		return err
	}
	return errors.New(strings.ToValidUTF8(msg[:maxQuotedError], "") + "…")
}

func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col == 0 {
		col = 1
	}
	return line, col
}

// Validate checks the state's invariants: every entry has an id and a name,
// ids are unique within a kind, names are unique among scripts and among
// templates that are not deposed, a recorded body matches its hash, and a
// sensitive script has no body.
func (s *State) Validate() error {
	var errs []error
	ids := map[string]bool{}
	names := map[string]string{}
	for i, sc := range s.Scripts {
		switch {
		case sc.ID == "":
			errs = append(errs, fmt.Errorf("scripts[%d] (%q) has no id", i, sc.Name))
		case ids[sc.ID]:
			errs = append(errs, fmt.Errorf("script id %s appears more than once", sc.ID))
		}
		ids[sc.ID] = true
		if sc.Name == "" {
			errs = append(errs, fmt.Errorf("script %s has no name", sc.ID))
		} else if other, dup := names[sc.Name]; dup {
			errs = append(errs, fmt.Errorf("script name %q is owned twice (ids %s and %s)", sc.Name, other, sc.ID))
		} else {
			names[sc.Name] = sc.ID
		}
		if sc.Sensitive && sc.Body != nil {
			errs = append(errs, fmt.Errorf("script %q is sensitive but the state holds its body: remove the body from the file", sc.Name))
		}
		if sc.BodySHA256 != "" && sc.BodyHMAC != "" {
			errs = append(errs, fmt.Errorf("script %q has both a bodySha256 and a bodyHmac", sc.Name))
		}
		if sc.Body != nil && sc.BodySHA256 != "" && BodyHash(*sc.Body) != sc.BodySHA256 {
			errs = append(errs, fmt.Errorf("script %q: recorded body does not match its bodySha256", sc.Name))
		}
	}
	ids = map[string]bool{}
	names = map[string]string{}
	for i, t := range s.Templates {
		switch {
		case t.ID == "":
			errs = append(errs, fmt.Errorf("templates[%d] (%q) has no id", i, t.Name))
		case ids[t.ID]:
			errs = append(errs, fmt.Errorf("template id %s appears more than once", t.ID))
		}
		ids[t.ID] = true
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("template %s has no name", t.ID))
		} else if t.Deposed {
			continue
		} else if other, dup := names[t.Name]; dup {
			errs = append(errs, fmt.Errorf("template name %q is owned twice (ids %s and %s)", t.Name, other, t.ID))
		} else {
			names[t.Name] = t.ID
		}
	}
	errs = append(errs, s.validateDeleted()...)
	return errors.Join(errs...)
}

// normalize sorts entries and assignments and turns nil slices into empty
// ones, so that equal states serialise identically.
func (s *State) normalize() {
	if s.Scripts == nil {
		s.Scripts = []Script{}
	}
	if s.Templates == nil {
		s.Templates = []Template{}
	}
	for i := range s.Scripts {
		a := s.Scripts[i].Assignments
		slices.Sort(a)
		a = slices.Compact(a)
		if len(a) == 0 {
			a = nil
		}
		s.Scripts[i].Assignments = a
		s.Scripts[i].Selectors = normalSelectors(s.Scripts[i].Selectors)
	}
	slices.SortStableFunc(s.Scripts, compareScripts)
	slices.SortStableFunc(s.Templates, compareTemplates)
	s.Deleted = normalDeleted(s.Deleted)
}

func compareScripts(a, b Script) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
}

func compareTemplates(a, b Template) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
}

// Save writes the state to path atomically (a temp file renamed over the
// old one) and removes any journal beside it, as indented JSON with entries
// sorted by name then id. It increments Serial (every write does), gives
// the state a random lineage on its first save, and drops any body of a
// sensitive script. It normalises s in place.
func (s *State) Save(path string) error {
	s.Serial++
	if err := s.writeFile(path); err != nil {
		s.Serial--
		return err
	}
	return nil
}

// writeFile is Save without the new serial.
func (s *State) writeFile(path string) error {
	data, err := s.encode()
	if err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	if err := renameio.WriteFile(path, data, 0o644, renameio.WithTempDir(filepath.Dir(path))); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	// Whatever a journal beside the file held, Load replayed into s.
	if err := os.Remove(JournalPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save state: remove the journal it replaces: %w", err)
	}
	return nil
}

// encode prepares s for writing (lineage, sorting, no sensitive bodies)
// and returns its bytes. The caller sets the serial.
func (s *State) encode() ([]byte, error) {
	s.FormatVersion = FormatVersion
	if s.Lineage == "" {
		lineage, err := newLineage()
		if err != nil {
			return nil, err
		}
		s.Lineage = lineage
	}
	for i := range s.Scripts {
		if s.Scripts[i].Sensitive {
			s.Scripts[i].Body = nil
		}
	}
	s.normalize()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Bodies are shell scripts: keep '<', '>' and '&' readable in diffs.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newLineage returns a UUID version 7 (RFC 9562): random, but for its
// first 48 bits, the time in Unix milliseconds. LineageTime reads it back,
// so a plan can tell an object created before the state began.
func newLineage() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lineage: %w", err)
	}
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// LineageTime returns when the state of this lineage was first written,
// from a version 7 lineage; false for another (the random version 4
// lineages of older psyncs, or one edited by hand).
func LineageTime(lineage string) (time.Time, bool) {
	h := strings.ReplaceAll(lineage, "-", "")
	if len(lineage) != 36 || len(h) != 32 || h[12] != '7' {
		return time.Time{}, false
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return time.Time{}, false
	}
	var ms uint64
	for i := range 6 {
		ms = ms<<8 | uint64(b[i])
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	c := *s
	c.touched = nil
	c.Scripts = make([]Script, len(s.Scripts))
	for i, sc := range s.Scripts {
		if sc.Body != nil {
			b := *sc.Body
			sc.Body = &b
		}
		sc.Assignments = slices.Clone(sc.Assignments)
		sc.Selectors = cloneSelectors(sc.Selectors)
		sc.Secrets = maps.Clone(sc.Secrets)
		c.Scripts[i] = sc
	}
	c.Templates = slices.Clone(s.Templates)
	if c.Templates == nil {
		c.Templates = []Template{}
	}
	c.Deleted = slices.Clone(s.Deleted)
	return &c
}
