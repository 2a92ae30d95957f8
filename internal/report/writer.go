package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Writer appends outcomes to an outcome file, one complete line per Write.
//
// A Writer is not safe for concurrent use: the pool hands every outcome to a
// single writer goroutine, which keeps the file in completion order without a
// lock.
type Writer struct {
	f      *os.File
	format Format

	// Each record is encoded into buf, then handed to the OS in one write(2):
	// a record is never split across writes however long it is, so a crash
	// leaves at most one torn line, always the last.
	buf bytes.Buffer
	// encoding/csv rather than gocsv: gocsv reflects over the struct on every
	// call, and all it would add is the header, which columns already gives.
	csv    *csv.Writer
	json   *json.Encoder
	record [10]string

	// err is sticky: after a failed write the file may end in a partial line,
	// and appending after it would bury that torn line mid-file.
	err error
}

// Create makes a new outcome file with mode 0600 and writes its header (CSV).
// It refuses an existing file unless force is set, in which case the file is
// truncated.
func Create(path string, force bool) (*Writer, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if force {
		flags |= os.O_TRUNC
	} else {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create outcome file %s: it already exists: use --force to overwrite it or --resume to continue it: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("create outcome file %s: %w", path, err)
	}
	// OpenFile only applies the mode to a file it creates; one overwritten
	// with force keeps its old mode unless told.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("create outcome file %s: set mode 0600: %w", path, err)
	}
	// The directory entry must survive a machine crash too, or the journal a
	// resume needs could vanish with it.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("create outcome file %s: %w", path, err)
	}
	w := newWriter(f, format)
	if err := w.writeHeader(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Append opens an existing outcome file to continue it (resume). If its last
// line is torn (no trailing newline: the process died mid-write) it is
// truncated away first, so that row is done again. A CSV file must start
// with the outcome header; one with no complete line gets it written.
func Append(path string) (*Writer, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open outcome file %s to resume: %w", path, err)
	}
	size, complete, err := completeSize(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open outcome file %s to resume: %w", path, err)
	}
	// Check before truncating: a file that is not an outcome file must be
	// left exactly as it was.
	if format == CSV && complete > 0 {
		if err := checkHeader(f, path); err != nil {
			f.Close()
			return nil, err
		}
	}
	if complete < size {
		if err := f.Truncate(complete); err != nil {
			f.Close()
			return nil, fmt.Errorf("truncate torn last line of outcome file %s: %w", path, err)
		}
	}
	w := newWriter(f, format)
	if complete == 0 {
		if err := w.writeHeader(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return w, nil
}

func newWriter(f *os.File, format Format) *Writer {
	w := &Writer{f: f, format: format}
	w.buf.Grow(512)
	switch format {
	case CSV:
		w.csv = csv.NewWriter(&w.buf)
	case JSONL:
		w.json = json.NewEncoder(&w.buf)
		// Error texts quote server replies; "<" reads better than "\u003c".
		w.json.SetEscapeHTML(false)
	}
	return w
}

func (w *Writer) writeHeader() error {
	if w.format != CSV {
		return nil
	}
	w.buf.Reset()
	w.buf.WriteString(csvHeader)
	if err := w.flush(); err != nil {
		return fmt.Errorf("write header to outcome file %s: %w", w.f.Name(), err)
	}
	return nil
}

// checkHeader refuses to append outcomes to a CSV file that is not an
// outcome file, such as the input file given by mistake.
func checkHeader(f *os.File, path string) error {
	r := csv.NewReader(io.NewSectionReader(f, 0, 1<<20))
	header, err := r.Read()
	if err != nil || !slices.Equal(header, columns) {
		return fmt.Errorf("open outcome file %s to resume: line 1 is not the header %q", path, columns)
	}
	return nil
}

// Write appends one outcome and hands it to the OS in one write(2); it does
// not fsync (see Sync). CR and LF in text fields become spaces and invalid
// UTF-8 becomes U+FFFD, so a record is always exactly one line.
func (w *Writer) Write(o revoke.Outcome) error {
	if w.err != nil {
		return w.err
	}
	o = normalise(o)
	w.buf.Reset()
	switch w.format {
	case CSV:
		r := &w.record
		r[0] = strconv.FormatInt(o.Line, 10)
		r[1] = string(o.Kind)
		r[2] = o.Target
		r[3] = o.ConsumerKey
		r[4] = string(o.Status)
		r[5] = strconv.Itoa(o.HTTPStatus)
		r[6] = strconv.Itoa(o.Attempts)
		r[7] = o.Error
		r[8] = o.CorrelationID
		r[9] = strconv.FormatInt(o.DurationMS, 10)
		if err := w.csv.Write(r[:]); err != nil {
			return fmt.Errorf("encode outcome of line %d: %w", o.Line, err)
		}
	case JSONL:
		// Outcome's json tags are in column order, and encoding/json keeps
		// struct field order.
		if err := w.json.Encode(o); err != nil {
			return fmt.Errorf("encode outcome of line %d: %w", o.Line, err)
		}
	}
	if err := w.flush(); err != nil {
		w.err = fmt.Errorf("write outcome of line %d to %s: %w", o.Line, w.f.Name(), err)
		return w.err
	}
	return nil
}

// flush moves the encoded record from buf to the file.
func (w *Writer) flush() error {
	if w.csv != nil {
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return err
		}
	}
	_, err := w.f.Write(w.buf.Bytes())
	return err
}

// Sync commits the outcomes written so far to stable storage. How often to
// pay for it is the caller's choice.
func (w *Writer) Sync() error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync outcome file %s: %w", w.f.Name(), err)
	}
	return nil
}

// Close syncs and closes the file. Every Write has already reached the OS,
// so there is no buffer left to flush.
func (w *Writer) Close() error {
	syncErr := w.f.Sync()
	closeErr := w.f.Close()
	if syncErr != nil {
		return fmt.Errorf("close outcome file %s: sync: %w", w.f.Name(), syncErr)
	}
	if closeErr != nil {
		return fmt.Errorf("close outcome file %s: %w", w.f.Name(), closeErr)
	}
	return nil
}

// completeSize returns the size of f and the length of its longest prefix
// that ends in a newline: everything after it is a torn last line.
func completeSize(f *os.File) (size, complete int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = fi.Size()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, 0, fmt.Errorf("find last complete line: %w", err)
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return size, start + int64(i) + 1, nil
		}
		end = start
	}
	return size, 0, nil
}

// syncDir makes a created or renamed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
