//go:build unix

package safefile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openNoFollow opens path read-only without following a symlink as its
// last element and without blocking on a FIFO (whose open would wait for a
// writer forever); the caller checks it is a regular file.
func openNoFollow(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	// Reads of a regular file never block; clear O_NONBLOCK all the same
	// so the runtime's poller is not involved.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// OpenLockFile opens (creating it, mode 0644) the lock file at path for
// reading and writing, without following a symlink as its last element
// and without blocking on a FIFO.
func OpenLockFile(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// IsSymlinkError reports whether err is what opening a symlink without
// following it gives: ELOOP (Linux, macOS), EMLINK (FreeBSD), EFTYPE
// (NetBSD).
func IsSymlinkError(err error) bool {
	return errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EMLINK) || isEFTYPE(err)
}

func isSymlinkErr(err error) bool { return IsSymlinkError(err) }
