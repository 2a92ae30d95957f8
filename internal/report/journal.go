package report

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
	"strconv"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// maxLineBytes bounds one JSONL line, so a file that is not an outcome file
// (one huge line) fails instead of eating memory.
const maxLineBytes = 16 << 20

// ReadJournal streams the outcomes of an outcome file to fn in file order.
//
// A torn last line (no trailing newline: the writer died mid-write) is
// skipped and reported with torn=true; resume redoes that row. Anything else
// unreadable (bad header, wrong number of columns, unknown status, a
// non-numeric or negative number, bad JSON, line < 1, a token row whose
// target is not a fingerprint) is an error naming the
// file and the line. Blank lines are skipped. An error returned by fn stops
// the read and is returned as is.
func ReadJournal(path string, fn func(revoke.Outcome) error) (torn bool, err error) {
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
	f, err := openOwn(path, os.O_RDONLY, 0)
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
	if !slices.Equal(header, columns) {
		return fmt.Errorf("read outcome file %s: line 1: header is %q, want %q", path, header, columns)
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

func decodeCSV(f []string) (revoke.Outcome, error) {
	o := revoke.Outcome{
		Kind:          input.Kind(decodeCell(f[1])),
		Target:        decodeCell(f[2]),
		ConsumerKey:   decodeCell(f[3]),
		Status:        revoke.Status(decodeCell(f[4])),
		Error:         decodeCell(f[7]),
		CorrelationID: decodeCell(f[8]),
	}
	var err error
	if o.Line, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return o, fmt.Errorf("column line: %w", err)
	}
	if o.HTTPStatus, err = strconv.Atoi(f[5]); err != nil {
		return o, fmt.Errorf("column http_status: %w", err)
	}
	if o.Attempts, err = strconv.Atoi(f[6]); err != nil {
		return o, fmt.Errorf("column attempts: %w", err)
	}
	if o.DurationMS, err = strconv.ParseInt(f[9], 10, 64); err != nil {
		return o, fmt.Errorf("column duration_ms: %w", err)
	}
	return o, validate(o)
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

// MaxLine bounds the line numbers an outcome file may hold. Readers keep
// per-line state (a bit or a byte a line), and no real input has two billion
// lines, so a larger number means a damaged file, not a reason to allocate
// gigabytes.
const MaxLine = 1 << 31

// validate rejects values no writer produces: a sign that the file is not an
// outcome file or was damaged.
func validate(o revoke.Outcome) error {
	switch {
	case o.Line < 1 || o.Line >= MaxLine:
		return fmt.Errorf("line field is %d, want an input line number >= 1 and < %d", o.Line, int64(MaxLine))
	case !knownStatus(o.Status):
		return fmt.Errorf("unknown status %q", o.Status)
	case o.Kind == input.KindToken && !input.IsFingerprint(o.Target):
		// The target is not quoted: it may be the token itself.
		return fmt.Errorf("target of a token row is not a fingerprint (sha256: and %d hex digits)", input.FingerprintDigits)
	case o.HTTPStatus < 0:
		return fmt.Errorf("negative http_status %d", o.HTTPStatus)
	case o.Attempts < 0:
		return fmt.Errorf("negative attempts %d", o.Attempts)
	case o.DurationMS < 0:
		return fmt.Errorf("negative duration_ms %d", o.DurationMS)
	}
	return nil
}
