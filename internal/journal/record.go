// Package journal owns the outcome file: one record per input row, its
// columns, encoder and decoder (record.go), the writer and its fsync cadence,
// the reader, compaction, the run lock, the sidecar beside it, and the policy
// that decides whether a run may resume it. The same file is the journal a
// killed run resumes from, so every record is handed to the OS as it is
// written, a torn last line is detected and dropped, and Compact rewrites it
// to one row per input line atomically.
package journal

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Format is the encoding of an outcome file, chosen by its extension.
type Format string

const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// FormatOf picks the outcome file format from the extension of path. A
// history file (OUT.history) has the format of its outcome file.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(strings.TrimSuffix(path, historySuffix))) {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	}
	return "", fmt.Errorf("outcome file %s: unknown extension %q: use .csv, .jsonl or .ndjson", path, filepath.Ext(path))
}

// column is one field of the outcome record: its name (the CSV header cell
// and the JSONL key), and how a CSV cell is made from it and read back.
type column struct {
	name   string
	encode func(o *revoke.Outcome) string
	decode func(o *revoke.Outcome, cell string) error
}

// columns is the one definition of the outcome record's columns, in file
// order. The CSV header, encoder and decoder are driven by it; JSONL is
// revoke.Outcome's json encoding, whose tags must name these columns in this
// order (TestColumnsMatchJSON). Changing it breaks resuming from older
// outcome files.
var columns = [...]column{
	intColumn("line", func(o *revoke.Outcome) *int64 { return &o.Line }),
	textColumn("kind", func(o *revoke.Outcome) *string { return (*string)(&o.Kind) }),
	textColumn("target", func(o *revoke.Outcome) *string { return &o.Target }),
	textColumn("consumer_key", func(o *revoke.Outcome) *string { return &o.ConsumerKey }),
	textColumn("status", func(o *revoke.Outcome) *string { return (*string)(&o.Status) }),
	smallIntColumn("http_status", func(o *revoke.Outcome) *int { return &o.HTTPStatus }),
	smallIntColumn("attempts", func(o *revoke.Outcome) *int { return &o.Attempts }),
	textColumn("error", func(o *revoke.Outcome) *string { return &o.Error }),
	textColumn("correlation_id", func(o *revoke.Outcome) *string { return &o.CorrelationID }),
	intColumn("duration_ms", func(o *revoke.Outcome) *int64 { return &o.DurationMS }),
	textColumn("settled_at", func(o *revoke.Outcome) *string { return &o.SettledAt }),
	textColumn("run_id", func(o *revoke.Outcome) *string { return &o.RunID }),
}

// textColumn is a free-text field: its CSV cell is encoded for spreadsheets
// and terminals (encodeCell).
func textColumn(name string, field func(*revoke.Outcome) *string) column {
	return column{
		name:   name,
		encode: func(o *revoke.Outcome) string { return encodeCell(*field(o)) },
		decode: func(o *revoke.Outcome, cell string) error { *field(o) = decodeCell(cell); return nil },
	}
}

func intColumn(name string, field func(*revoke.Outcome) *int64) column {
	return column{
		name:   name,
		encode: func(o *revoke.Outcome) string { return strconv.FormatInt(*field(o), 10) },
		decode: func(o *revoke.Outcome, cell string) (err error) {
			*field(o), err = strconv.ParseInt(cell, 10, 64)
			return err
		},
	}
}

func smallIntColumn(name string, field func(*revoke.Outcome) *int) column {
	return column{
		name:   name,
		encode: func(o *revoke.Outcome) string { return strconv.Itoa(*field(o)) },
		decode: func(o *revoke.Outcome, cell string) (err error) {
			*field(o), err = strconv.Atoi(cell)
			return err
		},
	}
}

// columnNames is the CSV header row.
var columnNames = func() []string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return names
}()

// csvHeader is the first line of a CSV outcome file; no column name needs
// quoting.
var csvHeader = strings.Join(columnNames, ",") + "\n"

// encodeCSV fills record with the CSV cells of o, in column order.
func encodeCSV(o *revoke.Outcome, record *[len(columns)]string) {
	for i, c := range columns {
		record[i] = c.encode(o)
	}
}

// decodeCSV reads one CSV record of len(columns) cells and checks it.
func decodeCSV(cells []string) (revoke.Outcome, error) {
	var o revoke.Outcome
	for i, c := range columns {
		if err := c.decode(&o, cells[i]); err != nil {
			return o, fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return o, validate(o)
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
	case !o.Status.Known():
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
	case o.SettledAt != "" && !settledText(o.SettledAt):
		return fmt.Errorf("settled_at %q is not an RFC 3339 UTC time to the millisecond", o.SettledAt)
	}
	return nil
}

// settledText reports whether s is a time as SettledAt is written. Empty is
// allowed: a record written by hand or by a test may leave it out.
func settledText(s string) bool {
	_, err := time.Parse(revoke.SettledLayout, s)
	return err == nil
}

var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// clean makes a text field safe to write: a CR or LF becomes a space, so one
// outcome is always exactly one physical line and a torn write is always a
// last line without a newline; invalid UTF-8 becomes U+FFFD, which JSON would
// do anyway, so both formats give back the same text.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.ContainsAny(s, "\r\n") {
		s = lineBreaks.Replace(s)
	}
	return s
}

// normalise is what Write does to an outcome before encoding it; reading a
// written outcome back gives normalise(o).
func normalise(o revoke.Outcome) revoke.Outcome {
	o.Kind = input.Kind(clean(string(o.Kind)))
	o.Target = clean(o.Target)
	o.ConsumerKey = clean(o.ConsumerKey)
	o.Status = revoke.Status(clean(string(o.Status)))
	o.Error = clean(o.Error)
	o.CorrelationID = clean(o.CorrelationID)
	o.SettledAt = clean(o.SettledAt)
	o.RunID = clean(o.RunID)
	return o
}
