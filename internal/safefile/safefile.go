// Package safefile reads files that someone other than the user may have
// placed: a manifest from a pull request, a state file edited in one, the
// journal and the lock beside it. A read never follows a symlink out of the
// directory tree it is confined to, never opens a FIFO or a device (which
// could block forever or never end), and never reads more than a cap, so a
// hostile file gives a clear error in bounded time and memory.
//
// Errors name the path as the caller gave it, never where a symlink leads:
// the target is exactly what must not leak.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Error is a refused or failed read. Path is the path the caller gave;
// Reason says what is wrong with it ("is a FIFO, not a regular file").
type Error struct {
	Path   string
	Reason string
	Err    error // the underlying error, if any (fs.ErrNotExist, …)
}

func (e *Error) Error() string { return e.Path + " " + e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// Options say where a file may lead and how much of it may be read.
type Options struct {
	// Root, when set, is the directory tree the file must resolve into,
	// symlinks included (a link inside the tree is fine).
	Root string
	// Limit is the most bytes the file may hold; 0 means no file is too
	// large (use only for files psync wrote itself and nobody else).
	Limit int64
	// What names the file in errors ("manifest file", "state file").
	What string
}

// ReadFile returns the content of the regular file at path, subject to o.
// A missing file gives an error that matches fs.ErrNotExist.
func ReadFile(path string, o Options) ([]byte, error) {
	f, err := Open(path, o)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, path, o)
}

// Open opens the regular file at path for reading, subject to o's Root
// (o.Limit is checked against the file's size now; use ReadFile to also
// cap what is read should it grow).
func Open(path string, o Options) (*os.File, error) {
	what := o.What
	if what == "" {
		what = "file"
	}
	fail := func(reason string, err error) error {
		return &Error{Path: path, Reason: reason, Err: err}
	}
	real := path
	if o.Root != "" {
		root, err := filepath.EvalSymlinks(o.Root)
		if err != nil {
			return nil, fail(fmt.Sprintf("cannot be read: its directory cannot be resolved: %v", bare(err)), err)
		}
		real, err = filepath.EvalSymlinks(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fail("does not exist", err)
			}
			return nil, fail(fmt.Sprintf("cannot be read: %v", bare(err)), err)
		}
		if !Within(root, real) {
			return nil, fail(fmt.Sprintf("leads through a symlink outside %s: psync does not follow it", o.Root), nil)
		}
	}
	f, err := openNoFollow(real)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fail("does not exist", err)
		case isSymlinkErr(err):
			// Without Root there is no tree to stay in: a symlink as the
			// file itself is refused outright.
			return nil, fail(fmt.Sprintf("is a symbolic link: psync does not follow one as a %s", what), err)
		}
		return nil, fail(fmt.Sprintf("cannot be read: %v", bare(err)), err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fail(fmt.Sprintf("cannot be read: %v", bare(err)), err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fail("is "+Kind(info.Mode())+", not a regular file", nil)
	}
	if o.Limit > 0 && info.Size() > o.Limit {
		f.Close()
		return nil, fail(fmt.Sprintf("is %d bytes, over the %s limit of %s", info.Size(), what, Size(o.Limit)), nil)
	}
	return f, nil
}

func readAll(f *os.File, path string, o Options) ([]byte, error) {
	r := io.Reader(f)
	if o.Limit > 0 {
		// One byte more than allowed, in case the file grew since Stat.
		r = io.LimitReader(f, o.Limit+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &Error{Path: path, Reason: fmt.Sprintf("cannot be read: %v", bare(err)), Err: err}
	}
	if o.Limit > 0 && int64(len(data)) > o.Limit {
		what := o.What
		if what == "" {
			what = "file"
		}
		return nil, &Error{Path: path, Reason: fmt.Sprintf("grew past the %s limit of %s while it was read", what, Size(o.Limit))}
	}
	return data, nil
}

// Kind names a file mode that is not a regular file: "a directory", "a
// FIFO", "a device", "a socket", "a symbolic link".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	}
	return "a special file"
}

// Size formats a byte count as the largest whole binary unit ("16 MiB").
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Within reports whether p is root or inside it (both cleaned, lexically).
func Within(root, p string) bool {
	absRoot, err1 := filepath.Abs(root)
	absP, err2 := filepath.Abs(p)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(absRoot, absP)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// bare drops the *PathError wrapper, whose path may be a resolved one the
// user never wrote.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
