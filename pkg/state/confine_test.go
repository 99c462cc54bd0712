package state

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadHostileFiles puts special, huge and linked files where the state
// file and its journal go: each must give an error naming the file, in
// bounded time and memory, without quoting what a link points at.
func TestLoadHostileFiles(t *testing.T) {
	const secret = "root:x:0:0:root:/root:/bin/bash\n"
	outside := filepath.Join(t.TempDir(), "passwd")
	must(t, os.WriteFile(outside, []byte(secret), 0o644))
	huge := func(t *testing.T, p string, size int64) {
		f, err := os.Create(p)
		must(t, err)
		must(t, f.Truncate(size)) // sparse: no disk, but Stat says huge
		must(t, f.Close())
	}
	valid := func(t *testing.T, p string) {
		s := New()
		must(t, s.Save(p))
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, state string)
		wantErr string // "" means Load succeeds
	}{
		{"state is a FIFO", func(t *testing.T, p string) { must(t, syscall.Mkfifo(p, 0o644)) },
			"is a FIFO, not a regular file"},
		{"state links to /dev/zero", func(t *testing.T, p string) { must(t, os.Symlink("/dev/zero", p)) },
			"leads through a symlink outside"},
		{"state links outside its directory", func(t *testing.T, p string) { must(t, os.Symlink(outside, p)) },
			"leads through a symlink outside"},
		{"state is huge", func(t *testing.T, p string) { huge(t, p, MaxStateBytes+1) },
			"over the state file limit of 64 MiB"},
		{"state is a directory", func(t *testing.T, p string) { must(t, os.Mkdir(p, 0o755)) },
			"is a directory, not a regular file"},
		{"state links inside its directory", func(t *testing.T, p string) {
			valid(t, filepath.Join(filepath.Dir(p), "prod.json"))
			must(t, os.Symlink("prod.json", p))
		}, ""},
		{"journal is a FIFO", func(t *testing.T, p string) {
			valid(t, p)
			must(t, syscall.Mkfifo(JournalPath(p), 0o644))
		}, "is a FIFO, not a regular file"},
		{"journal links outside", func(t *testing.T, p string) {
			valid(t, p)
			must(t, os.Symlink(outside, JournalPath(p)))
		}, "leads through a symlink outside"},
		{"journal is huge", func(t *testing.T, p string) {
			valid(t, p)
			huge(t, JournalPath(p), MaxJournalBytes+1)
		}, "over the state journal limit of 256 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), DefaultFileName)
			tt.setup(t, p)
			_, err := Load(p)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.wantErr == "":
				return
			case err == nil:
				t.Fatalf("Load succeeded, want an error containing %q", tt.wantErr)
			case !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			case strings.Contains(err.Error(), "root:x") || strings.Contains(err.Error(), outside):
				t.Errorf("error leaks the link's target: %q", err)
			}
			if !strings.Contains(err.Error(), filepath.Base(p)) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	// A missing state is still no error.
	if _, err := Load(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Errorf("missing state: %v", err)
	}
}

// TestLoadDoesNotQuoteAtLength: a state file whose field names are a
// secret (or a megabyte) is refused without quoting them whole.
func TestLoadDoesNotQuoteAtLength(t *testing.T) {
	long := strings.Repeat("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", 50)
	p := filepath.Join(t.TempDir(), DefaultFileName)
	must(t, os.WriteFile(p, []byte(`{"formatVersion":2,"lineage":"x","serial":1,"apiUrl":"u","scripts":[],"templates":[],"`+long+`":1}`), 0o644))
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("got %v, want an unknown-field error", err)
	}
	if len(err.Error()) > 400 || strings.Contains(err.Error(), long[:200]) {
		t.Errorf("the error quotes the field at length (%d bytes)", len(err.Error()))
	}
}
