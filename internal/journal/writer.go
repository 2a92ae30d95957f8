package journal

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
	"strings"
	"syscall"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
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
	// dst is where records go: f, or for an encoder (NewEncoder) any
	// io.Writer; name names it in errors.
	dst  io.Writer
	name string

	// Each record is encoded into buf, then handed to the OS in one write(2):
	// a record is never split across writes however long it is, so a crash
	// leaves at most one torn line, always the last.
	buf bytes.Buffer
	// encoding/csv rather than gocsv: gocsv reflects over the struct on every
	// call, and all it would add is the header, which csvHeader already gives.
	csv    *csv.Writer
	json   *json.Encoder
	record [len(columns)]string
	// out is the outcome being encoded; held here, so that handing it to
	// the column table does not move every Write's argument to the heap.
	out revoke.Outcome

	// err is sticky: after a failed write the file may end in a partial line,
	// and appending after it would bury that torn line mid-file.
	err error
}

// Create makes a new outcome file with mode 0600 and writes its header (CSV).
// It refuses an existing file unless force is set, and with force still
// refuses a path that is a symbolic link or not a regular file.
//
// The file is written in full (header included) under a temporary name in
// the same directory, synced, and only then given its name: by a hard link,
// which fails if the name exists, or with force by a rename over the old
// file, which replaces that name and never writes into the old inode (so
// another name of it keeps its content). A CSV outcome file therefore never
// exists without its header, which is how Append tells one from any other
// file.
func Create(path string, force bool) (*Writer, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	if err := ownfile.CheckTarget(path); err != nil {
		return nil, fmt.Errorf("create outcome file %s: %w", path, err)
	}
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("create outcome file %s: it already exists: use --force to overwrite it or --resume to continue it: %w", path, fs.ErrExist)
		}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create outcome file %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) (*Writer, error) {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	// CreateTemp makes 0600 already; the mode is this function's promise.
	if err := f.Chmod(0o600); err != nil {
		return fail(fmt.Errorf("create outcome file %s: set mode 0600: %w", path, err))
	}
	w := newWriter(f, format)
	if err := w.writeHeader(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("create outcome file %s: %w", path, err))
	}
	if err := nameFile(tmp, path, force); err != nil {
		return fail(err)
	}
	// The directory entry must survive a machine crash too, or the journal a
	// resume needs could vanish with it.
	if err := ownfile.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("create outcome file %s: %w", path, err)
	}
	return w, nil
}

// nameFile gives the finished temporary file tmp its name path.
func nameFile(tmp, path string, replace bool) error {
	if replace {
		if err := ownfile.CheckTarget(path); err != nil {
			return fmt.Errorf("create outcome file %s: %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("create outcome file %s: %w", path, err)
		}
		return nil
	}
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		return os.Remove(tmp)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create outcome file %s: it already exists: use --force to overwrite it or --resume to continue it: %w", path, err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EXDEV):
		// A filesystem without hard links (some network and FUSE mounts):
		// claim the name exclusively, then rename onto the claim. Between
		// the two the name holds an empty file, which a resume refuses as
		// not an outcome file rather than guess at.
		claim, cerr := ownfile.Open(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(cerr, fs.ErrExist) {
			return fmt.Errorf("create outcome file %s: it already exists: use --force to overwrite it or --resume to continue it: %w", path, cerr)
		}
		if cerr != nil {
			return fmt.Errorf("create outcome file %s: %w", path, cerr)
		}
		claim.Close()
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("create outcome file %s: %w", path, err)
		}
		return nil
	default:
		return fmt.Errorf("create outcome file %s: %w", path, err)
	}
}

// Append opens an existing outcome file to continue it (resume). It must be
// an outcome file (Check); anything else is refused and left exactly
// as it was. If its last line is torn (no trailing newline: the process died
// mid-write) it is truncated away first, so that row is done again.
func Append(path string) (*Writer, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	f, err := ownfile.Open(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open outcome file %s to resume: %w", path, err)
	}
	// Checked on the descriptor that is then written: what was checked is
	// what is continued.
	complete, size, err := checkJournal(f, path, format)
	if err != nil {
		f.Close()
		return nil, err
	}
	if complete < size {
		if err := f.Truncate(complete); err != nil {
			f.Close()
			return nil, fmt.Errorf("truncate torn last line of outcome file %s: %w", path, err)
		}
	}
	return newWriter(f, format), nil
}

// ErrNotJournal is wrapped by Check's refusals.
var ErrNotJournal = errors.New("not an outcome file")

// Check tells whether the file at path is an outcome file that a
// resume may continue, without changing it. A CSV outcome file starts with
// the outcome header line, exactly: Create never leaves one without it. A
// JSONL outcome file has no header; it is either empty (what Create makes)
// or starts with a record as Write encodes one, `{"line":` first (a torn
// first record at least begins like one). Whether every later line is an
// outcome is for the reader (Read) to say.
func Check(path string) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	f, err := ownfile.Open(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("outcome file %s: %w", path, err)
	}
	defer f.Close()
	_, _, err = checkJournal(f, path, format)
	return err
}

// jsonlStart is how every JSONL record that Write makes begins.
const jsonlStart = `{"line":`

func checkJournal(f *os.File, path string, format Format) (complete, size int64, err error) {
	size, complete, err = completeSize(f)
	if err != nil {
		return 0, 0, fmt.Errorf("read outcome file %s: %w", path, err)
	}
	switch format {
	case CSV:
		// The header line, ended by LF (as written) or CRLF (as a
		// Windows tool may leave it).
		head := make([]byte, len(csvHeader)+1)
		n, _ := f.ReadAt(head, 0)
		line := string(head[:n])
		if !strings.HasPrefix(line, csvHeader) && !strings.HasPrefix(line, strings.TrimSuffix(csvHeader, "\n")+"\r\n") {
			return 0, 0, fmt.Errorf("%s is %w: line 1 is not the outcome header %q; refusing to touch it", path, ErrNotJournal, strings.TrimSuffix(csvHeader, "\n"))
		}
	case JSONL:
		if size == 0 {
			return complete, size, nil
		}
		head := make([]byte, len(jsonlStart))
		n, _ := f.ReadAt(head, 0)
		// A file shorter than the prefix (a torn first record) must be
		// a prefix of it.
		if !strings.HasPrefix(jsonlStart, string(head[:n])) {
			return 0, 0, fmt.Errorf("%s is %w: line 1 is not an outcome record (%s...); refusing to touch it", path, ErrNotJournal, jsonlStart)
		}
	}
	return complete, size, nil
}

func newWriter(f *os.File, format Format) *Writer {
	w := newEncoder(f, f.Name(), format)
	w.f = f
	return w
}

func newEncoder(out io.Writer, name string, format Format) *Writer {
	w := &Writer{dst: out, name: name, format: format}
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
		return fmt.Errorf("write header to outcome file %s: %w", w.name, err)
	}
	return nil
}

// Write appends one outcome and hands it to the OS in one write(2); it does
// not fsync (see Sync). CR and LF in text fields become spaces and invalid
// UTF-8 becomes U+FFFD, so a record is always exactly one line. CSV text
// cells are encoded for spreadsheets and terminals (encodeCell); JSONL
// escapes every control character (escapeJSONText).
func (w *Writer) Write(o revoke.Outcome) error {
	if w.err != nil {
		return w.err
	}
	w.out = normalise(o)
	o = w.out
	w.buf.Reset()
	switch w.format {
	case CSV:
		r := &w.record
		encodeCSV(&w.out, r)
		if err := w.csv.Write(r[:]); err != nil {
			return fmt.Errorf("encode outcome of line %d: %w", o.Line, err)
		}
	case JSONL:
		// Outcome's json tags are in column order, and encoding/json keeps
		// struct field order.
		if err := w.json.Encode(o); err != nil {
			return fmt.Errorf("encode outcome of line %d: %w", o.Line, err)
		}
		if b := w.buf.Bytes(); mayNeedJSONEscape(b) {
			escapedJSON := escapeJSONText(b)
			w.buf.Reset()
			w.buf.Write(escapedJSON)
		}
	}
	if err := w.flush(); err != nil {
		w.err = fmt.Errorf("write outcome of line %d to %s: %w", o.Line, w.name, err)
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
	_, err := w.dst.Write(w.buf.Bytes())
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
