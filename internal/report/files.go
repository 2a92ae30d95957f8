package report

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Every file a run writes (the outcome file, its sidecar and lock, the
// summary, the metrics file, and the temporary files behind them) is opened
// here, so that none is ever written through a symbolic link or onto a
// device, a FIFO or a directory.

// ErrNotRegular is wrapped by every refusal of a path that is a symbolic
// link or not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// openOwn opens path without following a symbolic link in its last
// component (O_NOFOLLOW), without blocking on a FIFO (O_NONBLOCK), and
// checks on the opened descriptor that it is a regular file: what was
// checked is what is written. Symbolic links in the directories above are
// followed, as the operator's own layout.
func openOwn(path string, flag int, perm os.FileMode) (*os.File, error) {
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
		return fmt.Errorf("%s is %s, not a regular file: refusing to use it (%w)", path, describeMode(fi.Mode()), ErrNotRegular)
	}
	return nil
}

// checkTarget refuses a path that exists as anything but a regular file,
// before a file is renamed or linked over it. A missing path is fine.
func checkTarget(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: refusing to write through it or replace it (%w)", path, ErrNotRegular)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is %s, not a regular file: refusing to replace it (%w)", path, describeMode(fi.Mode()), ErrNotRegular)
	}
	return nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// ProbeAtomic checks, before a run sends anything, that WriteAtomic will be
// able to write path at its end: path is missing or a regular file (not a
// symbolic link), and its directory takes a new file. The probe creates and
// removes one temporary file there.
func ProbeAtomic(path string) error {
	if err := checkTarget(path); err != nil {
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

// ReadOwn reads a small file the run owns (a sidecar, a metrics file)
// through openOwn, at most limit bytes.
func ReadOwn(path string, limit int64) ([]byte, error) {
	f, err := openOwn(path, os.O_RDONLY, 0)
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

// ErrLocked is returned by Lock when another run holds the outcome file.
var ErrLocked = errors.New("another run holds this outcome file")

// LockPath is the lock file of the outcome file at out.
func LockPath(out string) string { return out + ".lock" }

// Lock takes the run's exclusive lock on the outcome file out: flock(2) on
// out.lock, a file of its own that is created (mode 0600) if missing and
// never renamed nor removed. The outcome file itself cannot carry the lock:
// Compact renames a new file over it, and a lock on the old inode would not
// keep a second run off the new one. The lock is held until release is
// called or the process ends, however it ends.
//
// flock is advisory: it keeps other bulkrevoke runs off the file, not other
// programs. On a network filesystem it holds across machines only where the
// filesystem passes flock on to the server (see the README).
func Lock(out string) (release func(), err error) {
	path := LockPath(out)
	f, err := openOwn(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("outcome file %s: %w (lock %s): let it finish, or stop it, before starting another", out, ErrLocked, path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
