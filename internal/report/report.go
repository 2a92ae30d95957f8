// Package report writes the outcome file, one Outcome per input row, and
// reads it back: the same file is the journal a killed run resumes from, so
// every record is flushed as it is written, a torn last line is detected and
// dropped, and Compact rewrites it to one row per input line atomically.
package report

import (
	"fmt"
	"path/filepath"
	"strings"
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

// columns is the CSV header and the JSONL key order: the order of the fields
// of revoke.Outcome. Changing it breaks resuming from older outcome files.
var columns = []string{
	"line", "kind", "target", "consumer_key", "status",
	"http_status", "attempts", "error", "correlation_id", "duration_ms",
}

// csvHeader is the first line of a CSV outcome file; no column name needs
// quoting.
var csvHeader = strings.Join(columns, ",") + "\n"

// FormatOf picks the outcome file format from the extension of path.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	}
	return "", fmt.Errorf("outcome file %s: unknown extension %q: use .csv, .jsonl or .ndjson", path, filepath.Ext(path))
}

// Statuses lists every status an outcome file may hold, in the order a
// summary shows them: revoke.Statuses, the one list. It is also what
// ReadJournal accepts.
func Statuses() []revoke.Status { return revoke.Statuses() }

func knownStatus(s revoke.Status) bool { return s.Known() }

// Tally counts outcomes for the run summary and the exit code.
type Tally struct {
	// ByStatus counts rows by final status.
	ByStatus map[revoke.Status]int64
	// Requests counts HTTP requests sent, retries included.
	Requests int64
}

// Add counts one outcome.
func (t *Tally) Add(o revoke.Outcome) {
	if t.ByStatus == nil {
		t.ByStatus = make(map[revoke.Status]int64, 8)
	}
	t.ByStatus[o.Status]++
	t.Requests += int64(o.Attempts)
}

// Rows is the number of outcomes counted.
func (t *Tally) Rows() int64 {
	var n int64
	for _, c := range t.ByStatus {
		n += c
	}
	return n
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
	return o
}
