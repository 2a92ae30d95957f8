package journal

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// historySuffix names the history file of an outcome file.
const historySuffix = ".history"

// HistoryPath is the history file of the outcome file at out: every record
// that a later record of the same line superseded (a row redone by a
// resume, a failed row sent again by --retry-failed, a dry run's row sent
// for real), moved there by Compact rather than dropped. It has the outcome
// file's format, is only ever appended to, and is created with mode 0600
// and opened, like every output, never through a symbolic link.
func HistoryPath(out string) string { return out + historySuffix }

// keepHistory appends the records at spans of the journal at path, in the
// order they were written, to its history file, and syncs it.
func keepHistory(path string, spans []span) error {
	if len(spans) == 0 {
		return nil
	}
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	history := HistoryPath(path)
	w, err := Append(history)
	if errors.Is(err, fs.ErrNotExist) {
		w, err = Create(history, false)
	}
	if err != nil {
		return fmt.Errorf("history file: %w", err)
	}
	src, err := ownfile.Open(path, os.O_RDONLY, 0)
	if err != nil {
		w.Close()
		return err
	}
	defer src.Close()
	// The history file has its header already (Create wrote it).
	if err := copySpans(w.f, src, false, spans); err != nil {
		w.Close()
		return fmt.Errorf("append to history file %s: %w", history, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("history file: %w", err)
	}
	return nil
}

// Archive appends every complete record of the outcome file at path to its
// history file: what a run started with --force over an outcome file of
// ours does before replacing it, so that no recorded outcome is lost.
func Archive(path string) error {
	var spans []span
	if _, err := scan(path, func(r record) error {
		if r.end-r.start > math.MaxUint32 {
			return fmt.Errorf("record of line %d longer than 4 GiB", r.outcome.Line)
		}
		spans = append(spans, span{line: r.outcome.Line, start: r.start, size: uint32(r.end - r.start)})
		return nil
	}); err != nil {
		return err
	}
	return keepHistory(path, spans)
}

// CheckHistory refuses, before a run writes anything, a history file that
// exists but is not an outcome file of the outcome file's format, or is a
// symbolic link or not a regular file: it would be refused at the end.
func CheckHistory(out string) error {
	path := HistoryPath(out)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return Check(path)
}
