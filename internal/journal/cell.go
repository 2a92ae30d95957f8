package journal

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A CSV outcome file is opened in spreadsheets and printed in terminals, and
// its text cells hold what others wrote: user IDs and consumer keys from the
// input, a server's error words and correlation IDs. So a text cell is
// written as it is only when it is safe both ways; otherwise it is encoded:
//
//   - An encoded cell starts with ' (the neutraliser OWASP recommends
//     against CSV injection): a spreadsheet then shows text, never runs a
//     formula. Every cell that would start with = + - @ TAB CR or ' is
//     encoded, so a leading ' always means "encoded".
//   - In an encoded cell, a control byte (U+0000–U+001F, U+007F) is written
//     \xNN, a C1 control (U+0080–U+009F) or a bidirectional override
//     (U+202A–U+202E, U+2066–U+2069) \uNNNN, and a backslash \\: nothing a
//     terminal acts on is ever written raw. Any cell holding one of these is
//     encoded.
//
// Readers (decodeCell) reverse it exactly, so resume, compaction and reports
// see the value that was recorded. A cell that does not start with ' is
// taken as it is, which is also how files written before this encoding read.

// needsEncoding reports whether s cannot be written as a plain cell.
func needsEncoding(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return true
	}
	for _, r := range s {
		if escaped(r) {
			return true
		}
	}
	return false
}

// escaped reports whether r is never written raw in a CSV cell.
func escaped(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// encodeCell returns s as it is written in a CSV text cell. s is valid
// UTF-8 (Write normalises first).
func encodeCell(s string) string {
	if !needsEncoding(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(hex2(uint32(r)))
		case escaped(r):
			b.WriteString(`\u`)
			b.WriteString(hex4(uint32(r)))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decodeCell reverses encodeCell. A backslash that does not begin one of
// encodeCell's escapes is kept as it is.
func decodeCell(s string) string {
	if s == "" || s[0] != '\'' {
		return s
	}
	s = s[1:]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '\\':
			b.WriteByte('\\')
			i += 2
			continue
		case 'x':
			if v, ok := parseHex(s[i+2:], 2); ok && (v < 0x20 || v == 0x7f) {
				b.WriteByte(byte(v))
				i += 4
				continue
			}
		case 'u':
			if v, ok := parseHex(s[i+2:], 4); ok && v >= 0x80 && escaped(rune(v)) {
				b.WriteRune(rune(v))
				i += 6
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// parseHex reads n lowercase hex digits from the start of s, as hex2 and
// hex4 write them.
func parseHex(s string, n int) (uint32, bool) {
	if len(s) < n {
		return 0, false
	}
	var v uint32
	for i := range n {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func hex2(v uint32) string { return pad(strconv.FormatUint(uint64(v), 16), 2) }
func hex4(v uint32) string { return pad(strconv.FormatUint(uint64(v), 16), 4) }

func pad(s string, n int) string {
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	return s
}

// escapeJSONText rewrites, in an encoded JSON record, the characters that
// encoding/json leaves raw but a terminal may act on (U+007F, the C1
// controls, the bidirectional overrides) as \uNNNN escapes: still plain
// JSON, decoded back to the same text by any JSON reader. Raw non-ASCII
// only appears inside JSON strings, so no structure is touched.
func escapeJSONText(b []byte) []byte {
	if !mayNeedJSONEscape(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == 0x7f || (r >= 0x80 && escaped(r)) {
			out = append(out, `\u`...)
			out = append(out, hex4(uint32(r))...)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// mayNeedJSONEscape reports whether b holds a byte that starts a character
// escapeJSONText escapes: DEL, or the first byte of the UTF-8 encoding of a
// C1 control (0xC2) or of a bidirectional override (0xE2). Bytes, not
// runes: bytes.ContainsAny would compare decoded runes.
func mayNeedJSONEscape(b []byte) bool {
	return bytes.IndexByte(b, 0x7f) >= 0 || bytes.IndexByte(b, 0xc2) >= 0 || bytes.IndexByte(b, 0xe2) >= 0
}
