package state_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psync-dev/psync/pkg/state"
)

// The local file backend is today's state file: Load replays a journal and
// says so, Write keeps the serial, Save counts one, Lock is the lock file.
func TestFileBackend(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), state.DefaultFileName)
	b, err := state.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*state.File); !ok || b.String() != path {
		t.Fatalf("Open(%q) = %T %s, want the file backend", path, b, b)
	}
	s, info, err := b.Load(ctx)
	if err != nil || info.Exists || info.Pending {
		t.Fatalf("Load of nothing: %+v, %v", info, err)
	}
	s.APIURL = "sandbox:x"
	if err := state.Save(ctx, b, s); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 1 {
		t.Fatalf("Save: serial %d, want 1", s.Serial)
	}
	j := b.Journal(ctx, s)
	if err := j.Update(func(s *state.State) { s.PutScript(state.Script{ID: "scr_1", Name: "a"}) }); err != nil {
		t.Fatal(err)
	}
	// Killed before Close: the journal is there, and Load says so.
	got, info, err := b.Load(ctx)
	if err != nil || !info.Exists || !info.Pending || len(got.Scripts) != 1 || got.Serial != 2 {
		t.Fatalf("Load with a journal: %+v %+v %v", got, info, err)
	}
	if err := b.Write(ctx, got); err != nil {
		t.Fatal(err)
	}
	got, info, err = b.Load(ctx)
	if err != nil || info.Pending || got.Serial != 2 || len(got.Scripts) != 1 {
		t.Fatalf("Write folds the journal and keeps the serial: %+v %+v %v", got, info, err)
	}
	if _, err := os.Stat(state.JournalPath(path)); !os.IsNotExist(err) {
		t.Fatalf("journal left after Write: %v", err)
	}
	l, err := b.Lock(ctx, "psync apply")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "psync apply"); err == nil {
		t.Fatal("a second Lock succeeded")
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := b.ForceUnlock(ctx, "x"); err == nil {
		t.Fatal("ForceUnlock of a local state succeeded")
	}
	if !got.SameAs(got.Clone()) || got.SameAs(state.New()) {
		t.Fatal("SameAs")
	}
}

// The command a lock records is seen by every holder's rival and, in S3,
// kept by bucket versioning after the lock is removed: a URL's password
// on the command line (refused later, but after the lock was taken) must
// not be in it.
func TestCommandLineHidesURLCredentials(t *testing.T) {
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = []string{"/usr/bin/psync", "--api-url", "https://user:SECRETPW@proxy.example/v1", "--api-url=http://u:SECRET2@x@h/v1", "-f", "mail@example/psync.yaml", "apply", "--auto-approve"}
	got := state.CommandLine()
	if strings.Contains(got, "SECRET") {
		t.Fatalf("CommandLine() = %q: holds the URL's password", got)
	}
	if !strings.Contains(got, "proxy.example/v1") || !strings.Contains(got, "http://h/v1") || strings.Contains(got, "x@h") || !strings.Contains(got, "mail@example/psync.yaml") || !strings.HasSuffix(got, "apply --auto-approve") {
		t.Fatalf("CommandLine() = %q: says too little", got)
	}
}
