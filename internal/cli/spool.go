package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// spoolPattern names spool files, so that one left by a system that cannot
// remove an open file (see spoolInput) is recognisable.
const spoolPattern = ".bulkrevoke-input-*.spool"

// spoolDir is where an input that can be read only once is spooled: the
// outcome file's directory. The run writes there anyway, so it is writable
// and its space is watched; $TMPDIR may be a RAM-backed tmpfs (the input
// would then sit in memory) or read-only in a container.
func spoolDir(cfg Config) string { return filepath.Dir(cfg.Out) }

// spoolInput copies r, an input that can be read only once (a pipe, a
// terminal), into a private file in dir, and returns that file with the
// size and the SHA-256 of what was copied: one pass over r gives the survey
// its sum and the run a file it can read as often as it needs.
//
// The file is created with O_EXCL and mode 0600 under a random name, and
// its name is removed at once: the tokens it holds cannot be opened by
// anyone else, and the file is gone when the descriptor closes, however the
// process ends (kill -9 included). Where a system refuses to remove an open
// file, the name is removed when the returned file is closed instead. On any
// error nothing is left behind.
func spoolInput(r io.Reader, dir string) (f *os.File, size int64, sum string, done func(), err error) {
	f, err = os.CreateTemp(dir, spoolPattern) // O_RDWR|O_CREATE|O_EXCL, 0600
	if err != nil {
		return nil, 0, "", nil, fmt.Errorf("spool into a private file beside the outcome file: %w", err)
	}
	name := f.Name()
	done = func() { f.Close() }
	if os.Remove(name) != nil {
		done = func() { f.Close(); os.Remove(name) }
	}
	limit, err := spoolLimit(dir)
	if err != nil {
		done()
		return nil, 0, "", nil, fmt.Errorf("spool into a private file beside the outcome file: %w", err)
	}
	h := sha256.New()
	size, err = io.CopyBuffer(io.MultiWriter(&boundedWriter{w: f, left: limit}, h), r, make([]byte, 256<<10))
	if err != nil {
		done()
		return nil, 0, "", nil, fmt.Errorf("spool into a private file beside the outcome file: %w", err)
	}
	return f, size, hex.EncodeToString(h.Sum(nil)), done, nil
}

// spoolReserve is the least free space a spool leaves on its filesystem:
// a tenth of the filesystem, and never less than 256 MiB, so that an input
// that never ends (/dev/zero, yes(1) piped in) cannot fill the disk the
// outcome file, the journal and everything else on it need.
const spoolReserveMin = 256 << 20

// spoolSpace reports the space available to this user on the filesystem
// holding dir and that filesystem's size, in bytes. Tests replace it to
// fake a nearly full disk.
var spoolSpace = func(dir string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	free, total = statfsBytes(&st)
	return free, total, nil
}

// errSpoolFull is the spool outgrowing its bound (see spoolLimit).
var errSpoolFull = errors.New("the input would leave less than the reserve free")

// spoolLimit is how many bytes a spool in dir may take: the free space
// there at the start, less the reserve (see spoolReserveMin). Possibly
// zero: then only an empty input can be spooled.
func spoolLimit(dir string) (int64, error) {
	free, total, err := spoolSpace(dir)
	if err != nil {
		return 0, fmt.Errorf("free space in %s: %w", dir, err)
	}
	reserve := max(total/10, spoolReserveMin)
	if free <= reserve {
		return 0, nil
	}
	return int64(min(free-reserve, 1<<62)), nil
}

// boundedWriter writes to w until left bytes have been written, then fails
// every write with a spoolFullError, writing nothing of it.
type boundedWriter struct {
	w       io.Writer
	left    int64
	written int64
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		return 0, &spoolFullError{limit: b.written + b.left}
	}
	n, err := b.w.Write(p)
	b.left -= int64(n)
	b.written += int64(n)
	return n, err
}

// spoolFullError is an input larger than its spool may grow.
type spoolFullError struct{ limit int64 }

func (e *spoolFullError) Error() string {
	size := fmt.Sprintf("%d MiB", e.limit>>20)
	if e.limit < 1<<20 {
		size = fmt.Sprintf("%d bytes", e.limit)
	}
	return fmt.Sprintf("input longer than %s, all the spool may take and still leave a tenth of the filesystem (at least 256 MiB) free: an input that never ends (such as /dev/zero) is refused; make room, or give a regular file", size)
}

func (e *spoolFullError) Unwrap() error { return errSpoolFull }
