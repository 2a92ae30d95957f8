package input

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Shard is one of Count disjoint parts of an input, so that a big input can
// be split across processes (the pods of a Kubernetes Indexed Job) without a
// scheduler of our own. Index counts from 0, as JOB_COMPLETION_INDEX does.
// The zero Shard, and any shard of 1, takes every row.
//
// A *Shard is a flag.Value: "I/N".
type Shard struct {
	Index, Count int
}

// ParseShard reads "I/N": shard I of N, with 0 ≤ I < N. The empty string is
// the whole input.
func ParseShard(spec string) (Shard, error) {
	if spec == "" {
		return Shard{}, nil
	}
	i, n, ok := strings.Cut(spec, "/")
	index, err1 := atoi(i)
	count, err2 := atoi(n)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("shard %q: want I/N, e.g. 0/4 for the first of four shards", spec)
	case count < 1:
		return Shard{}, fmt.Errorf("shard %q: want at least 1 shard", spec)
	case index >= count:
		return Shard{}, fmt.Errorf("shard %q: shards count from 0, so shard %d of %d does not exist (want 0 to %d)", spec, index, count, count-1)
	}
	return Shard{Index: index, Count: count}, nil
}

// atoi accepts plain decimal digits only: a sign or a space in a shard spec
// is a typo, not a number.
func atoi(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a number")
	}
	return strconv.Atoi(s)
}

// String returns "I/N", or "" for the whole input.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Set parses spec into s, for flag.Value.
func (s *Shard) Set(spec string) error {
	v, err := ParseShard(spec)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Whole reports whether s takes every row.
func (s Shard) Whole() bool { return s.Count <= 1 }

// Owns reports whether row falls into shard s.
//
// A valid row goes by its Key, the hash of its target, so a duplicate lands
// in the same shard as its original and is still caught there. An invalid
// row has no reliable target (its fields may be garbage), so it goes by its
// line number instead; either way every row falls into exactly one shard.
func (s Shard) Owns(row Row) bool {
	if s.Whole() {
		return true
	}
	return int(shardHash(row)%uint64(s.Count)) == s.Index
}

// shardHash must never change: resuming a sharded run with a newer build
// relies on every row still falling into the shard it fell into before.
func shardHash(row Row) uint64 {
	if row.Invalid != "" {
		var b [10]byte
		copy(b[:], "l\x00")
		binary.BigEndian.PutUint64(b[2:], uint64(row.Line))
		sum := sha256.Sum256(b[:])
		return binary.BigEndian.Uint64(sum[:8])
	}
	k := row.Key()
	return binary.BigEndian.Uint64(k[:8])
}

// ShardReader yields only the rows of one shard of a Reader, with their
// line numbers in the whole input.
type ShardReader struct {
	rows  *Reader
	shard Shard
}

// NewShardReader filters rows down to shard s.
func NewShardReader(rows *Reader, s Shard) *ShardReader {
	return &ShardReader{rows: rows, shard: s}
}

// Next returns the next row of the shard, or io.EOF after the last one.
func (r *ShardReader) Next() (Row, error) {
	for {
		row, err := r.rows.Next()
		if err != nil || r.shard.Owns(row) {
			return row, err
		}
	}
}

// CountShard returns the number of rows of shard s that Next would yield for
// the same bytes, for progress totals. For the whole input it is Count;
// otherwise every row must be parsed to be placed, which costs more.
func CountShard(r io.Reader, f Format, s Shard) (int64, error) {
	return ShardLines(r, f, s, Options{}, nil)
}

// ShardLines is CountShard under Options o, and calls each, if not nil,
// with the line of every row of the shard, in order (a line fanned out over
// several applications once for each): the lines an outcome file of this
// shard may hold, and the only ones.
func ShardLines(r io.Reader, f Format, s Shard, o Options, each func(line int64)) (int64, error) {
	rows, _, err := Survey(r, f, s, o, each)
	return rows, err
}

// Survey is ShardLines that also returns the number of empty CSV records
// in the whole input (see Reader.EmptyRows). It is the look at the input
// before a run, so it also refuses a JSONL input that lacks a column o
// needs.
func Survey(r io.Reader, f Format, s Shard, o Options, each func(line int64)) (rows, empty int64, err error) {
	if s.Whole() && o.plain() {
		return count(r, f, MaxRecordLen, each)
	}
	rd, err := OpenOptions(r, f, o)
	if err != nil {
		return 0, 0, err
	}
	var all int64
	for {
		row, err := rd.Next()
		switch {
		case errors.Is(err, io.EOF):
			return rows, rd.EmptyRows(), rd.missing(all)
		case err != nil:
			return rows, rd.EmptyRows(), err
		}
		all++
		if s.Owns(row) {
			rows++
			if each != nil {
				each(row.Line)
			}
		}
	}
}
