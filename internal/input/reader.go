package input

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// MaxRecordLen bounds one CSV record or one JSONL line, in bytes. It is what
// keeps memory flat whatever the file holds: a longer record becomes an
// invalid row and reading goes on at the next line.
const MaxRecordLen = 1 << 20

// FormatFromPath infers the format from the file extension: .csv is CSV,
// .jsonl and .ndjson are JSONL; ok is false for anything else.
func FormatFromPath(path string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, true
	case ".jsonl", ".ndjson":
		return JSONL, true
	}
	return "", false
}

// Reader streams Rows out of one input file. It holds one record at a time,
// never the file. It is not safe for concurrent use.
type Reader struct {
	csv   *csvReader
	jsonl *jsonlReader
	cols  *columns
	err   error
	// base is the user row being fanned out over Options.ConsumerKeys,
	// fan the index of the next key to give it; fan == len(keys) when
	// none is.
	base Row
	fan  int
}

// Open prepares to stream rows from r.
//
// For CSV it reads and checks the header here, so that an unusable file is
// refused before any request is sent. For JSONL it refuses a file whose
// first non-blank byte is '[': that is a JSON array, not JSON Lines. An
// empty file, or a CSV file with a header and nothing else, is not an error:
// Next returns io.EOF at once, because an empty run is normal for cron.
func Open(r io.Reader, f Format) (*Reader, error) {
	return open(r, f, MaxRecordLen, Options{})
}

// OpenOptions is Open reading rows as o says.
func OpenOptions(r io.Reader, f Format, o Options) (*Reader, error) {
	return open(r, f, MaxRecordLen, o)
}

// open is Open with the record bound as a parameter, so that tests can reach
// the too-long paths with small inputs.
func open(r io.Reader, f Format, maxRecord int, o Options) (*Reader, error) {
	cols := defaultColumns
	if !o.plain() {
		cols = newColumns(o)
	}
	rd := &Reader{cols: cols, fan: len(o.ConsumerKeys)}
	switch f {
	case CSV:
		c, err := openCSV(r, maxRecord, cols)
		if err != nil {
			return nil, err
		}
		rd.csv = c
		return rd, nil
	case JSONL:
		j, err := openJSONL(r, maxRecord, cols)
		if err != nil {
			return nil, err
		}
		rd.jsonl = j
		return rd, nil
	}
	return nil, fmt.Errorf("open input: unknown format %q", f)
}

// Next returns the next row, or io.EOF after the last one.
//
// A broken record is not an error: it comes back as a Row with Invalid set
// to the reason and Line set, and reading goes on. An error means the file
// itself could not be read any further; every later call returns it again.
//
// With Options.ConsumerKeys, a user row that names no consumerKey comes
// back once for each key, in order, all with the row's Line.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	keys := r.cols.opts.ConsumerKeys
	if r.fan < len(keys) {
		row := r.base
		row.ConsumerKey = keys[r.fan]
		r.fan++
		check(&row)
		return row, nil
	}
	var row Row
	var extra string
	var err error
	if r.csv != nil {
		row, extra, err = r.csv.next()
	} else {
		row, extra, err = r.jsonl.next()
	}
	if err != nil {
		r.err = err
		return Row{}, err
	}
	if row.Invalid != "" {
		return row, nil
	}
	if extra == "" && len(keys) > 0 && row.ConsumerKey == "" && row.User != "" && row.Token == "" {
		first := row
		first.ConsumerKey = keys[0]
		check(&first)
		if first.Invalid == "" {
			// The user is fine: the same row, for every key.
			r.base, r.fan = row, 1
			return first, nil
		}
		// One reason for the row, not one per application.
		first.ConsumerKey = ""
		return first, nil
	}
	check(&row)
	if extra != "" {
		row.Invalid = extra
	}
	if row.Invalid == reasonNoTarget {
		switch r.cols.opts.RowKind {
		case RowToken:
			row.Invalid = "no token given (--row-kind token reads only the token column)"
		case RowUser:
			row.Invalid = "no user given (--row-kind user reads only the user and consumerKey columns)"
		}
	}
	return row, nil
}

// EmptyRows is the number of CSV records of empty cells passed over so far:
// no row, like blank lines, but counted, for the summary.
func (r *Reader) EmptyRows() int64 {
	if r.csv == nil {
		return 0
	}
	return r.csv.empty
}

// skip moves past the next row without building it and returns the line it
// starts on; it is Count's half of Next and must step over exactly the same
// records. It serves only plain Options, under which a record is one row.
func (r *Reader) skip() (int64, error) {
	if r.csv != nil {
		return r.csv.skip()
	}
	return r.jsonl.skip()
}

// missing checks, at the end of a JSONL input, that the columns the options
// need were given by some object: a JSONL file has no header to check
// first. It is nil for CSV (checked at Open) and for an input of no rows.
func (r *Reader) missing(rows int64) error {
	if r.jsonl == nil || rows == 0 || r.cols == defaultColumns {
		return nil
	}
	return r.cols.require(r.jsonl.present, "no line has such a key")
}

// Count returns the number of rows Next would yield for the same bytes
// (invalid ones included, blank lines and empty records not), without
// keeping them; it is for progress totals before a run. It fails where Open
// or Next would.
func Count(r io.Reader, f Format) (int64, error) {
	n, _, err := count(r, f, MaxRecordLen, nil)
	return n, err
}

// count is Count with the record bound as a parameter; each, if not nil,
// gets the line of every row counted; empty is the number of empty records.
func count(r io.Reader, f Format, maxRecord int, each func(line int64)) (n, empty int64, err error) {
	rd, err := open(r, f, maxRecord, Options{})
	if err != nil {
		return 0, 0, err
	}
	for {
		line, err := rd.skip()
		switch err {
		case nil:
			n++
			if each != nil {
				each(line)
			}
		case io.EOF:
			return n, rd.EmptyRows(), nil
		default:
			return n, rd.EmptyRows(), err
		}
	}
}

// bom is the UTF-8 byte order mark that spreadsheet exports put first.
var bom = []byte{0xEF, 0xBB, 0xBF}

// skipBOM drops a leading byte order mark. It is done on the byte stream,
// before any parser sees it, so that a BOM followed by a quoted header cell
// is not a CSV syntax error and a BOM before a JSON object is not invalid JSON.
func skipBOM(br *bufio.Reader) error {
	b, err := br.Peek(len(bom))
	if bytes.Equal(b, bom) {
		_, err = br.Discard(len(bom))
		return err
	}
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	return nil
}

// sizeText renders a byte bound for reasons: "1 MiB", or bytes when it is
// not a whole number of MiB (tests use small bounds).
func sizeText(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
