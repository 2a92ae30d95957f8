package input

import (
	"errors"
	"fmt"
	"strings"
)

// RowKind says which columns a row is read from (--row-kind).
type RowKind string

const (
	// RowAuto reads every known column: a row with a token is a token
	// row, one with a user a user row, one with both is invalid.
	RowAuto RowKind = "auto"
	// RowToken reads only the token column: user and consumerKey columns
	// beside it are context, as in breach exports
	// (access_token,user,client_id,last_seen).
	RowToken RowKind = "token"
	// RowUser reads only the user and consumerKey columns.
	RowUser RowKind = "user"
)

// ParseRowKind reads --row-kind; "" is RowAuto.
func ParseRowKind(s string) (RowKind, error) {
	switch k := RowKind(s); k {
	case "":
		return RowAuto, nil
	case RowAuto, RowToken, RowUser:
		return k, nil
	}
	return "", fmt.Errorf("--row-kind %q: want auto, token or user", s)
}

// Options change how rows are read. The zero Options read every known
// column under its built-in names, as Open does.
type Options struct {
	// TokenColumn, UserColumn and ConsumerKeyColumn name the column (CSV
	// header cell, JSONL key) holding each field, matched as headers are
	// (see sameName). Given, a name replaces the field's built-in names.
	TokenColumn, UserColumn, ConsumerKeyColumn string
	// RowKind limits the columns read; "" is RowAuto.
	RowKind RowKind
	// ConsumerKeys are the applications of user rows that name none
	// (--consumer-key): such a row gives one row per key, in this order,
	// each with the key set. A row naming its own consumerKey keeps it.
	ConsumerKeys []string
}

// plain reports whether o reads rows exactly as the zero Options do, so
// that counting may skip the parsing.
func (o Options) plain() bool {
	return o.TokenColumn == "" && o.UserColumn == "" && o.ConsumerKeyColumn == "" &&
		(o.RowKind == "" || o.RowKind == RowAuto) && len(o.ConsumerKeys) == 0
}

// columnFlags are the flags that name each field's column, for messages.
var columnFlags = [numFields]string{
	fieldToken:       "--token-column",
	fieldUser:        "--user-column",
	fieldConsumerKey: "--consumer-key-column",
}

// named returns the column name o gives for f, "" for none.
func (o Options) named(f field) string {
	switch f {
	case fieldToken:
		return o.TokenColumn
	case fieldUser:
		return o.UserColumn
	case fieldConsumerKey:
		return o.ConsumerKeyColumn
	}
	return ""
}

// CheckColumnName refuses a column name that no header cell can match: one
// made only of spaces and separators.
func CheckColumnName(name string) error {
	for i := range len(name) {
		if !isSeparator(name[i]) && !isNameSpace(name[i]) {
			return nil
		}
	}
	return errors.New("names no column: want a header cell or JSONL key, such as \"Login ID\"")
}

// CheckConsumerKey refuses a consumer key (--consumer-key, a keys file) that
// is not printable ASCII without spaces: it goes into a query string, and
// anything else is a typo or a damaged file. The reason never quotes it.
func CheckConsumerKey(k string) error {
	if k == "" {
		return errors.New("empty consumer key")
	}
	if len(k) > 512 {
		return errors.New("consumer key longer than 512 bytes")
	}
	for i := range len(k) {
		if c := k[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("consumer key holds a byte that is not printable ASCII without spaces (position %d)", i+1)
		}
	}
	return nil
}

// columns maps column names to fields under some Options.
type columns struct {
	opts Options
	// names lists, for each field, the names that stand for it; empty for
	// a field the row kind does not read.
	names [numFields][]string
	// overridden marks the fields whose names come from Options: they are
	// matched before the built-in names of the others.
	overridden [numFields]bool
}

// defaultColumns are the built-in names, read as Open reads them.
var defaultColumns = newColumns(Options{})

func newColumns(o Options) *columns {
	c := &columns{opts: o}
	for _, a := range aliases {
		c.names[a.field] = append(c.names[a.field], a.name)
	}
	for f := range numFields {
		if n := o.named(f); n != "" {
			c.names[f] = []string{n}
			c.overridden[f] = true
		}
	}
	switch o.RowKind {
	case RowToken:
		c.names[fieldUser], c.names[fieldConsumerKey] = nil, nil
	case RowUser:
		c.names[fieldToken], c.names[fieldTokenTypeHint] = nil, nil
	}
	return c
}

// fieldOf returns the field a column or key name stands for under the
// built-in names, noField if none.
func fieldOf(name []byte) field { return defaultColumns.fieldOf(name) }

// fieldOf returns the field a column or key name stands for, noField if
// none. A name given in Options wins over the built-in names of the others.
func (c *columns) fieldOf(name []byte) field {
	for pass := range 2 {
		for f := range numFields {
			if c.overridden[f] != (pass == 0) {
				continue
			}
			for _, n := range c.names[f] {
				if sameName(name, n) {
					return f
				}
			}
		}
	}
	return noField
}

// sameName reports whether two column names are one name: matching ignores
// ASCII case, surrounding spaces, a byte order mark, and the separators
// space, '_' and '-' anywhere, so "Login ID", "login_id", "LOGIN-ID" and
// "LoginId" are one name. It is ASCII-only on purpose, so that Unicode case
// folding (the Kelvin sign folding to k) cannot turn a stray column into a
// known one. It allocates nothing: JSONL keys go through it on every row.
func sameName(b []byte, s string) bool {
	b = trimName(b)
	i, j := 0, 0
	for {
		for i < len(b) && isSeparator(b[i]) {
			i++
		}
		for j < len(s) && (isSeparator(s[j]) || isNameSpace(s[j])) {
			j++
		}
		if i == len(b) || j == len(s) {
			return i == len(b) && j == len(s)
		}
		if lower(b[i]) != lower(s[j]) {
			return false
		}
		i++
		j++
	}
}

func isSeparator(c byte) bool { return c == ' ' || c == '_' || c == '-' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// require checks that the columns present can give rows under the options:
// present marks the fields found. It is the header check for CSV, and the
// check at the end of the survey for JSONL. found describes what the input
// has instead, for the message.
func (c *columns) require(present [numFields]bool, found string) error {
	for f := range numFields {
		if n := c.opts.named(f); n != "" && !present[f] {
			return fmt.Errorf("%s %q: the input has no such column (%s)", columnFlags[f], n, found)
		}
	}
	keys := present[fieldConsumerKey] || len(c.opts.ConsumerKeys) > 0
	switch c.opts.RowKind {
	case RowToken:
		if !present[fieldToken] {
			return fmt.Errorf("--row-kind token: the input has no token column (%s); want %s, or name it with --token-column", found, tokenColumns)
		}
	case RowUser:
		switch {
		case !present[fieldUser]:
			return fmt.Errorf("--row-kind user: the input has no user column (%s); want %s, or name it with --user-column", found, userColumns)
		case !keys:
			return fmt.Errorf("--row-kind user: the input has no consumerKey column (%s); want %s, name it with --consumer-key-column, or give the applications with --consumer-key or --consumer-keys-file", found, keyColumns)
		}
	default:
		if present[fieldToken] || present[fieldUser] && keys {
			return nil
		}
		if present[fieldUser] {
			return fmt.Errorf("a user column but no consumerKey column (%s): name the applications with --consumer-key or --consumer-keys-file, or their column with --consumer-key-column (built-in names: %s)", found, keyColumns)
		}
		return fmt.Errorf("no usable columns (%s): want %s; is the header line missing? Name the columns with --token-column, --user-column and --consumer-key-column", found, expectedColumns)
	}
	return nil
}

// The built-in names, as messages quote them.
var (
	tokenColumns    = builtIn(fieldToken)
	userColumns     = builtIn(fieldUser)
	keyColumns      = builtIn(fieldConsumerKey)
	expectedColumns = fmt.Sprintf("a token column (%s), or a user column (%s) with a consumerKey column (%s)", tokenColumns, userColumns, keyColumns)
)

func builtIn(f field) string {
	var names []string
	for _, a := range aliases {
		if a.field == f {
			names = append(names, fmt.Sprintf("%q", a.name))
		}
	}
	return strings.Join(names, ", ")
}

// maxShownCells bounds the header cells a refusal lists.
const maxShownCells = 20

// describeCells lists header cells for a refusal. A cell that may be a
// secret (a headerless file's first line may hold a token) is shown as its
// fingerprint; the others are quoted, cut at 40 bytes.
func describeCells(cells []string) string {
	if len(cells) == 0 {
		return "found no header cells"
	}
	var b strings.Builder
	b.WriteString("found ")
	for i, cell := range cells {
		if i == maxShownCells {
			fmt.Fprintf(&b, " and %d more", len(cells)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(describeCell(cell))
	}
	return b.String()
}

func describeCell(cell string) string {
	v := string(trimName([]byte(cell)))
	if mayBeSecret(v) {
		return Fingerprint(v) + " (not shown: it may be a token)"
	}
	if len(v) > 40 {
		// Cut on a rune boundary; the cell is not a secret.
		cut := 40
		for cut > 0 && v[cut]&0xC0 == 0x80 {
			cut--
		}
		return fmt.Sprintf("%q…", v[:cut])
	}
	return fmt.Sprintf("%q", v)
}

// mayBeSecret reports whether a header cell looks like a token rather than
// a column name: 20 bytes or more without a space, or any byte that is not
// printable ASCII (no column name holds a control character; a damaged
// token may).
func mayBeSecret(v string) bool {
	if len(v) >= 20 && !strings.ContainsAny(v, " \t") {
		return true
	}
	for i := range len(v) {
		if c := v[i]; c < ' ' || c == 0x7F {
			return true
		}
	}
	return false
}
