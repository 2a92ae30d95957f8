package journal

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// maxLineBytes bounds one JSONL line, so a file that is not an outcome file
// (one huge line) fails instead of eating memory.
const maxLineBytes = 16 << 20

// Read streams the outcomes of an outcome file to fn in file order.
//
// A torn last line (no trailing newline: the writer died mid-write) is
// skipped and reported with torn=true; resume redoes that row. Anything else
// unreadable (bad header, wrong number of columns, unknown status, a
// non-numeric or negative number, bad JSON, line < 1, a token row whose
// target is not a fingerprint) is an error naming the
// file and the line. Blank lines are skipped. An error returned by fn stops
// the read and is returned as is.
func Read(path string, fn func(revoke.Outcome) error) (torn bool, err error) {
	return scan(path, func(r record) error { return fn(r.outcome) })
}

// record is one complete outcome in a journal and where its bytes lie.
type record struct {
	outcome revoke.Outcome
	// start and end delimit the record's bytes, newline included. For CSV,
	// start may include blank lines before the record.
	start, end int64
}

// scan reads every complete record of the journal at path.
func scan(path string, fn func(record) error) (torn bool, err error) {
	format, err := FormatOf(path)
	if err != nil {
		return false, err
	}
	f, err := ownfile.Open(path, os.O_RDONLY, 0)
	if err != nil {
		return false, fmt.Errorf("read outcome file %s: %w", path, err)
	}
	defer f.Close()
	size, complete, err := completeSize(f)
	if err != nil {
		return false, fmt.Errorf("read outcome file %s: %w", path, err)
	}
	// Reading stops at the last newline, so the decoders never see the
	// torn tail.
	r := io.NewSectionReader(f, 0, complete)
	switch format {
	case CSV:
		err = scanCSV(path, r, fn)
	default:
		err = scanJSONL(path, r, fn)
	}
	return complete < size, err
}

func scanCSV(path string, r io.Reader, fn func(record) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(columns)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read outcome file %s: header: %w", path, err)
	}
	if !slices.Equal(header, columnNames) {
		return fmt.Errorf("read outcome file %s: line 1: header is %q, want %q", path, header, columnNames)
	}
	start := cr.InputOffset()
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read outcome file %s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		o, err := decodeCSV(fields)
		if err != nil {
			return fmt.Errorf("read outcome file %s: line %d: %w", path, line, err)
		}
		end := cr.InputOffset()
		if err := fn(record{outcome: o, start: start, end: end}); err != nil {
			return err
		}
		start = end
	}
}

func scanJSONL(path string, r io.Reader, fn func(record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	// Keep the newline in the token so byte offsets stay exact.
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i+1], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	var line, offset int64
	for sc.Scan() {
		raw := sc.Bytes()
		line++
		start := offset
		offset += int64(len(raw))
		text := bytes.TrimRight(raw, "\r\n")
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		var o revoke.Outcome
		if err := json.Unmarshal(text, &o); err != nil {
			return fmt.Errorf("read outcome file %s: line %d: %w", path, line, err)
		}
		if err := validate(o); err != nil {
			return fmt.Errorf("read outcome file %s: line %d: %w", path, line, err)
		}
		if err := fn(record{outcome: o, start: start, end: offset}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read outcome file %s: after line %d: %w", path, line, err)
	}
	return nil
}

// errHasOutcome stops Empty's read at the first outcome.
var errHasOutcome = errors.New("outcome file holds an outcome")

// Empty reports whether the outcome file at path holds no complete
// outcome (it may hold a header, or a torn line).
func Empty(path string) (bool, error) {
	_, err := Read(path, func(revoke.Outcome) error { return errHasOutcome })
	if errors.Is(err, errHasOutcome) {
		return false, nil
	}
	return err == nil, err
}
