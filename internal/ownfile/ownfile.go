// Package ownfile opens and writes the files a run owns (the outcome file,
// its sidecar and lock, the summary, the metrics file, and the temporary
// files behind them) so that none is ever written through a symbolic link or
// onto a device, a FIFO or a directory, and a replaced file is replaced
// whole.
package ownfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNotRegular is wrapped by every refusal of a path that is a symbolic
// link or not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path without following a symbolic link in its last
// component (O_NOFOLLOW), without blocking on a FIFO (O_NONBLOCK), and
// checks on the opened descriptor that it is a regular file: what was
// checked is what is written. Symbolic links in the directories above are
// followed, as the operator's own layout.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, perm)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return nil, fmt.Errorf("%s is a symbolic link: refusing to open it (%w)", path, ErrNotRegular)
	case errors.Is(err, syscall.ENXIO):
		// O_WRONLY|O_NONBLOCK on a FIFO no one reads.
		return nil, fmt.Errorf("%s is a FIFO, not a regular file: refusing to open it (%w)", path, ErrNotRegular)
	case err != nil:
		return nil, err
	}
	if err := checkRegular(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func checkRegular(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file: refusing to use it (%w)", path, ModeText(fi.Mode()), ErrNotRegular)
	}
	return nil
}

// CheckTarget refuses a path that exists as anything but a regular file,
// before a file is renamed or linked over it. A missing path is fine.
func CheckTarget(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: refusing to write through it or replace it (%w)", path, ErrNotRegular)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is %s, not a regular file: refusing to replace it (%w)", path, ModeText(fi.Mode()), ErrNotRegular)
	}
	return nil
}

// ModeText names a file type that is not a regular file, for messages:
// "a symbolic link", "a FIFO", "a directory".
func ModeText(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// ProbeAtomic checks, before a run sends anything, that WriteAtomic will be
// able to write path at its end: path is missing or a regular file (not a
// symbolic link), and its directory takes a new file. The probe creates and
// removes one temporary file there.
func ProbeAtomic(path string) error {
	if err := CheckTarget(path); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".probe-*")
	if err != nil {
		return fmt.Errorf("cannot create a file in %s: %w", filepath.Dir(path), unwrapPath(err))
	}
	name := tmp.Name()
	tmp.Close()
	return os.Remove(name)
}

// Read reads a small file the run owns (a sidecar, a metrics file)
// through Open, at most limit bytes.
func Read(path string, limit int64) ([]byte, error) {
	f, err := Open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// unwrapPath drops the path from a *fs.PathError, for messages that name
// the path already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
