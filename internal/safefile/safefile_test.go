package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.yaml", "version: 1\n")
	big := write("big.yaml", strings.Repeat("x", 100))
	inLink, outLink, fifo := filepath.Join(dir, "in.yaml"), filepath.Join(dir, "out.yaml"), filepath.Join(dir, "fifo.yaml")
	for _, err := range []error{os.Symlink("ok.yaml", inLink), os.Symlink(outside, outLink), syscall.Mkfifo(fifo, 0o644)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Root: dir, Limit: 50, What: "manifest file"}
	tests := []struct {
		path, want string // want "" means read
	}{
		{ok, ""},
		{inLink, ""},
		{outLink, "leads through a symlink outside"},
		{fifo, "is a FIFO, not a regular file"},
		{big, "is 100 bytes, over the manifest file limit of 50 bytes"},
		{dir, "is a directory, not a regular file"},
		{filepath.Join(dir, "none.yaml"), "does not exist"},
	}
	for _, tt := range tests {
		data, err := ReadFile(tt.path, o)
		switch {
		case tt.want == "" && (err != nil || string(data) != "version: 1\n"):
			t.Errorf("ReadFile(%s) = %q, %v", tt.path, data, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ReadFile(%s): error %v, want %q", tt.path, err, tt.want)
		case err != nil && strings.Contains(err.Error(), outside):
			t.Errorf("the error names the link's target: %v", err)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "none.yaml"), o); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadFile(inLink, Options{}); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("without a root a link is refused: %v", err)
	}
}

func TestWithinAndSize(t *testing.T) {
	for _, tt := range []struct {
		root, p string
		want    bool
	}{{"/a", "/a", true}, {"/a", "/a/b", true}, {"/a", "/ab", false}, {"/a", "/a/../b", false}, {"a", "a/b", true}} {
		if got := Within(tt.root, tt.p); got != tt.want {
			t.Errorf("Within(%q, %q) = %v", tt.root, tt.p, got)
		}
	}
	if Size(16<<20) != "16 MiB" || Size(16<<10) != "16 KiB" || Size(100) != "100 bytes" {
		t.Error("Size")
	}
}
