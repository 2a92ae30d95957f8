package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	h := sha256.New()
	size, err = io.CopyBuffer(io.MultiWriter(f, h), r, make([]byte, 256<<10))
	if err != nil {
		done()
		return nil, 0, "", nil, fmt.Errorf("spool into a private file beside the outcome file: %w", err)
	}
	return f, size, hex.EncodeToString(h.Sum(nil)), done, nil
}
