package input

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestFormatFromPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path   string
		want   Format
		wantOK bool
	}{
		{"leavers.csv", CSV, true},
		{"/tmp/IN.CSV", CSV, true},
		{"tokens.jsonl", JSONL, true},
		{"dir.v2/tokens.ndjson", JSONL, true},
		{"tokens.json", "", false},
		{"tokens.csv.gz", "", false},
		{"csv", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			got, ok := FormatFromPath(tt.path)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("FormatFromPath(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestOpenUnknownFormat(t *testing.T) {
	t.Parallel()
	if _, err := Open(strings.NewReader("token\nt-1\n"), Format("xml")); err == nil {
		t.Error("Open accepted format xml")
	}
	if _, err := Count(strings.NewReader("token\nt-1\n"), Format("")); err == nil {
		t.Error("Count accepted an empty format")
	}
}

func TestSeen(t *testing.T) {
	t.Parallel()
	a := Row{Kind: KindToken, Token: "t-1"}.Key()
	b := Row{Kind: KindUser, User: "bo", ConsumerKey: "ck"}.Key()
	s := NewSeen()
	steps := []struct {
		name  string
		key   [16]byte
		line  int64
		dup   bool
		first int64
	}{
		{"first token", a, 2, false, 0},
		{"first user", b, 3, false, 0},
		{"token again", a, 5, true, 2},
		{"user again", b, 8, true, 3},
		{"token a third time", a, 9, true, 2},
	}
	for _, st := range steps {
		first, dup := s.Add(st.key, st.line)
		if dup != st.dup || first != st.first {
			t.Errorf("%s: Add = %d, %v; want %d, %v", st.name, first, dup, st.first, st.dup)
		}
	}
}

// TestReadError checks that a failing file is an error, not an invalid
// row, that the error keeps its cause, and that it stays.
func TestReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	tests := []struct {
		name     string
		format   Format
		prefix   string
		wantRows int
		openErr  bool
	}{
		{"csv mid-record", CSV, "token\nt-1\nt-2", 1, false},
		{"csv inside a quoted cell", CSV, "token\nt-1\n\"t-2\n", 1, false},
		{"csv header", CSV, "tok", 0, true},
		{"jsonl mid-line", JSONL, `{"token":"t-1"}` + "\n" + `{"tok`, 1, false},
		{"jsonl before anything", JSONL, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := func() io.Reader { return io.MultiReader(strings.NewReader(tt.prefix), iotest.ErrReader(boom)) }
			rd, err := Open(src(), tt.format)
			if tt.openErr {
				if !errors.Is(err, boom) {
					t.Fatalf("Open error = %v, want one wrapping %v", err, boom)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			for i := range tt.wantRows {
				if row, err := rd.Next(); err != nil || row.Invalid != "" {
					t.Fatalf("row %d: %+v, %v; want a valid row", i, row, err)
				}
			}
			for range 2 {
				if row, err := rd.Next(); !errors.Is(err, boom) {
					t.Fatalf("Next = %+v, %v; want an error wrapping %v", row, err, boom)
				}
			}
			if _, err := Count(src(), tt.format); !errors.Is(err, boom) {
				t.Errorf("Count error = %v, want one wrapping %v", err, boom)
			}
		})
	}
}

// TestReasonsNeverQuoteTheToken breaks rows around a recognisable token in
// every way the reader reports, and looks for the token in the reason.
func TestReasonsNeverQuoteTheToken(t *testing.T) {
	t.Parallel()
	const secret = "SECRETtoken0123456789"
	tests := []struct {
		name   string
		format Format
		in     string
	}{
		{"csv both kinds", CSV, "token,user,consumerKey\n" + secret + ",bo,ck\n"},
		{"csv too many fields", CSV, "token\n" + secret + ",x\n"},
		{"csv space in token", CSV, "token\n" + secret + " x\n"},
		{"csv control byte in token", CSV, "token\n" + secret + "\x01\n"},
		{"csv token too long", CSV, "token\n" + strings.Repeat(secret, 300) + "\n"},
		{"csv bare quote", CSV, "token\n" + secret + "\"\n"},
		{"csv bad quote", CSV, "token\n\"" + secret + "\"x\n"},
		{"csv open quote", CSV, "token\n\"" + secret + "\n"},
		{"csv record too long", CSV, "token\n" + strings.Repeat(secret, 60000) + "\n"},
		{"csv header missing", CSV, secret + ",,\n"},
		{"csv header with a bad quote", CSV, secret + "\",,\n"},
		{"jsonl unquoted token", JSONL, `{"token":` + secret + `}`},
		{"jsonl unterminated token", JSONL, `{"token":"` + secret},
		{"jsonl token as a bare string", JSONL, `"` + secret + `"`},
		{"jsonl token in an array", JSONL, `{"token":["` + secret + `"]}`},
		{"jsonl token twice", JSONL, `{"token":"` + secret + `","access_token":"` + secret + `"}`},
		{"jsonl token with a space", JSONL, `{"token":"` + secret + ` x"}`},
		{"jsonl line too long", JSONL, `{"token":"` + strings.Repeat(secret, 60000) + `"}`},
		{"jsonl bad UTF-8", JSONL, `{"token":"` + secret + "\xff" + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, err := readAll(strings.NewReader(tt.in), tt.format, MaxRecordLen)
			if err != nil {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error quotes the token: %v", err)
				}
				return
			}
			if len(rows) == 0 {
				t.Fatal("no rows")
			}
			for _, r := range rows {
				if r.Invalid == "" {
					t.Errorf("line %d: valid, want invalid", r.Line)
				}
				if strings.Contains(r.Invalid, secret) {
					t.Errorf("line %d: reason quotes the token: %q", r.Line, r.Invalid)
				}
			}
		})
	}
}

// pattern is an io.Reader that repeats p n times without holding more than
// a few KiB, to feed the reader far more than it may keep.
type pattern struct {
	p     []byte
	n     int
	chunk []byte // p repeated a whole number of times
	off   int    // into chunk
	left  int    // bytes still to give
}

func (r *pattern) Read(b []byte) (int, error) {
	if r.chunk == nil {
		r.chunk = bytes.Repeat(r.p, max(1, 8192/len(r.p)))
		r.left = len(r.p) * r.n
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	k := copy(b[:min(len(b), r.left)], r.chunk[r.off:])
	r.off = (r.off + k) % len(r.chunk)
	r.left -= k
	return k, nil
}

// TestHugeRecord feeds records of tens of megabytes, generated on the fly,
// and checks that they become one invalid row each, that reading goes on
// after them, and that memory stays near the bound rather than the size of
// the record. It does not run in parallel: it reads the process's
// allocation counter.
func TestHugeRecord(t *testing.T) {
	const huge = 32 << 20
	tests := []struct {
		name   string
		format Format
		parts  func() []io.Reader
		want   []want
	}{
		{
			name:   "csv unquoted cell",
			format: CSV,
			parts: func() []io.Reader {
				return []io.Reader{strings.NewReader("token,note\nt-1,\n,"), &pattern{p: []byte("a"), n: huge}, strings.NewReader("\nt-2,\n")}
			},
			want: []want{{2, tok, true, ""}, {3, none, false, "record longer than 1 MiB"}, {4, tok, true, ""}},
		},
		{
			name:   "csv quoted cell of many lines",
			format: CSV,
			parts: func() []io.Reader {
				return []io.Reader{strings.NewReader("token,note\nt-1,\n,\""), &pattern{p: []byte("t-x,\"\"y\"\"\r\n"), n: huge / 12}, strings.NewReader("\"\nt-2,\n")}
			},
			want: []want{{2, tok, true, ""}, {3, none, false, fmt.Sprintf("record spanning lines 3-%d longer than 1 MiB", 3+huge/12)}, {4 + huge/12, tok, true, ""}},
		},
		{
			// From a pipe, past the bound, the lines after an open
			// quote cannot be read again: the row says so.
			name:   "csv quote never closed, from a pipe",
			format: CSV,
			parts: func() []io.Reader {
				return []io.Reader{strings.NewReader("token\nt-1\n\"t-2\n"), &pattern{p: []byte("t-x\n"), n: huge / 4}}
			},
			want: []want{{2, tok, true, ""}, {3, none, false, fmt.Sprintf("input cannot be read again (it is not a file), so lines 4-%d are lost", 3+huge/4)}},
		},
		{
			name:   "jsonl line",
			format: JSONL,
			parts: func() []io.Reader {
				return []io.Reader{strings.NewReader(`{"token":"t-1"}` + "\n" + `{"note":"`), &pattern{p: []byte("a"), n: huge}, strings.NewReader(`"}` + "\n" + `{"token":"t-2"}`)}
			},
			want: []want{{1, tok, true, ""}, {2, none, false, "line longer than 1 MiB"}, {3, tok, true, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rows, err := readAll(io.MultiReader(tt.parts()...), tt.format, MaxRecordLen)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, rows, tt.want)
			// Buffers growing step by step to the 1 MiB bound allocate a
			// few MiB in all (6 to 9 when this was written); keeping the
			// record would take more than its 32 MiB.
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB", alloc>>10)
			if alloc > 16<<20 {
				t.Errorf("allocated %d MiB reading a %d MiB record", alloc>>20, huge>>20)
			}
			n, err := Count(io.MultiReader(tt.parts()...), tt.format)
			if err != nil || n != int64(len(tt.want)) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(tt.want))
			}
		})
	}
}

// TestUnclosedQuoteFromFile: a quote left open is followed by far more than
// the bound (a 32 MiB line, then 3,000 rows). Read from a file, the reader
// scans to the end to learn the quote is never closed, then seeks back to
// the next line: the huge line is one invalid row and every later row is
// read, with memory near the bound. It does not run in parallel: it reads
// the process's allocation counter.
func TestUnclosedQuoteFromFile(t *testing.T) {
	const huge = 32 << 20
	path := filepath.Join(t.TempDir(), "in.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("token\nt-1\n\"t-2\n")
	for range huge / 1024 {
		w.WriteString(strings.Repeat("a", 1024))
	}
	w.WriteString("\n")
	wants := []want{{2, tok, true, ""}, {3, none, false, "unclosed quote opened on line 3"}, {4, none, false, "record longer than 1 MiB"}}
	for i := range 3000 {
		fmt.Fprintf(w, "t-%04d\n", i)
		wants = append(wants, want{int64(i + 5), tok, true, ""})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rows, err := readAll(in, CSV, MaxRecordLen)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, rows, wants)
	// Two records are cut at the bound (the open quote's, then the huge
	// line), each allocating what one does in TestHugeRecord (6 to 9 MiB
	// in all, as buffers grow to the bound); keeping the line would take
	// more than its 32 MiB.
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB", alloc>>10)
	if alloc > 24<<20 {
		t.Errorf("allocated %d MiB reading past a %d MiB line", alloc>>20, huge>>20)
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := Count(in, CSV); err != nil || n != int64(len(wants)) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(wants))
	}
}
