package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// FileLock is an exclusive lock on a state file, held through the file
// path + ".lock" (never removed, so that two processes always lock the same
// inode).
type FileLock struct {
	path string // the lock file
	fl   *flock.Flock
}

// Holder describes the process holding a lock. It is written into the lock
// file when the lock is taken, so that a second psync can say who has it.
type Holder struct {
	PID      int       `json:"pid"`
	Hostname string    `json:"hostname"`
	Since    time.Time `json:"since"`
	Command  string    `json:"command"`
}

// LockedError is returned by Lock when another process holds the lock.
// Holder is nil when the holder could not be read (it may be about to
// write it).
type LockedError struct {
	Path   string // the state file
	Holder *Holder
}

func (e *LockedError) Error() string {
	// The lock goes with its process, even a killed one: a held lock is a
	// psync still running, and waiting for it is all there is to do.
	const next = ": wait for it to finish (the lock is released when that process exits)"
	if e.Holder == nil {
		return fmt.Sprintf("state %s is locked by another process (lock file %s.lock)%s", e.Path, e.Path, next)
	}
	h := e.Holder
	return fmt.Sprintf("state %s is locked by pid %d on host %s since %s (%s)%s",
		e.Path, h.PID, h.Hostname, h.Since.UTC().Format(time.RFC3339), h.Command, next)
}

// Lock takes the exclusive lock of the state file at path without waiting.
// When another process has it, the error is a *LockedError naming the
// holder. The command recorded is this process's command line.
func Lock(path string) (*FileLock, error) {
	return LockAs(path, commandLine(os.Args))
}

// LockAs is Lock recording command as the holder's command.
func LockAs(path, command string) (*FileLock, error) {
	lockPath := path + ".lock"
	fl := flock.New(lockPath, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o644))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock state %s: %w", path, err)
	}
	if !ok {
		return nil, &LockedError{Path: path, Holder: readHolder(lockPath)}
	}
	host, _ := os.Hostname()
	h := Holder{PID: os.Getpid(), Hostname: host, Since: time.Now().UTC().Truncate(time.Second), Command: command}
	data, _ := json.Marshal(h)
	// Written through a second descriptor: flock locks belong to the open
	// file description taken by TryLock, which stays open.
	if err := os.WriteFile(lockPath, append(data, '\n'), 0o644); err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("lock state %s: record holder: %w", path, err)
	}
	return &FileLock{path: lockPath, fl: fl}, nil
}

// Unlock releases the lock. The holder record is cleared first, so a stale
// record is never shown.
func (l *FileLock) Unlock() error {
	if l == nil || l.fl == nil {
		return nil
	}
	errTrunc := os.Truncate(l.path, 0)
	errUnlock := l.fl.Unlock()
	l.fl = nil
	if err := errors.Join(errUnlock, errTrunc); err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}

func readHolder(lockPath string) *Holder {
	data, err := os.ReadFile(lockPath)
	if err != nil {
		return nil
	}
	var h Holder
	if json.Unmarshal(data, &h) != nil || h.PID == 0 {
		return nil
	}
	return &h
}

// commandLine is the program's base name and its arguments, shortened. The
// API key is never an argument (it comes from the environment).
func commandLine(args []string) string {
	if len(args) == 0 {
		return "psync"
	}
	s := strings.Join(append([]string{filepath.Base(args[0])}, args[1:]...), " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
