package journal

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// compactWindow is how much of the journal rewrite reads at a time.
const compactWindow = 1 << 20

// span locates one record of a journal, by the input line it is about.
type span struct {
	line, start, end int64
}

// Compact rewrites the outcome file at path so it holds exactly one record
// per input line, sorted by line. When a line was recorded more than once
// (a resumed run redid it) the last record wins. A torn last line is
// dropped. A journal that is already sorted with unique lines and not torn
// is left untouched.
//
// The rewrite is atomic: records are copied byte for byte into a temporary
// file in the same directory, which is synced and renamed over the original.
// If anything fails, the original is left as it was. Memory is 24 bytes per
// record, only when a rewrite is needed, and never the records themselves.
// The caller must have closed any Writer on path.
func Compact(path string) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	// A first pass only looks, and costs no memory: a dry run's journal, a
	// compacted one, or one written by a single worker is already in order.
	var (
		records int
		sorted  = true
		prev    int64
	)
	torn, err := scan(path, func(r record) error {
		records++
		if r.outcome.Line <= prev {
			sorted = false
		}
		prev = r.outcome.Line
		return nil
	})
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if sorted && !torn {
		return nil
	}

	// Sized exactly: growing by append would hold the old and the new array
	// at once, at the largest size, for ten million records.
	spans := make([]span, 0, records)
	if _, err := scan(path, func(r record) error {
		spans = append(spans, span{line: r.outcome.Line, start: r.start, end: r.end})
		return nil
	}); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	// Ordering ties by file position keeps the records of one line in file
	// order, so the last of each run is the latest, as a stable sort would,
	// at the cost of an unstable one.
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.start, b.start))
	})
	// The records a later one of the same line supersedes move to the
	// history file before the rewrite drops them: a crash in between
	// leaves them in both files, never in neither.
	var superseded []span
	kept := spans[:0]
	for i, s := range spans {
		if i+1 < len(spans) && spans[i+1].line == s.line {
			superseded = append(superseded, s)
			continue
		}
		kept = append(kept, s)
	}
	if err := keepHistory(path, superseded); err != nil {
		return fmt.Errorf("compact outcome file %s: %w", path, err)
	}
	if err := rewrite(path, format, kept); err != nil {
		return fmt.Errorf("compact outcome file %s: %w", path, err)
	}
	return nil
}

// rewrite writes the header and the records at spans, in order, into a
// temporary file and renames it over path.
func rewrite(path string, format Format, spans []span) error {
	src, err := ownfile.Open(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()

	return ownfile.WriteAtomic(path, 0o600, func(tmp io.Writer) error {
		return copySpans(tmp, src, format == CSV, spans)
	})
}

// copySpans writes the CSV header when header is set, then the records at
// spans of src, in order.
func copySpans(tmp io.Writer, src *os.File, header bool, spans []span) error {
	out := bufio.NewWriterSize(tmp, 256<<10)
	if header {
		if _, err := out.WriteString(csvHeader); err != nil {
			return err
		}
	}
	// Workers finish rows a little out of line order, so a record's
	// neighbours by line lie close by in the file: reading a window around
	// each record that is not already in hand costs one read per window, not
	// one per record.
	var (
		buf      = make([]byte, compactWindow)
		window   []byte
		winStart int64
	)
	for _, s := range spans {
		if s.start < winStart || s.end > winStart+int64(len(window)) {
			from := max(0, s.start-compactWindow/2)
			size := max(compactWindow, int(s.end-from))
			buf = slices.Grow(buf[:0], size)[:size]
			n, err := src.ReadAt(buf, from)
			if int64(n) < s.end-from {
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("read record of line %d: %w", s.line, err)
			}
			window, winStart = buf[:n], from
		}
		rec := window[s.start-winStart : s.end-winStart]
		// A CSV span may begin with the blank lines the reader skipped.
		if _, err := out.Write(bytes.TrimLeft(rec, "\r\n")); err != nil {
			return err
		}
	}
	return out.Flush()
}
