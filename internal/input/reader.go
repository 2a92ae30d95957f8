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
	err   error
}

// Open prepares to stream rows from r.
//
// For CSV it reads and checks the header here, so that an unusable file is
// refused before any request is sent. For JSONL it refuses a file whose
// first non-blank byte is '[': that is a JSON array, not JSON Lines. An
// empty file, or a CSV file with a header and nothing else, is not an error:
// Next returns io.EOF at once, because an empty run is normal for cron.
func Open(r io.Reader, f Format) (*Reader, error) {
	return open(r, f, MaxRecordLen)
}

// open is Open with the record bound as a parameter, so that tests can reach
// the too-long paths with small inputs.
func open(r io.Reader, f Format, maxRecord int) (*Reader, error) {
	switch f {
	case CSV:
		c, err := openCSV(r, maxRecord)
		if err != nil {
			return nil, err
		}
		return &Reader{csv: c}, nil
	case JSONL:
		j, err := openJSONL(r, maxRecord)
		if err != nil {
			return nil, err
		}
		return &Reader{jsonl: j}, nil
	}
	return nil, fmt.Errorf("open input: unknown format %q", f)
}

// Next returns the next row, or io.EOF after the last one.
//
// A broken record is not an error: it comes back as a Row with Invalid set
// to the reason and Line set, and reading goes on. An error means the file
// itself could not be read any further; every later call returns it again.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	var row Row
	var err error
	if r.csv != nil {
		row, err = r.csv.next()
	} else {
		row, err = r.jsonl.next()
	}
	if err != nil {
		r.err = err
		return Row{}, err
	}
	return row, nil
}

// skip moves past the next row without building it and returns the line it
// starts on; it is Count's half of Next and must step over exactly the same
// records.
func (r *Reader) skip() (int64, error) {
	if r.csv != nil {
		_, line, _, err := r.csv.record()
		return line, err
	}
	return r.jsonl.skip()
}

// Count returns the number of rows Next would yield for the same bytes
// (invalid ones included, blank lines not), without keeping them; it is for
// progress totals before a run. It fails where Open or Next would.
func Count(r io.Reader, f Format) (int64, error) {
	return count(r, f, MaxRecordLen, nil)
}

// count is Count with the record bound as a parameter; each, if not nil,
// gets the line of every row counted.
func count(r io.Reader, f Format, maxRecord int, each func(line int64)) (int64, error) {
	rd, err := open(r, f, maxRecord)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		line, err := rd.skip()
		switch err {
		case nil:
			n++
			if each != nil {
				each(line)
			}
		case io.EOF:
			return n, nil
		default:
			return n, err
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
