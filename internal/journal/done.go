package journal

import (
	"hash/fnv"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Done is what earlier runs recorded in an outcome file: the targets a
// resumed run does not send again. A target is a line and, for a user row
// fanned out over applications (Run.ConsumerKeys), one of those
// applications: a row half done when a run stopped redoes only its missing
// applications.
type Done struct {
	// slots holds one bit per target: slot(line, consumer key).
	slots LineSet
	// keys numbers Run.ConsumerKeys from 1; width is len(keys)+1, the slots
	// of one line. A record whose consumer key is not listed (a row with
	// its own, a token row) takes its line's slot 0.
	keys  map[string]int64
	width int64
	// targets holds, for each slot recorded, a hash of the target recorded
	// there, when INPUT may not be the file the journal was started from
	// (State.CheckTargets): a target then counts as done only if its line
	// still names it. nil when the input is the same file.
	targets map[int64]uint64
}

// slot numbers a target: its line's slots, then its application's.
func (d *Done) slot(line int64, consumerKey string) int64 {
	if line < 0 {
		return -1
	}
	return line*d.width + d.keys[consumerKey]
}

// ReadDone reads which lines of the outcome file at path (in state s) are
// done for run r, and checks every record against RecordRules: a refusal is
// a *Refusal. A line whose latest record has a status that sendsAgain
// accepts (a failed row with --retry-failed, a dry run's row in a real run)
// is not done. When s.CheckTargets(r), Has also checks each line's target. A
// torn last line is not done: Append drops it, and its row is redone.
func ReadDone(path string, s State, r Run, sendsAgain func(revoke.Status) bool) (*Done, error) {
	d := &Done{keys: map[string]int64{}, width: int64(len(r.ConsumerKeys)) + 1}
	for i, k := range r.ConsumerKeys {
		d.keys[k] = int64(i) + 1
	}
	if s.CheckTargets(r) {
		d.targets = map[int64]uint64{}
	}
	_, err := Read(path, func(o revoke.Outcome) error {
		if err := checkRecord(o, r); err != nil {
			return err
		}
		slot := d.slot(o.Line, o.ConsumerKey)
		if sendsAgain(o.Status) {
			d.slots.Remove(slot)
			return nil
		}
		d.slots.Add(slot)
		if d.targets != nil {
			d.targets[slot] = targetHash(o.Kind, o.Target, o.ConsumerKey)
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
	slot := d.slot(row.Line, row.ConsumerKey)
	if !d.slots.Has(slot) {
		return false
	}
	return d.targets == nil || d.targets[slot] == targetHash(row.Kind, row.Target(), row.ConsumerKey)
}

// Len is the number of targets done.
func (d *Done) Len() int64 { return d.slots.Len() }

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
