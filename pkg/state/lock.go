package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/psync-dev/psync/internal/safefile"
)

// FileLock is an exclusive lock on a state file, held through the file
// path + ".lock".
//
// The lock file may have been committed by a pull request, so it is
// handled as hostile: it is opened without following a symlink, must be a
// regular file with no other hard link, and is read, truncated and written
// only through the locked descriptor. It is removed on release, so no
// stray file is left beside the manifest for `git add -A` to pick up.
// Removing a lock file races with a second process that opened it just
// before: that process then holds a lock on a file no longer at the path,
// which is why Lock checks, once it holds the lock, that the path still
// names the file it locked, and starts again when it does not.
type FileLock struct {
	path string   // the lock file
	f    *os.File // open and locked while held
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
	// The holder record is read from a file anyone could have written:
	// its strings are quoted, so they cannot forge a line of output.
	return fmt.Sprintf("state %s is locked by pid %d on host %s since %s (%s)%s",
		e.Path, h.PID, quoteUnsafe(h.Hostname), h.Since.UTC().Format(time.RFC3339), quoteUnsafe(h.Command), next)
}

// maxHolderBytes caps what is read of another process's holder record.
const maxHolderBytes = 4096

// lockAttempts bounds how often Lock starts again after the lock file it
// locked was removed by the holder releasing it: each time is a release by
// another process, so more than a few means something is wrong.
const lockAttempts = 20

// Lock takes the exclusive lock of the state file at path without waiting.
// When another process has it, the error is a *LockedError naming the
// holder. The command recorded is this process's command line.
func Lock(path string) (*FileLock, error) {
	return LockAs(path, commandLine(os.Args))
}

// LockAs is Lock recording command as the holder's command.
func LockAs(path, command string) (*FileLock, error) {
	lockPath := path + ".lock"
	for range lockAttempts {
		f, err := openLock(lockPath)
		if errors.Is(err, fs.ErrNotExist) {
			// The state's directory does not exist yet (--state
			// states/team.json on a first apply): make it, as
			// Terraform's local backend does, then open again.
			if mkErr := os.MkdirAll(filepath.Dir(lockPath), 0o755); mkErr != nil {
				return nil, fmt.Errorf("lock state %s: make its directory: %w", path, mkErr)
			}
			f, err = openLock(lockPath)
		}
		if err != nil {
			return nil, fmt.Errorf("lock state %s: %w", path, err)
		}
		ok, err := tryLockFile(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock state %s: %w", path, err)
		}
		if !ok {
			h := readHolder(f)
			f.Close()
			return nil, &LockedError{Path: path, Holder: h}
		}
		if same, err := stillAt(f, lockPath); err != nil {
			unlockFile(f)
			f.Close()
			return nil, fmt.Errorf("lock state %s: %w", path, err)
		} else if !same {
			// The holder released it and removed the file after this
			// process opened it: lock the file now at the path instead.
			unlockFile(f)
			f.Close()
			continue
		}
		host, _ := os.Hostname()
		h := Holder{PID: os.Getpid(), Hostname: host, Since: time.Now().UTC().Truncate(time.Second), Command: command}
		data, _ := json.Marshal(h)
		if err := writeHolder(f, append(data, '\n')); err != nil {
			unlockFile(f)
			f.Close()
			return nil, fmt.Errorf("lock state %s: record holder: %w", path, err)
		}
		return &FileLock{path: lockPath, f: f}, nil
	}
	return nil, fmt.Errorf("lock state %s: the lock file %s was replaced %d times while this process locked it: another program is removing it", path, lockPath, lockAttempts)
}

// openLock opens the lock file, creating it, and checks it is a plain
// file psync may write: no symlink (whose target a committed link would
// let psync truncate), no FIFO or device, no second hard link.
func openLock(lockPath string) (*os.File, error) {
	f, err := safefile.OpenLockFile(lockPath)
	if err != nil {
		if safefile.IsSymlinkError(err) {
			return nil, fmt.Errorf("lock file %s is a symbolic link: psync never follows one (a committed link could point at any file); remove it", lockPath)
		}
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock file %s is %s, not a regular file: remove it", lockPath, safefile.Kind(info.Mode()))
	}
	if linkCount(info) > 1 {
		f.Close()
		return nil, fmt.Errorf("lock file %s has other hard links: psync writes to it, so it must be its own file; remove it", lockPath)
	}
	return f, nil
}

// stillAt reports whether path still names the file f has open (not a
// symlink, and not removed or replaced since f was opened).
func stillAt(f *os.File, path string) (bool, error) {
	mine, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(mine, now), nil
}

// writeHolder replaces the lock file's content with data, through the
// locked descriptor (never by path, which another file may have taken).
func writeHolder(f *os.File, data []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt(data, 0)
	return err
}

// Unlock releases the lock and removes the lock file, if the path still
// names it. Should the removal fail, the holder record is cleared instead,
// so a stale record is never shown.
func (l *FileLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	var errClear error
	// Removed while still locked: a process that opened the file before
	// the removal gets the lock only after, and sees that the path no
	// longer names what it locked.
	if same, _ := stillAt(f, l.path); same {
		if err := os.Remove(l.path); err != nil {
			errClear = f.Truncate(0)
		}
	}
	errUnlock := unlockFile(f)
	errClose := f.Close()
	if err := errors.Join(errUnlock, errClose, errClear); err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}

// readHolder reads the holder record through f, the open lock file.
func readHolder(f *os.File) *Holder {
	data, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, maxHolderBytes), maxHolderBytes))
	if err != nil {
		return nil
	}
	var h Holder
	if json.Unmarshal(data, &h) != nil || h.PID == 0 {
		return nil
	}
	return &h
}

// quoteUnsafe returns s as is when it is plain printable text, and
// Go-quoted otherwise.
func quoteUnsafe(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
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
