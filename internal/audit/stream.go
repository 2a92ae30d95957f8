// Package audit reads outcome files after the fact, for the incident
// record: it merges a run's shards, checks that they cover the input, turns
// what is still alive back into an input file, and finds the rows of given
// tokens (bulkrevoke report, bulkrevoke lookup).
//
// Everything streams: a compacted outcome file (what every completed run
// leaves) is read in file order, the input beside it in its own order, and
// both are joined by line number, so memory does not grow with the files.
package audit

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// chunkRecords bounds how many outcomes are held at once when an outcome
// file is not in line order (a run that was stopped before its end-of-run
// rewrite): such a file is read once per chunk of lines.
var chunkRecords int64 = 1 << 16

// bucketLines is the width of one bucket of the line histogram that plans
// the chunks of an unsorted file.
var bucketLines int64 = 1 << 12

// outcomeFile is one outcome file as its first read found it.
type outcomeFile struct {
	path    string
	records int64 // records in the file, a line's repeats included
	lines   int64 // distinct lines
	torn    bool  // ends in a torn line (the writer was killed mid-write)
	sorted  bool  // in strictly increasing line order: streamed as it is
	// buckets counts records by line/bucketLines, only for an unsorted
	// file: a few bytes per four thousand lines.
	buckets map[int64]int64
}

// survey reads path once: it checks every record (an unreadable file is
// refused before anything is written) and learns whether the file is in
// line order.
func survey(path string) (*outcomeFile, error) {
	f := &outcomeFile{path: path, sorted: true, buckets: map[int64]int64{}}
	var prev revoke.Outcome
	torn, err := journal.Read(path, func(o revoke.Outcome) error {
		f.records++
		if f.records > 1 && compareTarget(o, prev) <= 0 {
			f.sorted = false
		}
		prev = o
		f.buckets[o.Line/bucketLines]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	f.torn = torn
	if f.sorted {
		f.lines = f.records
		f.buckets = nil
	}
	return f, nil
}

// each yields the outcomes of the file in line order, one per line: when a
// line was recorded more than once (a resumed run redid it), the last record
// wins, as the end-of-run rewrite decides. A sorted file is streamed; an
// unsorted one is read once per chunk of lines, each chunk sorted in memory.
func (f *outcomeFile) each(yield func(revoke.Outcome) bool) error {
	stop := errors.New("stop")
	if f.sorted {
		_, err := journal.Read(f.path, func(o revoke.Outcome) error {
			if !yield(o) {
				return stop
			}
			return nil
		})
		if errors.Is(err, stop) {
			return nil
		}
		return err
	}
	for _, r := range f.chunks() {
		var held []revoke.Outcome
		_, err := journal.Read(f.path, func(o revoke.Outcome) error {
			if o.Line >= r.lo && o.Line < r.hi {
				held = append(held, o)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Stable: the records of one line stay in file order, so the last
		// of each is the latest.
		slices.SortStableFunc(held, compareTarget)
		for i, o := range held {
			if i+1 < len(held) && compareTarget(held[i+1], o) == 0 {
				continue
			}
			if !yield(o) {
				return nil
			}
		}
	}
	return nil
}

type lineRange struct{ lo, hi int64 }

// chunks splits the lines of an unsorted file into ranges of whole buckets
// holding about chunkRecords records each.
func (f *outcomeFile) chunks() []lineRange {
	keys := slices.Sorted(maps.Keys(f.buckets))
	var out []lineRange
	var n int64
	start := int64(-1)
	for _, k := range keys {
		if start < 0 {
			start = k
		}
		n += f.buckets[k]
		if n >= chunkRecords {
			out = append(out, lineRange{start * bucketLines, (k + 1) * bucketLines})
			start, n = -1, 0
		}
	}
	if start >= 0 {
		out = append(out, lineRange{start * bucketLines, (keys[len(keys)-1] + 1) * bucketLines})
	}
	return out
}

// entry is one file's outcome for a line.
type entry struct {
	file    int
	outcome revoke.Outcome
}

// group is every file's outcome for one line; more than one is a conflict.
type group struct {
	line    int64
	entries []entry
}

// compareTarget orders outcomes by target: line, then consumer key. A user
// row fanned out over applications (--consumer-key) has one outcome per
// (line, consumer key), and each is a target of its own, as journal.Compact
// keeps them; any other line has one consumer key at most.
func compareTarget(a, b revoke.Outcome) int {
	return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.ConsumerKey, b.ConsumerKey))
}

// merge yields the outcomes of every file by line, in line order: a k-way
// merge of the files' sorted streams. The returned function gives the
// first read error once the sequence is done.
func merge(files []*outcomeFile) (iter.Seq[group], func() error) {
	var firstErr error
	seq := func(yield func(group) bool) {
		type head struct {
			next func() (revoke.Outcome, bool)
			stop func()
			cur  revoke.Outcome
			ok   bool
		}
		errs := make([]error, len(files))
		heads := make([]*head, len(files))
		for i, f := range files {
			next, stop := iter.Pull(func(y func(revoke.Outcome) bool) {
				errs[i] = f.each(y)
			})
			h := &head{next: next, stop: stop}
			h.cur, h.ok = next()
			heads[i] = h
		}
		defer func() {
			for _, h := range heads {
				h.stop()
			}
			firstErr = errors.Join(errs...)
		}()
		for {
			var least *revoke.Outcome
			for _, h := range heads {
				if h.ok && (least == nil || compareTarget(h.cur, *least) < 0) {
					least = &h.cur
				}
			}
			if least == nil {
				return
			}
			target := *least
			g := group{line: target.Line}
			for i, h := range heads {
				if h.ok && compareTarget(h.cur, target) == 0 {
					g.entries = append(g.entries, entry{file: i, outcome: h.cur})
					h.cur, h.ok = h.next()
				}
			}
			if !yield(g) {
				return
			}
		}
	}
	return seq, func() error {
		if firstErr != nil {
			return fmt.Errorf("read outcome files: %w", firstErr)
		}
		return nil
	}
}

// rank orders statuses for choosing among conflicting outcomes of one line:
// the one that says most surely that the target is gone wins.
func rank(s revoke.Status) int {
	switch s {
	case revoke.Revoked:
		return 6
	case revoke.NotFound:
		return 5
	case revoke.Duplicate:
		return 4
	case revoke.Invalid:
		return 3
	case revoke.DryRun:
		return 2
	}
	return 1 // failed
}

// chosen is the outcome a merged file keeps for g: the highest rank, then
// the latest settled, then the last file named.
func (g group) chosen() entry {
	best := g.entries[0]
	for _, e := range g.entries[1:] {
		c := cmp.Or(cmp.Compare(rank(e.outcome.Status), rank(best.outcome.Status)),
			cmp.Compare(e.outcome.SettledAt, best.outcome.SettledAt)) // one layout: text order is time order
		if c >= 0 {
			best = e
		}
	}
	return best
}
