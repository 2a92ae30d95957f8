package journal

import (
	"hash/fnv"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Done is what earlier runs recorded in an outcome file: the lines a
// resumed run does not send again.
type Done struct {
	lines LineSet
	// targets holds, for each line recorded, a hash of the target recorded
	// there, when INPUT may not be the file the journal was started from
	// (State.CheckTargets): a line then counts as done only if it still
	// names the same target. nil when the input is the same file.
	targets map[int64]uint64
}

// ReadDone reads which lines of the outcome file at path (in state s) are
// done for run r, and checks every record against RecordRules: a refusal is
// a *Refusal. A line whose latest record has a status that sendsAgain
// accepts (a failed row with --retry-failed, a dry run's row in a real run)
// is not done. When s.CheckTargets(r), Has also checks each line's target. A
// torn last line is not done: Append drops it, and its row is redone.
func ReadDone(path string, s State, r Run, sendsAgain func(revoke.Status) bool) (*Done, error) {
	d := &Done{}
	if s.CheckTargets(r) {
		d.targets = map[int64]uint64{}
	}
	_, err := Read(path, func(o revoke.Outcome) error {
		if err := checkRecord(o, r); err != nil {
			return err
		}
		if sendsAgain(o.Status) {
			d.lines.Remove(o.Line)
			return nil
		}
		d.lines.Add(o.Line)
		if d.targets != nil {
			d.targets[o.Line] = targetHash(o.Kind, o.Target, o.ConsumerKey)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Has reports whether row already has a final outcome in the journal.
func (d *Done) Has(row input.Row) bool {
	if !d.lines.Has(row.Line) {
		return false
	}
	return d.targets == nil || d.targets[row.Line] == targetHash(row.Kind, row.Target(), row.ConsumerKey)
}

// Len is the number of lines done.
func (d *Done) Len() int64 { return d.lines.Len() }

// targetHash identifies what an outcome row names, as written in the
// outcome file (a token only by its fingerprint).
func targetHash(kind input.Kind, target, consumerKey string) uint64 {
	h := fnv.New64a()
	for _, s := range []string{string(kind), target, consumerKey} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// LineSet is a set of input line numbers, one bit a line, so that resuming a
// ten-million-row run costs about a megabyte.
type LineSet struct {
	bits []uint64
	n    int64
}

// Add puts line in the set; a negative line is ignored.
func (s *LineSet) Add(line int64) {
	if line < 0 {
		return
	}
	i := int(line / 64)
	for len(s.bits) <= i {
		s.bits = append(s.bits, 0)
	}
	if s.bits[i]&(1<<(line%64)) == 0 {
		s.bits[i] |= 1 << (line % 64)
		s.n++
	}
}

// Remove takes line out of the set.
func (s *LineSet) Remove(line int64) {
	if s.Has(line) {
		s.bits[line/64] &^= 1 << (line % 64)
		s.n--
	}
}

// Has reports whether line is in the set. A nil set is empty.
func (s *LineSet) Has(line int64) bool {
	if s == nil {
		return false
	}
	i := line / 64
	return line >= 0 && i < int64(len(s.bits)) && s.bits[i]&(1<<(line%64)) != 0
}

// Len is the number of lines in the set.
func (s *LineSet) Len() int64 { return s.n }
