package input

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// jsonlReader reads one JSON object per line. Lines that fit its buffer are
// parsed in place; longer ones are gathered in long, but never beyond the
// line bound: a longer line is skipped and reported instead of read, so a
// line never costs more memory than the bound.
type jsonlReader struct {
	br   *bufio.Reader
	long []byte
	max  int
	line int64
	cols *columns
	// present marks the fields some object so far has given a key for.
	present [numFields]bool
}

func openJSONL(r io.Reader, maxLine int, cols *columns) (*jsonlReader, error) {
	// Typical lines are read in place from this buffer. Under a small bound
	// it leaves room for the line ending, so that a line of exactly maxLine
	// bytes still fits whether it ends in "\n" or "\r\n".
	br := bufio.NewReaderSize(r, min(maxLine+2, 64<<10))
	if err := skipBOM(br); err != nil {
		return nil, fmt.Errorf("read jsonl input: %w", err)
	}
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if err == io.EOF || err == bufio.ErrBufferFull {
				break
			}
			return nil, fmt.Errorf("read jsonl input: %w", err)
		}
		c := b[n-1]
		if isJSONSpace(c) {
			continue
		}
		if c == '[' {
			return nil, errors.New("input is a JSON array, not JSON Lines: put one object per line (jq -c '.[]' converts it)")
		}
		break
	}
	return &jsonlReader{br: br, max: maxLine, cols: cols}, nil
}

// readLine returns the next physical line without its line ending. A line
// longer than the bound is skipped to its end and reported as tooLong, with
// nothing of it returned, unless it is only whitespace: then it comes back
// empty, a blank line like any other. The line is valid until the next call.
func (j *jsonlReader) readLine() (line []byte, tooLong bool, err error) {
	b, err := j.br.ReadSlice('\n')
	blank := true
	if err == bufio.ErrBufferFull {
		if j.long == nil {
			// Once, at its largest: the bound, a line ending and one
			// buffer's worth past them.
			j.long = make([]byte, 0, j.max+3+j.br.Size())
		}
		j.long = append(j.long[:0], b...)
		blank = isBlank(b)
		for err == bufio.ErrBufferFull {
			b, err = j.br.ReadSlice('\n')
			blank = blank && isBlank(b)
			// Gather a little past the bound, enough to tell the line is
			// over it even once its line ending is trimmed, and no more.
			if len(j.long) <= j.max+2 {
				j.long = append(j.long, b...)
			}
		}
		b = j.long
	}
	switch {
	case err == io.EOF && len(b) == 0:
		return nil, false, io.EOF
	case err != nil && err != io.EOF:
		return nil, false, fmt.Errorf("read jsonl input: %w", err)
	}
	j.line++
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) > j.max {
		if blank && isBlank(b) {
			return nil, false, nil
		}
		return nil, true, nil
	}
	return b, false, nil
}

// next returns the next row, unchecked when it is not broken (Reader.Next
// checks it), or io.EOF.
func (j *jsonlReader) next() (Row, string, error) {
	for {
		b, tooLong, err := j.readLine()
		switch {
		case err != nil:
			return Row{}, "", err
		case tooLong:
			return Row{Line: j.line, Invalid: "line longer than " + sizeText(j.max)}, "", nil
		case isBlank(b):
			continue
		}
		row, extra := parseObject(b, j.line, j.cols, &j.present)
		return row, extra, nil
	}
}

// skip is next without the parsing, for Count: it returns the row's line.
func (j *jsonlReader) skip() (int64, error) {
	for {
		b, tooLong, err := j.readLine()
		if err != nil {
			return 0, err
		}
		if tooLong || !isBlank(b) {
			return j.line, nil
		}
	}
}

func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if !isJSONSpace(c) {
			return false
		}
	}
	return true
}

// parseObject turns one line into a Row.
//
// The line is checked with json.Valid first and then walked by hand rather
// than unmarshalled into a struct or a map: the walk can see a key given
// twice (encoding/json keeps the last one silently, and two spellings of the
// token in one object must not be resolved by a guess), it can say which
// field has the wrong type, and it allocates only the strings it keeps.
// Because the line is known to be valid JSON, the walk needs no error paths.
//
// The row comes back unchecked unless broken; extra is a reason found on the
// way that overrides whatever the check finds. present collects the fields
// whose keys the object gives.
func parseObject(b []byte, line int64, cols *columns, present *[numFields]bool) (row Row, extra string) {
	row = Row{Line: line}
	if !json.Valid(b) {
		row.Invalid = syntaxReason(b)
		return row, ""
	}
	// encoding/json would silently turn invalid UTF-8 into U+FFFD, which
	// would then pass as a user name.
	if !utf8.Valid(b) {
		row.Invalid = "line is not valid UTF-8"
		return row, ""
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		row.Invalid = "expected a JSON object, got " + jsonKind(b[i])
		return row, ""
	}
	var given [numFields]bool
	var reason string
	i = skipSpace(b, i+1)
	for b[i] != '}' {
		k := i
		i = skipString(b, i)
		key := b[k:i]
		i = skipSpace(b, i)
		i = skipSpace(b, i+1) // past ':'
		v := i
		i = skipValue(b, i)
		val := b[v:i]
		if f := cols.fieldOf(jsonString(key)); f != noField {
			present[f] = true
			switch {
			case given[f]:
				if reason == "" {
					reason = fmt.Sprintf("field %s given more than once", fieldNames[f])
				}
			case val[0] == '"':
				setField(&row, f, trimValue(string(jsonString(val))))
			case val[0] == 'n':
				// null is an absent value, like an empty CSV cell.
			default:
				if reason == "" {
					reason = fmt.Sprintf("field %s: expected a string, got %s", fieldNames[f], jsonKind(val[0]))
				}
			}
			given[f] = true
		}
		i = skipSpace(b, i)
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return row, reason
}

// syntaxReason describes invalid JSON by position only: encoding/json's own
// message quotes the offending character, which may be part of a token.
func syntaxReason(b []byte) string {
	var v struct{}
	var se *json.SyntaxError
	if err := json.Unmarshal(b, &v); errors.As(err, &se) {
		if se.Offset >= int64(len(b)) {
			return "line is not valid JSON: it ends before the value is complete"
		}
		return fmt.Sprintf("line is not valid JSON: unexpected character at column %d", se.Offset)
	}
	return "line is not valid JSON"
}

func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string literal at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just past the JSON value at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && !isJSONSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return i
}

// jsonString returns the contents of a valid string literal, unescaped.
// Escapes are rare in this input, so only they pay for encoding/json.
func jsonString(lit []byte) []byte {
	if bytes.IndexByte(lit, '\\') < 0 {
		return lit[1 : len(lit)-1]
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil // unreachable: lit comes from a line json.Valid accepted
	}
	return []byte(s)
}
