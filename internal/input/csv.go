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
	// empty counts the records of empty cells passed over.
	empty int64
}

func openCSV(r io.Reader, maxRecord int, cols *columns) (*csvReader, error) {
	g, err := newRecordGuard(r, maxRecord)
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	cr := newCSVReader(g)
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

	// The normalizer is this Unmarshaller's own: gocsv's process-wide
	// one (SetHeaderNormalizer) is never set, so nothing outside this
	// package changes how headers are read, nor this package anything
	// outside it.
	var names []string
	err = um.RenormalizeHeaders(func(headers []string) []string {
		names = slices.Clone(headers)
		out := make([]string, len(headers))
		for i, h := range headers {
			if f := cols.fieldOf([]byte(h)); f != noField {
				out[i] = csvTags[f]
			}
		}
		return out
	})
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	var present [numFields]bool
	for _, tag := range um.Headers {
		present[tagField(tag)] = true
	}
	if err := cols.require(present, "the header's cells: "+describeCells(names)); err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
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
			// Quoting these names is safe: they matched a column name.
			return nil, fmt.Errorf("csv header: columns %d (%q) and %d (%q) both give %s; keep one, or name it with %s",
				j+1, names[j], i+1, names[i], fieldNames[f], columnFlagOf(f))
		}
		c.cols[f] = i
	}
	return c, nil
}

func columnFlagOf(f field) string {
	if columnFlags[f] == "" {
		return "a column flag"
	}
	return columnFlags[f]
}

// newCSVReader reads records out of the guard with the settings recordScan
// mirrors.
func newCSVReader(g *recordGuard) *csv.Reader {
	cr := csv.NewReader(g)
	// Records may be shorter or longer than the header: shorter ones lack
	// trailing cells, longer ones are reported per row, not for the file.
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	// TrimLeadingSpace stays off: cells are trimmed afterwards anyway, and
	// recordScan mirrors csv.Reader's record boundaries only without it.
	return cr
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
//
// A quote left open to the end of the file would make one record of every
// line after it. Such a record is read as ending with the line its quote
// was opened on, and reading starts again on the next line, so that every
// later line gets a row of its own. Whether a quote is ever closed is known
// only at the end of the file, so the lines after it are read twice: from
// the record's own bytes, which the guard keeps anyway while the record is
// within the bound, or past the bound by seeking back in the input. A
// multi-line quoted cell that is closed stays one record. Once a quote is
// found open at the end, no later record can span lines and also reach the
// end open (at every later line break, the open quote and the later record
// cannot both be inside a quoted cell), so this happens at most once per
// file that matters, and the second read costs at most one more pass.
func (c *csvReader) record() (rec []string, line int64, broken string, err error) {
	if c.done {
		return nil, 0, "", io.EOF
	}
	g := c.guard
	g.reset()
	rec, err = c.cr.Read()
	if g.tripped {
		d, err := g.dropRecord()
		if err != nil {
			return nil, 0, "", fmt.Errorf("read csv input: %w", err)
		}
		if !d.unclosed {
			if d.blank && blankBytes(g.rec) {
				// A record of empty cells past the bound is still
				// empty, as it is within it: no row.
				return []string{""}, g.start, "", nil
			}
			return nil, g.start, tooLongReason(g.start, d.last, g.max), nil
		}
		if d.last == d.open.line {
			// The quote was opened on the last line: nothing follows.
			c.done = true
			return nil, g.start, unclosedReason(g.start, d.open.line), nil
		}
		if g.seeker == nil {
			// Nothing of the lines past the bound is left to read again.
			c.done = true
			return nil, g.start, fmt.Sprintf("%s; the record passed %s, and the input cannot be read again (it is not a file), so lines %d-%d are lost",
				unclosedReason(g.start, d.open.line), sizeText(g.max), d.open.line+1, d.last), nil
		}
		if err := c.restart(d.open); err != nil {
			return nil, 0, "", fmt.Errorf("read csv input: %w", err)
		}
		return nil, g.start, unclosedReason(g.start, d.open.line), nil
	}
	if err == nil {
		l, _ := c.cr.FieldPos(0)
		return rec, int64(l) + g.hidden, "", nil
	}
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		if open, ok := g.openAtEnd(); ok {
			if err := c.restart(open); err != nil {
				return nil, 0, "", fmt.Errorf("read csv input: %w", err)
			}
			return nil, g.start, unclosedReason(g.start, open.line), nil
		}
		return nil, int64(pe.StartLine) + g.hidden, parseReason(pe, g.hidden), nil
	}
	if err == io.EOF {
		c.done = true
		return nil, 0, "", io.EOF
	}
	return nil, 0, "", fmt.Errorf("read csv input: %w", err)
}

// restart goes back to the line after the one a quote was left open on,
// with a fresh csv.Reader: the old one is past the end of the file.
func (c *csvReader) restart(open openQuote) error {
	if open.next < 0 {
		// The quote was opened on the last line: nothing follows.
		c.done = true
		return nil
	}
	if err := c.guard.rewind(open); err != nil {
		return err
	}
	c.cr = newCSVReader(c.guard)
	return nil
}

// unclosedReason names the line of the quote left open and, when the
// record began on an earlier line, the record's span.
func unclosedReason(start, open int64) string {
	if start == open {
		return fmt.Sprintf("unclosed quote opened on line %d", open)
	}
	return fmt.Sprintf("record spanning lines %d-%d: unclosed quote opened on line %d", start, open, open)
}

func tooLongReason(start, last int64, max int) string {
	if last > start {
		return fmt.Sprintf("record spanning lines %d-%d longer than %s: a huge quoted cell", start, last, sizeText(max))
	}
	return fmt.Sprintf("record longer than %s", sizeText(max))
}

// parseReason explains a record encoding/csv could not parse. csv.Reader
// has already dropped the rest of the line it failed on and starts the next
// record on the following line.
func parseReason(pe *csv.ParseError, hidden int64) string {
	if pe.Line > pe.StartLine {
		start, end := int64(pe.StartLine)+hidden, int64(pe.Line)+hidden
		return fmt.Sprintf("malformed CSV record spanning lines %d-%d: %v (line %d, column %d); is a quote left open?",
			start, end, pe.Err, end, pe.Column)
	}
	return fmt.Sprintf("malformed CSV record: %v (column %d)", pe.Err, pe.Column)
}

// next returns the next row, unchecked when it is not broken (Reader.Next
// checks it), or io.EOF. A record whose cells are all empty once trimmed
// (",,", as spreadsheets end their exports) is no row, like a blank line:
// it is counted in empty.
func (c *csvReader) next() (row Row, extra string, err error) {
	for {
		rec, line, broken, err := c.record()
		if err != nil {
			return Row{}, "", err
		}
		row := Row{Line: line}
		if broken != "" {
			row.Invalid = broken
			return row, "", nil
		}
		if emptyRecord(rec) {
			c.empty++
			continue
		}
		for f, i := range c.cols {
			if i >= 0 && i < len(rec) {
				setField(&row, field(f), trimValue(rec[i]))
			}
		}
		if len(rec) > c.width {
			extra = fmt.Sprintf("record has %d fields, the header has %d", len(rec), c.width)
		}
		return row, extra, nil
	}
}

// skip moves past the next row without building it, as next would, and
// returns the line it starts on.
func (c *csvReader) skip() (int64, error) {
	for {
		rec, line, broken, err := c.record()
		if err != nil || broken != "" || !emptyRecord(rec) {
			return line, err
		}
		c.empty++
	}
}

// emptyRecord reports whether every cell of rec is empty once trimmed.
func emptyRecord(rec []string) bool {
	for _, cell := range rec {
		if trimValue(cell) != "" {
			return false
		}
	}
	return true
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
// huge quoted cell never turn into rows of their own. When the rest of the
// record turns out to be a quote left open to the end of the file, it goes
// back to the line after that quote's (see csvReader.record).
type recordGuard struct {
	br  *bufio.Reader
	max int
	// src counts what br has read, for offsets; seeker is the input when
	// it can seek, nil when it cannot.
	src    *countingReader
	seeker io.Seeker
	// n counts the bytes of the current record handed out, from its first
	// non-blank line.
	n int
	// rec keeps the bytes of the current record handed out so far (at most
	// max), so that after a cut or an error its quoting can be worked out.
	// Copying is cheaper than following the quoting of every record as it
	// passes. recOff is the input offset of rec[0].
	rec    []byte
	recOff int64
	// line counts the newlines handed out or dropped so far.
	line int64
	// hidden is how far csv.Reader's line numbers are behind the file's:
	// the lines dropped after cuts that it never saw, and the lines before
	// the point it was started at.
	hidden int64
	// start is the line the current record starts on, 0 until seen.
	start       int64
	atLineStart bool
	// tripped marks the current record as cut.
	tripped bool
}

// countingReader counts the bytes read through it; base is the input offset
// it started at.
type countingReader struct {
	r       io.Reader
	base, n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func newRecordGuard(r io.Reader, maxRecord int) (*recordGuard, error) {
	src := &countingReader{r: r}
	var seeker io.Seeker
	if s, ok := r.(io.Seeker); ok {
		// A pipe may be an *os.File too: only a Seek that works counts.
		if pos, err := s.Seek(0, io.SeekCurrent); err == nil {
			seeker, src.base = s, pos
		}
	}
	br := bufio.NewReaderSize(src, 64<<10)
	if err := skipBOM(br); err != nil {
		return nil, err
	}
	return &recordGuard{br: br, max: maxRecord, src: src, seeker: seeker, atLineStart: true}, nil
}

// offset is the input offset of the next byte br hands out.
func (g *recordGuard) offset() int64 {
	return g.src.base + g.src.n - int64(g.br.Buffered())
}

// reset starts a new record; csv.Reader has consumed every byte handed out.
func (g *recordGuard) reset() {
	g.n, g.start, g.tripped, g.rec = 0, 0, false, g.rec[:0]
}

func (g *recordGuard) Read(p []byte) (int, error) {
	if b, err := g.br.Peek(1); len(b) == 0 {
		return 0, err
	}
	if g.n >= g.max {
		g.tripped = true
		return 0, errRecordTooLong
	}
	if g.atLineStart && g.start == 0 && !g.emptyLineAhead() {
		g.start, g.recOff = g.line+1, g.offset()
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

// openQuote is where the quote open at the end of a record was opened.
type openQuote struct {
	// line is the line the quote was opened on.
	line int64
	// next is the input offset of the line after it, -1 if there is none.
	next int64
}

// quoteTrack follows a record's quoting, as recordScan does, and remembers
// where the quote open now was opened.
type quoteTrack struct {
	scan recordScan
	// line and off are the line and input offset of the next byte fed.
	line, off int64
	open      openQuote
	// awaiting is set from a quote's opening to the end of its line.
	awaiting bool
	// newline is set when the last byte fed was a newline.
	newline bool
}

// lastLine is the line of the last byte fed.
func (q *quoteTrack) lastLine() int64 {
	if q.newline {
		return q.line - 1
	}
	return q.line
}

func newQuoteTrack(line, off int64) *quoteTrack {
	return &quoteTrack{line: line, off: off, open: openQuote{next: -1}}
}

// feed advances over b and returns the index just past the newline that
// ends the record, or -1 if the record goes on past b.
func (q *quoteTrack) feed(b []byte) int {
	for i, c := range b {
		opens := q.scan == scanFieldStart && c == '"'
		end := q.scan.step(c)
		if opens {
			q.open, q.awaiting = openQuote{line: q.line, next: -1}, true
		}
		q.newline = c == '\n'
		if c == '\n' {
			if q.awaiting {
				q.open.next, q.awaiting = q.off+int64(i)+1, false
			}
			if !end {
				q.line++
			}
		}
		if end {
			q.off += int64(i) + 1
			return i + 1
		}
	}
	q.off += int64(len(b))
	return -1
}

// openAtEnd reports whether the record csv.Reader just failed on is a quote
// left open to the end of the input, and where it was opened. The record is
// then whole in rec: it never reached the bound.
func (g *recordGuard) openAtEnd() (openQuote, bool) {
	q := newQuoteTrack(g.start, g.recOff)
	if q.feed(g.rec) >= 0 || q.scan != scanQuoted {
		return openQuote{}, false
	}
	return q.open, true
}

// dropped is what dropRecord found of a cut record.
type dropped struct {
	// last is the line the record ends on.
	last int64
	// unclosed is set when the record is a quote left open to the end of
	// the input; open says where.
	unclosed bool
	open     openQuote
	// blank is set when the part of the record dropped holds only the
	// bytes of empty cells: spaces, tabs, commas and line ends.
	blank bool
}

// blankBytes reports whether b holds only the bytes of empty, unquoted
// cells.
func blankBytes(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', ',', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// dropRecord discards the rest of a cut record, up to the end of the file
// if a quote is never closed.
func (g *recordGuard) dropRecord() (dropped, error) {
	// The cut record cannot have ended in the part csv.Reader saw, or
	// csv.Reader would not have asked for more; q holds where it stands.
	q := newQuoteTrack(g.start, g.recOff)
	q.feed(g.rec)
	var newlines int64
	blank := true
	defer func() {
		g.line += newlines
		// csv.Reader counted the line it was cut in; the others it
		// never saw.
		g.hidden += max(newlines-1, 0)
	}()
	for {
		b, err := g.br.Peek(1)
		if len(b) == 0 {
			if err != io.EOF {
				return dropped{}, err
			}
			return dropped{last: q.lastLine(), unclosed: q.scan == scanQuoted, open: q.open, blank: blank}, nil
		}
		b, _ = g.br.Peek(g.br.Buffered())
		end := q.feed(b)
		if end >= 0 {
			b = b[:end]
		}
		newlines += int64(bytes.Count(b, []byte{'\n'}))
		blank = blank && blankBytes(b)
		_, _ = g.br.Discard(len(b))
		if end >= 0 {
			g.atLineStart = true
			return dropped{last: q.line, blank: blank}, nil
		}
	}
}

// rewind goes back to the line after an open quote's: by seeking, or, when
// the input cannot seek, by reading that part of the record's own bytes
// again, which are whole in rec (the record ended within the bound).
func (g *recordGuard) rewind(open openQuote) error {
	if g.seeker != nil {
		if _, err := g.seeker.Seek(open.next, io.SeekStart); err != nil {
			return err
		}
		g.src.base, g.src.n = open.next, 0
		g.br.Reset(g.src)
	} else {
		rest := bytes.Clone(g.rec[open.next-g.recOff:])
		g.src = &countingReader{r: bytes.NewReader(rest), base: open.next}
		g.br = bufio.NewReaderSize(g.src, 64<<10)
	}
	g.line, g.hidden, g.atLineStart = open.line, open.line, true
	return nil
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

// step advances over c and reports whether c is the newline that ends the
// record; the scan is then back at the start of a record.
func (s *recordScan) step(c byte) bool {
	switch *s {
	case scanFieldStart:
		switch c {
		case '"':
			*s = scanQuoted
		case ',':
		case '\n':
			return true
		default:
			*s = scanUnquoted
		}
	case scanUnquoted:
		switch c {
		case '"':
			*s = scanBadLine
		case ',':
			*s = scanFieldStart
		case '\n':
			*s = scanFieldStart
			return true
		}
	case scanQuoted:
		if c == '"' {
			*s = scanAfterQuote
		}
	case scanAfterQuote:
		switch c {
		case '"':
			*s = scanQuoted
		case ',':
			*s = scanFieldStart
		case '\n':
			*s = scanFieldStart
			return true
		default:
			// csv.Reader accepts `"\r\n` as the end of the
			// record; any other byte after a closing quote is an
			// error. Either way the record ends with the line.
			*s = scanBadLine
		}
	case scanBadLine:
		if c == '\n' {
			*s = scanFieldStart
			return true
		}
	}
	return false
}
