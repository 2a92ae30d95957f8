package journal

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// compactWindow is how much of the journal rewrite reads at a time.
const compactWindow = 1 << 20

// span locates one record of a journal, by the target it is about: its
// input line and the rank of its consumer key among the file's keys.
type span struct {
	line, start int64
	size, key   uint32
}

func (s span) end() int64 { return s.start + int64(s.size) }

// Compact rewrites the outcome file at path so it holds exactly one record
// per target, sorted by line, then consumer key. A target is an input line
// and, for a user row fanned out over applications (--consumer-key), the
// consumer key: such a line has one record per application. When a target
// was recorded more than once (a resumed run redid it) the last record
// wins. A torn last line is dropped. A journal that is already sorted with
// unique targets and not torn is left untouched.
//
// The rewrite is atomic: records are copied byte for byte into a temporary
// file in the same directory, which is synced and renamed over the original.
// If anything fails, the original is left as it was. Memory is 24 bytes per
// record, only when a rewrite is needed, and never the records themselves,
// plus each distinct consumer key once.
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
		prevKey string
	)
	torn, err := scan(path, func(r record) error {
		records++
		if o := r.outcome; o.Line < prev || o.Line == prev && o.ConsumerKey <= prevKey {
			sorted = false
		}
		prev, prevKey = r.outcome.Line, r.outcome.ConsumerKey
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
	ids := map[string]uint32{}
	if _, err := scan(path, func(r record) error {
		id, ok := ids[r.outcome.ConsumerKey]
		if !ok {
			id = uint32(len(ids))
			ids[r.outcome.ConsumerKey] = id
		}
		if r.end-r.start > math.MaxUint32 {
			return fmt.Errorf("record of line %d longer than 4 GiB", r.outcome.Line)
		}
		spans = append(spans, span{line: r.outcome.Line, start: r.start, size: uint32(r.end - r.start), key: id})
		return nil
	}); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	// Keys were numbered as met; rank them in order.
	keys := make([]string, 0, len(ids))
	for k := range ids {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rank := make([]uint32, len(keys))
	for i, k := range keys {
		rank[ids[k]] = uint32(i)
	}
	for i := range spans {
		spans[i].key = rank[spans[i].key]
	}
	// Ordering ties by file position keeps the records of one target in
	// file order, so the last of each run is the latest, as a stable sort
	// would, at the cost of an unstable one.
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.key, b.key), cmp.Compare(a.start, b.start))
	})
	// The records a later one of the same target supersedes move to the
	// history file before the rewrite drops them: a crash in between
	// leaves them in both files, never in neither.
	var superseded []span
	kept := spans[:0]
	for i, s := range spans {
		if i+1 < len(spans) && spans[i+1].line == s.line && spans[i+1].key == s.key {
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
		if s.start < winStart || s.end() > winStart+int64(len(window)) {
			from := max(0, s.start-compactWindow/2)
			size := max(compactWindow, int(s.end()-from))
			buf = slices.Grow(buf[:0], size)[:size]
			n, err := src.ReadAt(buf, from)
			if int64(n) < s.end()-from {
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("read record of line %d: %w", s.line, err)
			}
			window, winStart = buf[:n], from
		}
		rec := window[s.start-winStart : s.end()-winStart]
		// A CSV span may begin with the blank lines the reader skipped.
		if _, err := out.Write(bytes.TrimLeft(rec, "\r\n")); err != nil {
			return err
		}
	}
	return out.Flush()
}
