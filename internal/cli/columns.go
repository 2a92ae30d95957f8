package cli

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// How rows are read from INPUT: which columns, which kind, and the
// applications of user rows that name none (--consumer-key).

// layers counts the settings layers applied so far (job file, environment,
// command line), so that a list flag given in a higher layer replaces the
// lower layer's list instead of adding to it.
type layers struct{ n int }

// listFlag is a repeatable flag whose values may also be comma-separated:
// --consumer-key a --consumer-key b,c is a, b, c. Within one layer values
// add up; a higher layer replaces the list.
type listFlag struct {
	values []string
	layers *layers
	layer  int
}

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.values, ",")
}

func (l *listFlag) Set(v string) error {
	if l.layer != l.layers.n {
		l.values, l.layer = nil, l.layers.n
	}
	for _, k := range strings.Split(v, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		l.values = append(l.values, k)
	}
	return nil
}

// addColumnFlags declares the flags that say how rows are read.
func addColumnFlags(fs *flag.FlagSet, cfg *Config, raw *flagValues) {
	raw.consumerKeys = &listFlag{layers: &raw.layers}
	fs.Var(raw.consumerKeys, "consumer-key", "the application(s) `KEY` for user rows that name none: each such row is revoked once for each; repeatable, or comma-separated (a row naming its own consumerKey keeps it)")
	fs.StringVar(&raw.consumerKeysFile, "consumer-keys-file", "", "as --consumer-key, one key a line from `PATH`; # starts a comment")
	fs.StringVar(&cfg.Rows.TokenColumn, "token-column", "", "the column (CSV header cell, or JSONL key) `NAME` that holds the token, matched as headers are; replaces the built-in names")
	fs.StringVar(&cfg.Rows.UserColumn, "user-column", "", "the column `NAME` that holds the user's login ID; replaces the built-in names")
	fs.StringVar(&cfg.Rows.ConsumerKeyColumn, "consumer-key-column", "", "the column `NAME` that holds the consumerKey; replaces the built-in names")
	fs.StringVar(&raw.rowKind, "row-kind", string(input.RowAuto), "which columns a row is read from, `auto|token|user`: token reads only the token column (user columns beside it are context), user only user and consumerKey, auto both")
}

// completeRows checks the settings of how rows are read and fills in
// cfg.Rows. Nothing is sent before it succeeds.
func (cfg *Config) completeRows(raw flagValues) error {
	kind, err := input.ParseRowKind(raw.rowKind)
	if err != nil {
		return &usageError{err}
	}
	cfg.Rows.RowKind = kind
	for _, c := range []struct{ flag, name string }{
		{"--token-column", cfg.Rows.TokenColumn},
		{"--user-column", cfg.Rows.UserColumn},
		{"--consumer-key-column", cfg.Rows.ConsumerKeyColumn},
	} {
		if c.name == "" {
			continue
		}
		if err := input.CheckColumnName(c.name); err != nil {
			return usagef("%s %q: %v", c.flag, c.name, err)
		}
	}
	var keys []string
	if raw.consumerKeys != nil {
		for i, k := range raw.consumerKeys.values {
			if err := input.CheckConsumerKey(k); err != nil {
				return usagef("--consumer-key (value %d): %v", i+1, err)
			}
			keys = append(keys, k)
		}
	}
	if raw.consumerKeysFile != "" {
		fileKeys, err := readConsumerKeys(raw.consumerKeysFile)
		if err != nil {
			return &usageError{err}
		}
		keys = append(keys, fileKeys...)
	}
	cfg.Rows.ConsumerKeys = dedupe(keys)
	switch {
	case len(cfg.Rows.ConsumerKeys) > 0 && kind == input.RowToken:
		return usagef("--consumer-key and --row-kind token: token rows name no application; choose one")
	case cfg.Rows.ConsumerKeyColumn != "" && kind == input.RowToken:
		return usagef("--consumer-key-column and --row-kind token: token rows read no consumerKey; choose one")
	case cfg.Rows.UserColumn != "" && kind == input.RowToken:
		return usagef("--user-column and --row-kind token: token rows read no user; choose one")
	case cfg.Rows.TokenColumn != "" && kind == input.RowUser:
		return usagef("--token-column and --row-kind user: user rows read no token; choose one")
	}
	return nil
}

func dedupe(keys []string) []string {
	seen := map[string]bool{}
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// maxKeysFileBytes bounds a consumer keys file: a key is tens of bytes, and
// an organisation has hundreds of applications, not millions.
const maxKeysFileBytes = 1 << 20

// readConsumerKeys reads --consumer-keys-file: a regular file (a symbolic
// link to one is fine), at most maxKeysFileBytes, without blocking on a
// FIFO; one key a line, blank lines and # comments ignored. A file with no
// key is refused: a sweep over no application would revoke nothing.
func readConsumerKeys(path string) ([]string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("--consumer-keys-file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("--consumer-keys-file: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("--consumer-keys-file %s: want a regular file, not %s", path, ownfile.ModeText(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeysFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--consumer-keys-file: %w", err)
	}
	if len(b) > maxKeysFileBytes {
		return nil, fmt.Errorf("--consumer-keys-file %s: larger than %d KiB, which no list of applications is", path, maxKeysFileBytes>>10)
	}
	b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), maxKeysFileBytes+1)
	for line := 1; sc.Scan(); line++ {
		k, _, _ := strings.Cut(sc.Text(), "#")
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if err := input.CheckConsumerKey(k); err != nil {
			return nil, fmt.Errorf("--consumer-keys-file %s: line %d: %v", path, line, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--consumer-keys-file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--consumer-keys-file %s: no consumer key in it (one a line; # starts a comment)", path)
	}
	return keys, nil
}
