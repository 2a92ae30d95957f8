package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Query is one line of lookup's standard input: a token (kept only as its
// fingerprint, the token itself dropped at once) or a user and an
// application.
type Query struct {
	Line        int
	Kind        input.Kind
	Target      string // the token's fingerprint, or the user
	ConsumerKey string
}

// Name is how the query is shown: never the token.
func (q Query) Name() string {
	if q.Kind == input.KindToken {
		return q.Target
	}
	return safe(q.Target) + "," + safe(q.ConsumerKey)
}

func (q Query) key() string { return string(q.Kind) + "\x00" + q.Target + "\x00" + q.ConsumerKey }

// maxQueryLine bounds one line of lookup's input.
const maxQueryLine = 1 << 20

// ParseQueries reads one query a line: `user,consumerKey` when the line
// holds a comma (no token does), else a token. Blank lines are skipped;
// spaces around a value and a CR before the newline are dropped.
func ParseQueries(r io.Reader) ([]Query, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxQueryLine)
	var qs []Query
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if user, key, ok := strings.Cut(line, ","); ok {
			user, key = strings.TrimSpace(user), strings.TrimSpace(key)
			if user == "" || key == "" {
				return nil, fmt.Errorf("standard input line %d: want a token, or user,consumerKey with both parts", n)
			}
			qs = append(qs, Query{Line: n, Kind: input.KindUser, Target: user, ConsumerKey: key})
			continue
		}
		qs = append(qs, Query{Line: n, Kind: input.KindToken, Target: input.Fingerprint(line)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	return qs, nil
}

// Found is an outcome row a query matched.
type Found struct {
	File    string
	Outcome revoke.Outcome
}

// Lookup finds, in every file, every row about each query's target (a
// stopped run's file may hold a line more than once: every record is
// shown, in file order). It reads each file once, streaming.
func Lookup(files []string, qs []Query) ([][]Found, error) {
	index := make(map[string][]int, len(qs))
	for i, q := range qs {
		index[q.key()] = append(index[q.key()], i)
	}
	found := make([][]Found, len(qs))
	for _, path := range files {
		if _, err := journal.FormatOf(path); err != nil {
			return nil, &UsageError{err}
		}
		_, err := journal.Read(path, func(o revoke.Outcome) error {
			k := string(o.Kind) + "\x00" + o.Target + "\x00"
			if o.Kind == input.KindUser {
				k += o.ConsumerKey
			}
			for _, i := range index[k] {
				found[i] = append(found[i], Found{File: path, Outcome: o})
			}
			return nil
		})
		if err != nil {
			return nil, &UsageError{err}
		}
	}
	return found, nil
}

// WriteLookup prints one line per row found, `QUERY<TAB>FILE<TAB>ROW` with
// the row as a CSV outcome file holds it (the header first, once), and
// `QUERY<TAB>no outcome` for a query nothing matched. It returns how many
// queries matched nothing.
func WriteLookup(w io.Writer, qs []Query, found [][]Found) (missing int, err error) {
	var b bytes.Buffer
	b.WriteString("# query\tfile\t")
	if err := journal.EncodeHeader(&b, journal.CSV); err != nil {
		return 0, err
	}
	var row bytes.Buffer
	for i, q := range qs {
		if len(found[i]) == 0 {
			missing++
			fmt.Fprintf(&b, "%s\tno outcome\n", q.Name())
			continue
		}
		for _, f := range found[i] {
			row.Reset()
			if err := journal.EncodeRow(&row, journal.CSV, f.Outcome); err != nil {
				return 0, err
			}
			fmt.Fprintf(&b, "%s\t%s\t%s", q.Name(), safe(f.File), row.Bytes())
		}
	}
	_, err = w.Write(b.Bytes())
	return missing, err
}
