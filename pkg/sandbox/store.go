package sandbox

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	bolt "go.etcd.io/bbolt"
)

// The data lives in memory, which answers every read; when a directory is
// given, each write is first committed to a bbolt file and only then applied
// in memory and acknowledged. Reads never touch the file, and a write costs
// one small bbolt transaction whatever the number of objects.
type store struct {
	mu    sync.RWMutex
	teams map[string]*team
	db    *bolt.DB     // nil when in memory
	lock  *flock.Flock // held while db is open
	seq   uint64       // the last Seq given
}

type team struct {
	id string
	// machines in creation order (see machines.go); machineOK has their
	// ids; machineSeq is the number of the last machine id given, and
	// machinesStored says they are persisted (changed through the admin
	// routes), so not seeded.
	machines       []*machineRec
	machineOK      map[string]bool
	machineSeq     int
	machinesStored bool
	scripts        map[string]*scriptRec
	templates      map[string]*templateRec
	events         map[string]*eventRec // by event id, kept after the template goes
	// gone holds deleted objects that lists and GET still show, with
	// dtDeleted, for LiveConfig.DeletedLinger.
	gone []goneObj
	// Creation order, so lists come back in a stable order without sorting.
	scriptOrder   []string
	templateOrder []string
}

// scriptRec is a startup script as stored: with its body and assignments.
type scriptRec struct {
	ID        string    `json:"id"`
	TeamID    string    `json:"teamId"`
	Name      string    `json:"name"`
	Script    string    `json:"script"`
	RunOnce   bool      `json:"runOnce"`
	IsEnabled bool      `json:"isEnabled"`
	DtCreated time.Time `json:"dtCreated"`
	Machines  []string  `json:"machines,omitempty"` // sorted, unique
	// Seq numbers creations in the store, so lists keep their order across
	// restarts even for objects created in the same millisecond.
	Seq uint64 `json:"seq"`
	// deleted is set on a deleted script that lingers (see goneObj).
	deleted *time.Time
}

type templateRec struct {
	ID        string    `json:"id"`
	TeamID    string    `json:"teamId"`
	Name      string    `json:"name"`
	Note      string    `json:"note,omitempty"`
	MachineID string    `json:"machineId"`
	DtCreated time.Time `json:"dtCreated"`
	Seq       uint64    `json:"seq"` // as scriptRec.Seq
	// Event is the asynchronous creation of the paperspace-v1 dialect.
	Event *eventRec `json:"event,omitempty"`
	// deleted is set on a deleted template that lingers (see goneObj).
	deleted *time.Time
}

// eventRec is a template-create machine event. Its state follows from the
// clock: new, then in progress, then (at Finish) done or error.
type eventRec struct {
	ID        string    `json:"id"`
	DtCreated time.Time `json:"dtCreated"`
	Started   time.Time `json:"started"`
	Finish    time.Time `json:"finish"`
	Fails     bool      `json:"fails,omitempty"`
	Error     *string   `json:"error,omitempty"` // with Fails; nil: no reason given
	// Spurious ends the event in error, with no message, though the
	// template was made.
	Spurious  bool   `json:"spurious,omitempty"`
	MachineID string `json:"machineId,omitempty"`
}

// failed reports whether the template's creation has ended in error at t:
// the template is then gone.
func (r *templateRec) failed(t time.Time) bool {
	return r.Event != nil && r.Event.Fails && !t.Before(r.Event.Finish)
}

var (
	bucketMeta      = []byte("meta")
	bucketScripts   = []byte("startupScripts")
	bucketTemplates = []byte("customTemplates")
	keyFormat       = []byte("format")
	keyDefaultKey   = []byte("defaultKey")
)

const storeFormat = "1"

// Names of the files in a data directory.
const (
	dbFile   = "sandbox.db"
	lockFile = "sandbox.lock"
)

// openStore opens (creating) the store in dir, or an in-memory one when dir
// is "". It refuses a directory another server holds.
func openStore(dir string, syncWrites bool) (*store, error) {
	st := &store{teams: map[string]*team{}}
	if dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox data directory: %w", err)
	}
	lk := flock.New(filepath.Join(dir, lockFile))
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock sandbox data directory %s: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("sandbox data directory %s is in use by another sandbox server", dir)
	}
	db, err := bolt.Open(filepath.Join(dir, dbFile), 0o600, &bolt.Options{
		Timeout: time.Second,
		// Without fsync a committed transaction is in the kernel's page
		// cache when Commit returns, so it survives the death of this
		// process (kill -9) though not a power cut; see Config.Sync.
		NoSync:         !syncWrites,
		NoGrowSync:     !syncWrites,
		NoFreelistSync: true, // rebuilt on open; saves a page write per commit
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		lk.Unlock()
		return nil, fmt.Errorf("open sandbox store in %s: %w", dir, err)
	}
	st.db, st.lock = db, lk
	if err := st.load(); err != nil {
		st.close()
		return nil, fmt.Errorf("load sandbox store in %s: %w", dir, err)
	}
	return st, nil
}

// load creates the buckets and reads every object into memory.
func (st *store) load() error {
	return st.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if f := meta.Get(keyFormat); f == nil {
			if err := meta.Put(keyFormat, []byte(storeFormat)); err != nil {
				return err
			}
		} else if string(f) != storeFormat {
			return fmt.Errorf("store format %q, want %q", f, storeFormat)
		}
		scripts, err := tx.CreateBucketIfNotExists(bucketScripts)
		if err != nil {
			return err
		}
		templates, err := tx.CreateBucketIfNotExists(bucketTemplates)
		if err != nil {
			return err
		}
		machines, err := tx.CreateBucketIfNotExists(bucketMachines)
		if err != nil {
			return err
		}
		if err := st.loadMachines(machines.ForEach); err != nil {
			return err
		}
		var ss []*scriptRec
		if err := scripts.ForEach(func(k, v []byte) error {
			var r scriptRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("startup script %s: %w", k, err)
			}
			ss = append(ss, &r)
			return nil
		}); err != nil {
			return err
		}
		var ts []*templateRec
		if err := templates.ForEach(func(k, v []byte) error {
			var r templateRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("custom template %s: %w", k, err)
			}
			ts = append(ts, &r)
			return nil
		}); err != nil {
			return err
		}
		sort.Slice(ss, func(i, j int) bool {
			if ss[i].Seq != ss[j].Seq {
				return ss[i].Seq < ss[j].Seq
			}
			return createdBefore(ss[i].DtCreated, ss[i].ID, ss[j].DtCreated, ss[j].ID)
		})
		sort.Slice(ts, func(i, j int) bool {
			if ts[i].Seq != ts[j].Seq {
				return ts[i].Seq < ts[j].Seq
			}
			return createdBefore(ts[i].DtCreated, ts[i].ID, ts[j].DtCreated, ts[j].ID)
		})
		for _, r := range ss {
			st.seq = max(st.seq, r.Seq)
			t := st.team(r.TeamID)
			t.scripts[r.ID] = r
			t.scriptOrder = append(t.scriptOrder, r.ID)
		}
		for _, r := range ts {
			st.seq = max(st.seq, r.Seq)
			t := st.team(r.TeamID)
			t.templates[r.ID] = r
			t.templateOrder = append(t.templateOrder, r.ID)
			if r.Event != nil {
				t.events[r.Event.ID] = r.Event
			}
		}
		return nil
	})
}

func createdBefore(a time.Time, aID string, b time.Time, bID string) bool {
	if !a.Equal(b) {
		return a.Before(b)
	}
	return aID < bID
}

// defaultKey returns the key of the default team, generated once per data
// directory so that a sandbox reopened on the same directory keeps its team.
func (st *store) defaultKey() (string, error) {
	if st.db == nil {
		return newID("sbx_", 20), nil
	}
	var key string
	err := st.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if k := meta.Get(keyDefaultKey); k != nil {
			key = string(k)
			return nil
		}
		key = newID("sbx_", 20)
		return meta.Put(keyDefaultKey, []byte(key))
	})
	return key, err
}

// team returns the team with id, creating it empty. Callers hold mu or are
// single-threaded (load, New).
func (st *store) team(id string) *team {
	t := st.teams[id]
	if t == nil {
		t = &team{id: id, scripts: map[string]*scriptRec{}, templates: map[string]*templateRec{}, events: map[string]*eventRec{}, machineOK: map[string]bool{}}
		st.teams[id] = t
	}
	return t
}

// putScript durably records r, then applies it in memory. Callers hold mu
// for writing.
func (st *store) putScript(t *team, r *scriptRec) error {
	if r.Seq == 0 {
		r.Seq = st.seq + 1
	}
	if err := st.persist(bucketScripts, r.ID, r); err != nil {
		return err
	}
	st.seq = max(st.seq, r.Seq)
	if _, ok := t.scripts[r.ID]; !ok {
		t.scriptOrder = append(t.scriptOrder, r.ID)
	}
	t.scripts[r.ID] = r
	return nil
}

func (st *store) deleteScript(t *team, id string) error {
	if err := st.persist(bucketScripts, id, nil); err != nil {
		return err
	}
	delete(t.scripts, id)
	t.scriptOrder = slices.DeleteFunc(t.scriptOrder, func(s string) bool { return s == id })
	return nil
}

func (st *store) putTemplate(t *team, r *templateRec) error {
	if r.Seq == 0 {
		r.Seq = st.seq + 1
	}
	if err := st.persist(bucketTemplates, r.ID, r); err != nil {
		return err
	}
	st.seq = max(st.seq, r.Seq)
	if _, ok := t.templates[r.ID]; !ok {
		t.templateOrder = append(t.templateOrder, r.ID)
	}
	t.templates[r.ID] = r
	if r.Event != nil {
		t.events[r.Event.ID] = r.Event
	}
	return nil
}

func (st *store) deleteTemplate(t *team, id string) error {
	if err := st.persist(bucketTemplates, id, nil); err != nil {
		return err
	}
	delete(t.templates, id)
	t.templateOrder = slices.DeleteFunc(t.templateOrder, func(s string) bool { return s == id })
	return nil
}

// persist writes (or, with a nil value, deletes) one record in one
// transaction. In memory it does nothing.
func (st *store) persist(bucket []byte, id string, v any) error {
	if st.db == nil {
		return nil
	}
	var data []byte
	if v != nil {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return err
		}
	}
	err := st.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if data == nil {
			return b.Delete([]byte(id))
		}
		return b.Put([]byte(id), data)
	})
	if err != nil {
		return fmt.Errorf("persist %s %s: %w", bucket, id, err)
	}
	return nil
}

func (st *store) close() error {
	if st.db == nil {
		return nil
	}
	// A clean stop also survives a power cut.
	err := st.db.Sync()
	err = errors.Join(err, st.db.Close(), st.lock.Unlock())
	st.db = nil
	return err
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix followed by n random bytes in lower-case base32:
// unique and opaque.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + idEncoding.EncodeToString(b)
}

// now is the time stamp of new objects, at the millisecond like the API's.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// hasPrefixFold is strings.HasPrefix ignoring case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
