package audit

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// rawLines walks the physical lines of the input (the same bytes the parser
// reads, counted by '\n' as the parser counts lines), so that rows can be
// copied out byte for byte: a CSV record that spans lines is copied whole,
// with its quotes and line ends as they were.
type rawLines struct {
	r    *bufio.Reader
	line int64 // the number of the next line to read
	eof  bool
	// blank holds the blank lines read since the last copied line: they
	// are copied only if a line of the same record follows.
	blank []byte
}

func newRawLines(r io.Reader) *rawLines {
	return &rawLines{r: bufio.NewReaderSize(r, 256<<10), line: 1}
}

// copyRange copies lines [from, to) to w (to < 0: to the end of the file),
// or skips them when w is nil. Blank lines at the end of the range lie
// between records, not in one, and are not copied. from must not be before
// the next unread line.
func (l *rawLines) copyRange(w io.Writer, from, to int64) error {
	l.blank = l.blank[:0]
	for !l.eof && (to < 0 || l.line < to) {
		copyIt := w != nil && l.line >= from
		var line []byte
		for {
			chunk, err := l.r.ReadSlice('\n')
			if copyIt {
				line = append(line, chunk...)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				l.eof = true
				break
			}
			if err != nil {
				return err
			}
			break
		}
		l.line++
		if !copyIt || len(line) == 0 {
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			l.blank = append(l.blank, line...)
			continue
		}
		if len(l.blank) > 0 {
			if _, err := w.Write(l.blank); err != nil {
				return err
			}
			l.blank = l.blank[:0]
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}
