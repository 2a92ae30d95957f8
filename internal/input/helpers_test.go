package input

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// want is one expected row: where it starts, what it revokes, and whether it
// may be sent. reason, when set, must appear in Invalid.
type want struct {
	line   int64
	kind   Kind
	valid  bool
	reason string
}

// readAll opens data and reads every row; err is Open's error or a read
// error.
func readAll(r io.Reader, f Format, maxRecord int) ([]Row, error) {
	rd, err := open(r, f, maxRecord, Options{})
	if err != nil {
		return nil, err
	}
	var rows []Row
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
}

func checkRows(t *testing.T, got []Row, wants []want) {
	t.Helper()
	for i := range max(len(got), len(wants)) {
		switch {
		case i >= len(got):
			t.Errorf("row %d: missing, want line %d %q valid=%v", i, wants[i].line, wants[i].kind, wants[i].valid)
			continue
		case i >= len(wants):
			t.Errorf("row %d: unexpected line %d %q invalid=%q", i, got[i].Line, got[i].Kind, got[i].Invalid)
			continue
		}
		g, w := got[i], wants[i]
		if g.Line != w.line || g.Kind != w.kind || (g.Invalid == "") != w.valid {
			t.Errorf("row %d: got line %d kind %q invalid %q; want line %d kind %q valid=%v",
				i, g.Line, g.Kind, g.Invalid, w.line, w.kind, w.valid)
		}
		if w.reason != "" && !strings.Contains(g.Invalid, w.reason) {
			t.Errorf("row %d (line %d): reason %q does not contain %q", i, g.Line, g.Invalid, w.reason)
		}
	}
}

// readers yields the same bytes split in different ways, because nothing
// the reader decides may depend on how the file's reads happen to fall.
// Each can seek, as a file can.
func readers(data []byte) map[string]func() io.Reader {
	return map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(data) },
		"one byte": func() io.Reader { return newSplitSeeker(data, iotest.OneByteReader) },
		"half":     func() io.Reader { return newSplitSeeker(data, iotest.HalfReader) },
		"data+eof": func() io.Reader { return newSplitSeeker(data, iotest.DataErrReader) },
	}
}

// splitSeeker reads data through a reader that splits reads its own way,
// and seeks like a file: a seek starts a fresh splitter at the new offset.
type splitSeeker struct {
	base  *bytes.Reader
	split func(io.Reader) io.Reader
	r     io.Reader
}

func newSplitSeeker(data []byte, split func(io.Reader) io.Reader) *splitSeeker {
	base := bytes.NewReader(data)
	return &splitSeeker{base: base, split: split, r: split(base)}
}

func (s *splitSeeker) Read(p []byte) (int, error) { return s.r.Read(p) }

func (s *splitSeeker) Seek(off int64, whence int) (int64, error) {
	if off == 0 && whence == io.SeekCurrent {
		return s.base.Seek(0, io.SeekCurrent) // asked before any read
	}
	n, err := s.base.Seek(off, whence)
	s.r = s.split(s.base)
	return n, err
}

// checkStable reads data every way readers splits it and requires the same
// rows each time, and Count to agree with their number and lines. Read from
// an input that cannot seek (a pipe), the rows are the same too, except that
// a quote left open past the bound may end them with a row saying the rest
// cannot be read again.
func checkStable(t *testing.T, data []byte, f Format, maxRecord int) {
	t.Helper()
	base, baseErr := readAll(bytes.NewReader(data), f, maxRecord)
	for name, r := range readers(data) {
		rows, err := readAll(r(), f, maxRecord)
		if (err == nil) != (baseErr == nil) || !equalRows(rows, base) {
			t.Errorf("%s reads: got %d rows (err %v), whole reads gave %d rows (err %v)", name, len(rows), err, len(base), baseErr)
		}
		var lines []int64
		n, _, cerr := count(r(), f, maxRecord, func(line int64) { lines = append(lines, line) })
		if (cerr == nil) != (baseErr == nil) {
			t.Errorf("%s reads: Count error %v, Next error %v", name, cerr, baseErr)
		}
		if baseErr == nil && n != int64(len(base)) {
			t.Errorf("%s reads: Count = %d, Next yielded %d rows", name, n, len(base))
		}
		if baseErr == nil && !sameLines(lines, base) {
			t.Errorf("%s reads: Count saw rows on lines %v, Next on other lines", name, lines)
		}
	}
	pipe, err := readAll(iotest.OneByteReader(bytes.NewReader(data)), f, maxRecord)
	if (err == nil) != (baseErr == nil) || !pipeRows(pipe, base) {
		t.Errorf("reads from a pipe: got %+v (err %v), from a file %+v (err %v)", pipe, err, base, baseErr)
	}
}

// pipeRows reports whether rows read from a pipe agree with those read from
// a file.
func pipeRows(pipe, file []Row) bool {
	n := len(pipe)
	if n > 0 && strings.Contains(pipe[n-1].Invalid, "cannot be read again") {
		// The lines it says are lost exist: the file has them.
		_, lost, _ := strings.Cut(pipe[n-1].Invalid, "so lines ")
		var from, to int64
		if _, err := fmt.Sscanf(lost, "%d-%d", &from, &to); err != nil || from > to || from != pipe[n-1].Line+1 && !strings.Contains(pipe[n-1].Invalid, "spanning") {
			return false
		}
		return n <= len(file) && equalRows(pipe[:n-1], file[:n-1]) && pipe[n-1].Line == file[n-1].Line
	}
	return equalRows(pipe, file)
}

// sameLines reports whether lines are the lines of rows, in order.
func sameLines(lines []int64, rows []Row) bool {
	if len(lines) != len(rows) {
		return false
	}
	for i, r := range rows {
		if lines[i] != r.Line {
			return false
		}
	}
	return true
}

func equalRows(a, b []Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkInvariants holds for any input: lines strictly increase from
// firstLine, a valid row has a kind and a target that passes validation,
// and an invalid row's reason does not quote its token.
func checkInvariants(t *testing.T, rows []Row, firstLine int64) {
	t.Helper()
	prev := firstLine - 1
	for i, r := range rows {
		if r.Line <= prev {
			t.Errorf("row %d: line %d after line %d", i, r.Line, prev)
		}
		prev = r.Line
		if r.Invalid != "" {
			// Short tokens could match a reason's own words by chance.
			if len(r.Token) >= 12 && strings.Contains(r.Invalid, r.Token) {
				t.Errorf("row %d: reason %q quotes the token", i, r.Invalid)
			}
			continue
		}
		if r.Target() == "" {
			t.Errorf("row %d: valid row with no target: %+v", i, r)
		}
		switch r.Kind {
		case KindToken:
			if checkToken(r.Token) != "" || r.User != "" || r.ConsumerKey != "" {
				t.Errorf("row %d: valid token row breaks a rule: %+v", i, r)
			}
		case KindUser:
			if r.Token != "" || r.User == "" || r.ConsumerKey == "" ||
				checkText("user", r.User) != "" || checkText("consumerKey", r.ConsumerKey) != "" {
				t.Errorf("row %d: valid user row breaks a rule: %+v", i, r)
			}
		default:
			t.Errorf("row %d: valid row with kind %q", i, r.Kind)
		}
	}
}

// checkCutsOnly reads data with a small bound and with none to speak of: the
// bound may only turn rows into "longer than" rows, never move, add or drop
// one. It is what shows that reading resumes where it would have anyway.
func checkCutsOnly(t *testing.T, data []byte, f Format) {
	t.Helper()
	const small = 24
	full, err := readAll(bytes.NewReader(data), f, MaxRecordLen)
	if err != nil || len(data) >= MaxRecordLen {
		return
	}
	cut, err := readAll(bytes.NewReader(data), f, small)
	if err != nil {
		// The header alone can be over the small bound.
		if !strings.Contains(err.Error(), "longer than") {
			t.Errorf("small bound: %v", err)
		}
		return
	}
	if len(cut) != len(full) {
		t.Errorf("small bound gave %d rows, no bound %d", len(cut), len(full))
		return
	}
	for i := range cut {
		if cut[i] != full[i] && (cut[i].Line != full[i].Line || !strings.Contains(cut[i].Invalid, "longer than")) {
			t.Errorf("row %d: small bound gave %+v, no bound %+v", i, cut[i], full[i])
		}
	}
}

// checkTable runs one case of a format's table test: in read with a bound
// of maxRecord bytes (0: MaxRecordLen) yields wants, or fails with wantErr;
// and the rows keep the invariants whatever the reads' sizes.
func checkTable(t *testing.T, in string, f Format, maxRecord int, wants []want, wantErr string) {
	t.Helper()
	if maxRecord == 0 {
		maxRecord = MaxRecordLen
	}
	rows, err := readAll(strings.NewReader(in), f, maxRecord)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got error %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	firstLine := int64(1)
	if f == CSV {
		firstLine = 2 // line 1 is the header
	}
	checkRows(t, rows, wants)
	checkInvariants(t, rows, firstLine)
	checkStable(t, []byte(in), f, maxRecord)
	checkCutsOnly(t, []byte(in), f)
}
