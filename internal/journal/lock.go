package journal

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

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
// filesystem passes flock on to the server (see docs/OUTCOMES.md).
func Lock(out string) (release func(), err error) {
	path := LockPath(out)
	f, err := ownfile.Open(path, os.O_RDWR|os.O_CREATE, 0o600)
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
