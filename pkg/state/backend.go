package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Backend is where one state lives: a local file (the default) or an
// object in S3-compatible storage. A Backend value belongs to one command:
// it remembers the version of the state it last read or wrote, so that
// Write is a compare-and-swap against it.
type Backend interface {
	// String names the state for messages: a path or an s3:// URL.
	String() string
	// Load reads the state. A state that does not exist yet is New()
	// with Exists false.
	Load(ctx context.Context) (*State, LoadInfo, error)
	// Write stores s as it is (its serial unchanged: see Save) if the
	// stored state is still the one this Backend last read or wrote;
	// otherwise it fails with an error that Is ErrStateChanged.
	Write(ctx context.Context, s *State) error
	// Lock takes the state's exclusive lock without waiting. command is
	// recorded for whoever finds it taken, who gets a *LockedError or a
	// *RemoteLockedError.
	Lock(ctx context.Context, command string) (Unlocker, error)
	// ForceUnlock removes a lock left behind by a process that died,
	// given its id; it refuses another id.
	ForceUnlock(ctx context.Context, id string) error
	// Journal records an apply's changes of s, read through this
	// Backend, as they happen. The caller holds the lock.
	Journal(ctx context.Context, s *State) Recorder
}

// LoadInfo says what Load found.
type LoadInfo struct {
	// Exists is false when there is no state yet.
	Exists bool
	// Pending is true when the state read holds changes that are not in
	// the stored state proper (a local journal left by a killed apply):
	// writing the state folds them in.
	Pending bool
}

// Unlocker releases a lock.
type Unlocker interface{ Unlock() error }

// Recorder records changes into a backend's state during an apply; it
// implements apply.Journal. Update returns once the change is recorded as
// the backend promises (on disk for a local file; for a remote state, in
// memory, saved within a second and at Close); Close saves every change.
type Recorder interface {
	Update(fn func(*State)) error
	Close() error
	State() *State
}

// ErrStateChanged means the stored state is not the one psync read: another
// process wrote it (one that took the lock after it was removed by force,
// say). Nothing was overwritten.
var ErrStateChanged = errors.New("the state changed since psync read it")

// CommandLine is this process's command line, shortened, as a lock records
// it. The API key is never an argument (it comes from the environment); a
// URL's user and password, which psync refuses only after the lock is
// taken, are left out: the lock is shown to whoever finds it taken, and
// kept by a versioned bucket after it is removed.
func CommandLine() string {
	args := make([]string, len(os.Args))
	for i, arg := range os.Args {
		args[i] = urlUserinfo.ReplaceAllString(arg, "$1")
	}
	return commandLine(args)
}

// urlUserinfo matches the user[:password]@ of a URL in an argument.
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@`)

// Save increments the serial of s and writes it to b.
func Save(ctx context.Context, b Backend, s *State) error {
	s.Serial++
	if err := b.Write(ctx, s); err != nil {
		s.Serial--
		return err
	}
	return nil
}

// Open returns the backend a state location names: an s3://BUCKET/KEY URL,
// or a path of a local file.
func Open(ctx context.Context, location string) (Backend, error) {
	if strings.HasPrefix(location, "s3://") {
		return OpenS3(ctx, location)
	}
	if i := strings.Index(location, "://"); i > 0 && !strings.ContainsAny(location[:i], `/\.`) {
		return nil, fmt.Errorf("state %q: unknown scheme %s:// (a state is a file path or s3://BUCKET/KEY)", withoutQuery(location), location[:i])
	}
	return &File{Path: location}, nil
}

// File is the local state file backend: the state file, its journal
// beside it during an apply, and its lock file.
type File struct {
	Path string
}

func (f *File) String() string { return f.Path }

// Load reads the file and replays a journal a killed apply left.
func (f *File) Load(context.Context) (*State, LoadInfo, error) {
	s, err := Load(f.Path)
	if err != nil {
		return nil, LoadInfo{}, err
	}
	info := LoadInfo{}
	if _, err := os.Stat(f.Path); err == nil {
		info.Exists = true
	}
	if _, err := os.Stat(JournalPath(f.Path)); err == nil {
		info.Pending = true
	}
	return s, info, nil
}

// Write saves s atomically and removes the journal it folds in. The lock
// file keeps writers apart, so there is nothing to compare against.
func (f *File) Write(_ context.Context, s *State) error { return s.writeFile(f.Path) }

// Lock takes the lock file's exclusive lock.
func (f *File) Lock(_ context.Context, command string) (Unlocker, error) {
	return LockAs(f.Path, command)
}

// ForceUnlock is refused: a local lock goes with its process.
func (f *File) ForceUnlock(context.Context, string) error {
	return fmt.Errorf("state %s is a local file: its lock is released when the process holding it exits, and there is nothing to unlock by id", f.Path)
}

// Journal is NewJournal on the file.
func (f *File) Journal(_ context.Context, s *State) Recorder { return NewJournal(f.Path, s) }

// Parse decodes and validates a state document; name is used in errors.
func Parse(name string, data []byte) (*State, error) { return parse(name, data) }

// SameAs reports whether s and o are the same state: they would be
// written byte for byte the same. (Not named Equal: go-cmp would use it.)
func (s *State) SameAs(o *State) bool {
	encode := func(x *State) ([]byte, error) {
		c := x.Clone()
		if c.Lineage == "" {
			c.Lineage = "none" // encode would draw a random one
		}
		return c.encode()
	}
	a, errA := encode(s)
	b, errB := encode(o)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}
