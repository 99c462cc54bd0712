package state

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestLockFileRemovedOnRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	l, err := LockAs(path, "psync apply")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path + ".lock"); err != nil {
		t.Fatalf("lock file while held: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after release: %v, want it removed (git add -A would commit it)", err)
	}
}

// TestLockMakesTheStateDirectory: a first apply with --state
// states/team.json makes states/, where the lock and the state go.
func TestLockMakesTheStateDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "states", "team-a", DefaultFileName)
	l, err := LockAs(path, "psync apply")
	if err != nil {
		t.Fatalf("Lock in a directory not made yet: %v", err)
	}
	defer l.Unlock()
	if info, err := os.Stat(filepath.Dir(path)); err != nil || !info.IsDir() {
		t.Fatalf("state directory after Lock: %v", err)
	}
	if err := New().writeFile(path); err != nil {
		t.Errorf("write the state in it: %v", err)
	}
}

// TestLockHostileLockFile puts what a pull request (or a hostile user)
// could leave at the lock file's path, and checks psync neither damages
// what it points at nor hangs.
func TestLockHostileLockFile(t *testing.T) {
	const secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n"
	tests := []struct {
		name    string
		setup   func(t *testing.T, lock, victim string)
		wantErr string // "" means the lock is taken
	}{
		{"symlink to a file", func(t *testing.T, lock, victim string) {
			must(t, os.Symlink(victim, lock))
		}, "is a symbolic link"},
		{"dangling symlink", func(t *testing.T, lock, victim string) {
			must(t, os.Remove(victim))
			must(t, os.Symlink(victim, lock))
		}, "is a symbolic link"},
		{"hard link to a file", func(t *testing.T, lock, victim string) {
			must(t, os.Link(victim, lock))
		}, "has other hard links"},
		{"FIFO", func(t *testing.T, lock, victim string) {
			must(t, syscall.Mkfifo(lock, 0o644))
		}, "is a FIFO, not a regular file"},
		{"directory", func(t *testing.T, lock, victim string) {
			must(t, os.Mkdir(lock, 0o755))
		}, "is a directory"}, // open(O_RDWR) of a directory fails with EISDIR
		{"committed regular file", func(t *testing.T, lock, victim string) {
			must(t, os.WriteFile(lock, []byte(`{"pid":1,"hostname":"\u001b[2Jforged"}`), 0o644))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DefaultFileName)
			victim := filepath.Join(t.TempDir(), "id_ed25519")
			must(t, os.WriteFile(victim, []byte(secret), 0o600))
			tt.setup(t, path+".lock", victim)
			l, err := LockAs(path, "psync apply")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("lock: %v", err)
				}
				if err := l.Unlock(); err != nil {
					t.Fatal(err)
				}
			} else {
				if err == nil {
					l.Unlock()
					t.Fatalf("lock succeeded, want an error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "OPENSSH") {
					t.Errorf("error quotes the target's content: %q", err)
				}
			}
			if got, err := os.ReadFile(victim); err == nil && string(got) != secret {
				t.Errorf("the link's target was changed to %q", got)
			} else if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Error(err)
			}
			if _, err := os.Lstat(victim); tt.name == "dangling symlink" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the dangling link's target was created: %v", err)
			}
		})
	}
}

// TestLockExclusiveWhileFilesAreRemoved has lockers race, each releasing
// (and so removing the lock file) while others may have opened it: at no
// time may two hold the lock.
func TestLockExclusiveWhileFilesAreRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	var holders, taken atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 40; {
				l, err := LockAs(path, "psync apply")
				var le *LockedError
				if errors.As(err, &le) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if h := holders.Add(1); h != 1 {
					errs <- errors.New("two processes hold the lock at once")
				}
				taken.Add(1)
				runtime.Gosched() // let the others open and try the file meanwhile
				holders.Add(-1)
				if err := l.Unlock(); err != nil {
					errs <- err
					return
				}
				n++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if taken.Load() != 6*40 {
		t.Errorf("taken %d times, want %d", taken.Load(), 6*40)
	}
}

func TestLockedErrorQuotesHostileHolder(t *testing.T) {
	err := &LockedError{Path: "s.json", Holder: &Holder{PID: 7, Hostname: "ci\x1b[2J", Command: "psync apply\nforged line"}}
	if s := err.Error(); strings.ContainsAny(s, "\x1b\n") {
		t.Errorf("error carries control characters: %q", s)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLineageTime(t *testing.T) {
	before := time.Now().Add(-time.Second)
	l, err := newLineage()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := LineageTime(l)
	if !ok || got.Before(before) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("LineageTime(%s) = %v, %v; want about now", l, got, ok)
	}
	if _, ok := LineageTime("0b9c6c1e-3a2f-4d1b-9e8f-5a6b7c8d9e0f"); ok {
		t.Error("a version 4 lineage has a time")
	}
}
