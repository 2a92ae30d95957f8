package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/gocarina/gocsv"
)

// csvColumns tells gocsv which columns the reader knows. Its tags are the
// canonical names the header normalizer maps every alias to; they are lower
// case so that a process-wide gocsv.SetHeaderNormalizer that lower-cases
// names (a common choice) cannot make them miss.
type csvColumns struct {
	Token         string `csv:"token"`
	User          string `csv:"user"`
	ConsumerKey   string `csv:"consumer_key"`
	TokenTypeHint string `csv:"token_type_hint"`
}

var csvTags = [numFields]string{
	fieldToken:         "token",
	fieldUser:          "user",
	fieldConsumerKey:   "consumer_key",
	fieldTokenTypeHint: "token_type_hint",
}

// csvReader reads records with an encoding/csv Reader it owns.
//
// gocsv does the header: it reads it through that csv.Reader, maps the
// columns to csvColumns through the alias normalizer, and reports which
// known columns are absent. Records are read with encoding/csv directly,
// because gocsv's Unmarshaller.Read cannot serve this reader: it silently
// drops cells beyond the header (so "too many fields" would go unseen), it
// returns nothing on a record error (so an invalid row would lose what could
// be read), and it allocates through reflection on every row.
type csvReader struct {
	guard *recordGuard
	cr    *csv.Reader
	// cols is the column index of each field, -1 when the header lacks it.
	cols  [numFields]int
	width int
	// done marks the end: a file with no header at all, or io.EOF seen.
	done bool
}

func openCSV(r io.Reader, maxRecord int) (*csvReader, error) {
	g, err := newRecordGuard(r, maxRecord)
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	cr := csv.NewReader(g)
	// Records may be shorter or longer than the header: shorter ones lack
	// trailing cells, longer ones are reported per row, not for the file.
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	// TrimLeadingSpace stays off: cells are trimmed afterwards anyway, and
	// recordScan mirrors csv.Reader's record boundaries only without it.
	c := &csvReader{guard: g, cr: cr}

	um, err := gocsv.NewUnmarshaller(cr, csvColumns{})
	switch {
	case g.tripped:
		return nil, fmt.Errorf("read csv header: header longer than %s", sizeText(maxRecord))
	case errors.Is(err, io.EOF):
		c.done = true
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("read csv header: %w", err)
	}

	var names []string
	err = um.RenormalizeHeaders(func(headers []string) []string {
		names = slices.Clone(headers)
		out := make([]string, len(headers))
		for i, h := range headers {
			if f := fieldOf([]byte(h)); f != noField {
				out[i] = csvTags[f]
			}
		}
		return out
	})
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	absent := func(f field) bool { return slices.Contains(um.MismatchedStructFields, csvTags[f]) }
	if absent(fieldToken) && (absent(fieldUser) || absent(fieldConsumerKey)) {
		// The header's own cells are not quoted back: when the header is
		// missing, the first line is data and may hold a token.
		return nil, fmt.Errorf("csv header has no usable columns: want %s; is the header line missing?", expectedColumns)
	}

	c.width = len(um.Headers)
	for f := range c.cols {
		c.cols[f] = -1
	}
	for i, tag := range um.Headers {
		f := tagField(tag)
		if f == noField {
			continue
		}
		if j := c.cols[f]; j >= 0 {
			// Quoting these names is safe: they matched an alias.
			return nil, fmt.Errorf("csv header: columns %d (%q) and %d (%q) both give %s; keep one",
				j+1, names[j], i+1, names[i], fieldNames[f])
		}
		c.cols[f] = i
	}
	return c, nil
}

func tagField(tag string) field {
	for f, t := range csvTags {
		if t != "" && t == tag {
			return field(f)
		}
	}
	return noField
}

// record reads the next record. A record that could not be parsed comes
// back with broken set to the reason; err is io.EOF at the end and anything
// else when the file cannot be read.
func (c *csvReader) record() (rec []string, line int64, broken string, err error) {
	if c.done {
		return nil, 0, "", io.EOF
	}
	if err := c.guard.reset(); err != nil {
		return nil, 0, "", fmt.Errorf("read csv input: %w", err)
	}
	rec, err = c.cr.Read()
	if c.guard.tripped {
		return nil, c.guard.start, fmt.Sprintf("record longer than %s: a huge cell, or a quote that is never closed",
			sizeText(c.guard.max)), nil
	}
	if err == nil {
		l, _ := c.cr.FieldPos(0)
		return rec, int64(l) + c.guard.hidden, "", nil
	}
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		return nil, int64(pe.StartLine) + c.guard.hidden, parseReason(pe, c.guard.hidden), nil
	}
	if err == io.EOF {
		c.done = true
		return nil, 0, "", io.EOF
	}
	return nil, 0, "", fmt.Errorf("read csv input: %w", err)
}

// parseReason explains a record encoding/csv could not parse. csv.Reader
// has already dropped the rest of the line it failed on and starts the next
// record on the following line. A quote opened and never closed makes one
// record of everything up to the end of the file, so the reason names the
// lines it swallowed (past MaxRecordLen the record is cut instead, and the
// rest is dropped all the same).
func parseReason(pe *csv.ParseError, hidden int64) string {
	if pe.Line > pe.StartLine {
		start, end := int64(pe.StartLine)+hidden, int64(pe.Line)+hidden
		return fmt.Sprintf("malformed CSV record spanning lines %d-%d: %v (line %d, column %d); is a quote left open?",
			start, end, pe.Err, end, pe.Column)
	}
	return fmt.Sprintf("malformed CSV record: %v (column %d)", pe.Err, pe.Column)
}

func (c *csvReader) next() (Row, error) {
	rec, line, broken, err := c.record()
	if err != nil {
		return Row{}, err
	}
	row := Row{Line: line}
	if broken != "" {
		row.Invalid = broken
		return row, nil
	}
	for f, i := range c.cols {
		if i >= 0 && i < len(rec) {
			setField(&row, field(f), trimValue(rec[i]))
		}
	}
	check(&row)
	if len(rec) > c.width {
		row.Invalid = fmt.Sprintf("record has %d fields, the header has %d", len(rec), c.width)
	}
	return row, nil
}

func setField(r *Row, f field, v string) {
	switch f {
	case fieldToken:
		r.Token = v
	case fieldUser:
		r.User = v
	case fieldConsumerKey:
		r.ConsumerKey = v
	case fieldTokenTypeHint:
		r.TokenTypeHint = v
	}
}

// errRecordTooLong is how recordGuard cuts a record short inside csv.Reader.
var errRecordTooLong = errors.New("csv record too long")

// recordGuard sits between the file and csv.Reader and bounds the size of
// one record, which csv.Reader does not: a multi-megabyte cell, or a quote
// opened and never closed, would otherwise be held whole in memory.
//
// It hands csv.Reader at most one physical line per Read, so csv.Reader's
// buffer never runs ahead of the record being parsed and every byte handed
// out since reset belongs to that record. That makes the cut exact and the
// same however the underlying reader splits its reads, which keeps Count and
// Next in agreement. After a cut it drops the rest of the record, following
// the same quoting rules as csv.Reader (recordScan), so reading resumes where
// an unbounded csv.Reader would have started the next record: the lines of a
// huge quoted cell never turn into rows of their own.
type recordGuard struct {
	br  *bufio.Reader
	max int
	// n counts the bytes of the current record handed out, from its first
	// non-blank line.
	n int
	// rec keeps the bytes of the current record handed out so far (at most
	// max), so that after a cut its quoting can be worked out. Copying is
	// cheaper than following the quoting of every record as it passes.
	rec []byte
	// line counts the newlines handed out or dropped so far.
	line int64
	// hidden counts the lines dropped after cuts that csv.Reader never saw;
	// its line numbers are behind the file's by that much.
	hidden int64
	// start is the line the current record starts on, 0 until seen. It is
	// only needed for a cut record: csv.Reader reports no position then.
	start       int64
	atLineStart bool
	// tripped marks the current record as cut; skipping means the rest of
	// the cut record has yet to be dropped.
	tripped  bool
	skipping bool
}

func newRecordGuard(r io.Reader, maxRecord int) (*recordGuard, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := skipBOM(br); err != nil {
		return nil, err
	}
	return &recordGuard{br: br, max: maxRecord, atLineStart: true}, nil
}

// reset starts a new record; csv.Reader has consumed every byte handed out.
// It drops what is left of a cut record first.
func (g *recordGuard) reset() error {
	if g.skipping {
		if err := g.dropRecord(); err != nil {
			return err
		}
		g.skipping = false
	}
	g.n, g.start, g.tripped, g.rec = 0, 0, false, g.rec[:0]
	return nil
}

func (g *recordGuard) Read(p []byte) (int, error) {
	if b, err := g.br.Peek(1); len(b) == 0 {
		return 0, err
	}
	if g.n >= g.max {
		g.tripped, g.skipping = true, true
		return 0, errRecordTooLong
	}
	if g.atLineStart && g.start == 0 && !g.emptyLineAhead() {
		g.start = g.line + 1
	}
	b, _ := g.br.Peek(g.br.Buffered())
	b = b[:min(len(b), len(p), g.max-g.n)]
	g.atLineStart = false
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
		g.line++
		g.atLineStart = true
	}
	n := copy(p, b)
	_, _ = g.br.Discard(n) // cannot fail: the bytes are buffered
	if g.start != 0 {
		// Blank lines before the record are skipped by csv.Reader
		// without being kept, so they do not count toward the bound.
		g.n += n
		if len(g.rec)+n > max(cap(g.rec), 64<<10) {
			// A record this long may well reach the bound: grow
			// there in one step rather than through a series of copies.
			g.rec = slices.Grow(g.rec, g.max-len(g.rec))
		}
		g.rec = append(g.rec, b[:n]...)
	}
	return n, nil
}

// emptyLineAhead mirrors csv.Reader's rule for the blank lines it skips
// between records ("\n", "\r\n", or a lone "\r" at the end of the file), so
// that start lands on the line csv.Reader would report.
func (g *recordGuard) emptyLineAhead() bool {
	b, _ := g.br.Peek(2)
	return len(b) > 0 && (b[0] == '\n' || b[0] == '\r' && (len(b) == 1 || b[1] == '\n'))
}

// dropRecord discards the rest of a cut record, up to the end of the file
// if a quote is never closed.
func (g *recordGuard) dropRecord() error {
	// The cut record cannot have ended in the part csv.Reader saw, or
	// csv.Reader would not have asked for more; scan holds where it stands.
	var scan recordScan
	scan.feed(g.rec)
	var newlines int64
	defer func() {
		g.line += newlines
		// csv.Reader counted the line it was cut in; the others it
		// never saw.
		g.hidden += max(newlines-1, 0)
	}()
	for {
		b, err := g.br.Peek(1)
		if len(b) == 0 {
			if err == io.EOF {
				return nil
			}
			return err
		}
		b, _ = g.br.Peek(g.br.Buffered())
		end := scan.feed(b)
		if end >= 0 {
			b = b[:end]
		}
		newlines += int64(bytes.Count(b, []byte{'\n'}))
		_, _ = g.br.Discard(len(b))
		if end >= 0 {
			g.atLineStart = true
			return nil
		}
	}
}

// recordScan follows encoding/csv's rules for where a record ends, for the
// settings openCSV uses (comma-separated, strict quotes, no comments, no
// space trimming): a newline ends the record unless it is inside a quoted
// cell, and after a quoting error the record ends with the line. FuzzCSV
// checks it against csv.Reader itself.
type recordScan uint8

const (
	scanFieldStart recordScan = iota
	scanUnquoted              // in a cell that did not start with a quote
	scanQuoted                // inside a quoted cell
	scanAfterQuote            // just after a quote inside a quoted cell
	scanBadLine               // after a quoting error: the line is lost
)

// feed advances over b and returns the index just past the newline that
// ends the record, or -1 if the record goes on past b.
func (s *recordScan) feed(b []byte) int {
	st := *s
	for i, c := range b {
		switch st {
		case scanFieldStart:
			switch c {
			case '"':
				st = scanQuoted
			case ',':
			case '\n':
				*s = scanFieldStart
				return i + 1
			default:
				st = scanUnquoted
			}
		case scanUnquoted:
			switch c {
			case '"':
				st = scanBadLine
			case ',':
				st = scanFieldStart
			case '\n':
				*s = scanFieldStart
				return i + 1
			}
		case scanQuoted:
			if c == '"' {
				st = scanAfterQuote
			}
		case scanAfterQuote:
			switch c {
			case '"':
				st = scanQuoted
			case ',':
				st = scanFieldStart
			case '\n':
				*s = scanFieldStart
				return i + 1
			default:
				// csv.Reader accepts `"\r\n` as the end of the
				// record; any other byte after a closing quote is an
				// error. Either way the record ends with the line.
				st = scanBadLine
			}
		case scanBadLine:
			if c == '\n' {
				*s = scanFieldStart
				return i + 1
			}
		}
	}
	*s = st
	return -1
}
