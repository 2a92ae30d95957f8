package input

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// addCorpusSeeds seeds a fuzz target with the awkward files of corpusDir,
// on top of the seeds kept in testdata/fuzz.
func addCorpusSeeds(f *testing.F, ext string) {
	for _, path := range corpusFiles(f) {
		if filepath.Ext(path) != ext {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// fuzzBounds are the record bounds each input is read with: the real one,
// and one small enough for fuzzed inputs to cross it.
var fuzzBounds = []int{MaxRecordLen, 24}

// checkAnyInput holds for every input of either format: the reader never
// panics, rows do not depend on how reads are split, Count agrees with Next,
// and checkInvariants holds.
func checkAnyInput(t *testing.T, data []byte, f Format, firstLine int64) {
	t.Helper()
	lastLine := int64(bytes.Count(data, []byte("\n"))) + 1
	for _, bound := range fuzzBounds {
		rows, err := readAll(bytes.NewReader(data), f, bound)
		one, oneErr := readAll(newSplitSeeker(data, iotest.OneByteReader), f, bound)
		if (err == nil) != (oneErr == nil) || !equalRows(rows, one) {
			t.Fatalf("bound %d: byte-at-a-time reads gave %d rows (err %v), whole reads %d (err %v)", bound, len(one), oneErr, len(rows), err)
		}
		pipe, pipeErr := readAll(iotest.OneByteReader(bytes.NewReader(data)), f, bound)
		if (err == nil) != (pipeErr == nil) || !pipeRows(pipe, rows) {
			t.Fatalf("bound %d: reads from a pipe gave %d rows (err %v), from a file %d (err %v)", bound, len(pipe), pipeErr, len(rows), err)
		}
		var lines []int64
		n, _, cerr := count(bytes.NewReader(data), f, bound, func(line int64) { lines = append(lines, line) })
		if (err == nil) != (cerr == nil) || err == nil && (n != int64(len(rows)) || !sameLines(lines, rows)) {
			t.Fatalf("bound %d: Count = %d, %v, lines %v; Next gave %d rows, %v", bound, n, cerr, lines, len(rows), err)
		}
		if err != nil {
			continue
		}
		checkInvariants(t, rows, firstLine)
		if len(rows) > 0 && rows[len(rows)-1].Line > lastLine {
			t.Fatalf("bound %d: line %d in a file of %d lines", bound, rows[len(rows)-1].Line, lastLine)
		}
	}
	checkCutsOnly(t, data, f)
}

func FuzzCSV(f *testing.F) {
	addCorpusSeeds(f, ".csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAnyInput(t, data, CSV, 2)
		checkAgainstCSVReader(t, data)
	})
}

// checkAgainstCSVReader reads data with a bare csv.Reader, which holds
// whole records and so needs no guard, and requires the same records at the
// same lines, broken in the same places. It also checks the guard's own idea
// of where each record starts, which is what a cut record reports.
func checkAgainstCSVReader(t *testing.T, data []byte) {
	t.Helper()
	rd, err := open(bytes.NewReader(data), CSV, MaxRecordLen, Options{})
	if err != nil || len(data) >= MaxRecordLen {
		return
	}
	body := bytes.TrimPrefix(data, bom)
	ref := csv.NewReader(bytes.NewReader(body))
	ref.FieldsPerRecord = -1
	if _, err := ref.Read(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("Open accepted a header csv.Reader refuses: %v", err)
	}
	// refBase is how far ref's line numbers are behind the file's: after a
	// quote left open to the end, the reader starts again on the next line,
	// and so does a fresh ref.
	var refBase int64
	for i := 0; ; i++ {
		_, refErr := ref.Read()
		rec, line, broken, err := rd.csv.record()
		if errors.Is(refErr, io.EOF) || errors.Is(err, io.EOF) {
			if !errors.Is(refErr, io.EOF) || !errors.Is(err, io.EOF) {
				t.Fatalf("record %d: csv.Reader says %v, reader says %v", i, refErr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		var refLine int
		var pe *csv.ParseError
		switch {
		case refErr == nil:
			refLine, _ = ref.FieldPos(0)
		case errors.As(refErr, &pe):
			refLine = pe.StartLine
		default:
			t.Fatalf("record %d: csv.Reader: %v", i, refErr)
		}
		if line != int64(refLine)+refBase || (broken == "") != (refErr == nil) || (rec == nil) != (refErr != nil) {
			t.Fatalf("record %d: reader gives line %d broken %q; csv.Reader line %d err %v", i, line, broken, int64(refLine)+refBase, refErr)
		}
		if rd.csv.guard.start != line {
			t.Fatalf("record %d: guard puts its start on line %d, csv.Reader on %d", i, rd.csv.guard.start, line)
		}
		if open, ok := openedOn(broken); ok {
			// csv.Reader read the rest of the file as this record: it
			// must have reached the end inside a quote.
			if pe, ok := errors.AsType[*csv.ParseError](refErr); !ok || pe.Err != csv.ErrQuote {
				t.Fatalf("record %d: reader says %q, csv.Reader %v", i, broken, refErr)
			}
			if _, err := ref.Read(); !errors.Is(err, io.EOF) {
				t.Fatalf("record %d: reader says %q, but csv.Reader reads on: %v", i, broken, err)
			}
			ref = csv.NewReader(bytes.NewReader(afterLine(body, open)))
			ref.FieldsPerRecord = -1
			refBase = open
		}
	}
}

// openedOn returns the line an "unclosed quote" reason names.
func openedOn(reason string) (int64, bool) {
	_, after, ok := strings.Cut(reason, "unclosed quote opened on line ")
	var n int64
	if ok {
		_, err := fmt.Sscanf(after, "%d", &n)
		ok = err == nil
	}
	return n, ok
}

// afterLine returns what follows line n of b (lines count from 1).
func afterLine(b []byte, n int64) []byte {
	for ; n > 0; n-- {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
}

func FuzzJSONL(f *testing.F) {
	addCorpusSeeds(f, ".jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAnyInput(t, data, JSONL, 1)
		checkAgainstEncodingJSON(t, data)
	})
}

// checkAgainstEncodingJSON requires one row per non-blank line, and each
// valid row to hold what encoding/json reads from its line: the hand-written
// walk in parseObject must agree with the real decoder.
func checkAgainstEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	if len(data) >= MaxRecordLen {
		return
	}
	rows, err := readAll(bytes.NewReader(data), JSONL, MaxRecordLen)
	body := bytes.TrimPrefix(data, bom)
	if err != nil {
		if first := skipSpace(body, 0); first >= len(body) || body[first] != '[' {
			t.Fatalf("refused a file that does not start with '[': %v", err)
		}
		return
	}
	var nonBlank []int64
	lines := bytes.Split(body, []byte("\n"))
	for i, l := range lines {
		if !isBlank(l) {
			nonBlank = append(nonBlank, int64(i+1))
		}
	}
	if len(nonBlank) != len(rows) {
		t.Fatalf("%d non-blank lines, %d rows", len(nonBlank), len(rows))
	}
	for i, r := range rows {
		if r.Line != nonBlank[i] {
			t.Fatalf("row %d on line %d, want line %d", i, r.Line, nonBlank[i])
		}
		if r.Invalid != "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(lines[r.Line-1], &m); err != nil {
			t.Fatalf("line %d: valid row from a line encoding/json refuses: %v", r.Line, err)
		}
		var got [numFields]bool
		for k, v := range m {
			f := fieldOf([]byte(k))
			if f == noField {
				continue
			}
			got[f] = true
			s, isString := v.(string)
			if v != nil && !isString {
				t.Fatalf("line %d: valid row, but key %q holds %T", r.Line, k, v)
			}
			if want := trimValue(s); fieldValue(r, f) != want {
				t.Fatalf("line %d: field %s is %q, encoding/json reads %q", r.Line, fieldNames[f], fieldValue(r, f), want)
			}
		}
		for f := fieldToken; f < numFields; f++ {
			if !got[f] && fieldValue(r, f) != "" {
				t.Fatalf("line %d: field %s set, but encoding/json finds no such key", r.Line, fieldNames[f])
			}
		}
	}
}

func fieldValue(r Row, f field) string {
	switch f {
	case fieldToken:
		return r.Token
	case fieldUser:
		return r.User
	case fieldConsumerKey:
		return r.ConsumerKey
	case fieldTokenTypeHint:
		return r.TokenTypeHint
	}
	return ""
}
