package report

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

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
// record, never the records themselves. The caller must have closed any
// Writer on path.
func Compact(path string) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	var (
		spans  []span
		sorted = true
		prev   int64
	)
	torn, err := scan(path, func(r record) error {
		line := r.outcome.Line
		if line <= prev {
			sorted = false
		}
		prev = line
		spans = append(spans, span{line: line, start: r.start, end: r.end})
		return nil
	})
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if sorted && !torn {
		return nil
	}

	// A stable sort keeps records of one line in file order, so the last of
	// each run is the latest.
	slices.SortStableFunc(spans, func(a, b span) int { return cmp.Compare(a.line, b.line) })
	kept := spans[:0]
	for i, s := range spans {
		if i+1 < len(spans) && spans[i+1].line == s.line {
			continue
		}
		kept = append(kept, s)
	}
	if err := rewrite(path, format, kept); err != nil {
		return fmt.Errorf("compact outcome file %s: %w", path, err)
	}
	return nil
}

// rewrite writes the header and the records at spans, in order, into a
// temporary file and renames it over path.
func rewrite(path string, format Format, spans []span) (err error) {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".compact-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; say so in case that ever changes.
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}

	out := bufio.NewWriterSize(tmp, 256<<10)
	if format == CSV {
		if _, err := out.WriteString(csvHeader); err != nil {
			return err
		}
	}
	var buf []byte
	for _, s := range spans {
		buf = slices.Grow(buf[:0], int(s.end-s.start))[:s.end-s.start]
		if _, err := src.ReadAt(buf, s.start); err != nil {
			return fmt.Errorf("read record of line %d: %w", s.line, err)
		}
		// A CSV span may begin with the blank lines the reader skipped.
		if _, err := out.Write(bytes.TrimLeft(buf, "\r\n")); err != nil {
			return err
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
