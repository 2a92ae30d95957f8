package report

import (
	"fmt"

	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TallyFile counts the rows of the outcome file at path the way Compact
// keeps them: when a line was recorded more than once (a resumed run redid
// it), only its last record counts. A torn last line is not counted.
// Requests adds up the attempts of every record, superseded ones included,
// since those requests were sent too. Memory is one byte per input line.
func TallyFile(path string) (Tally, error) { return TallyFanOut(path, nil) }

// TallyFanOut is TallyFile for a run that fans user rows out over
// consumerKeys (--consumer-key): a target is then a line and one of those
// keys, each counted by its own last record. Memory is len(consumerKeys)+1
// bytes per input line.
func TallyFanOut(path string, consumerKeys []string) (Tally, error) {
	t := Tally{ByStatus: make(map[revoke.Status]int64, 8)}
	width := int64(len(consumerKeys)) + 1
	index := make(map[string]int64, len(consumerKeys))
	for i, k := range consumerKeys {
		index[k] = int64(i) + 1
	}
	// latest holds, for each target's slot (line*width + the index of its
	// consumer key, 0 for a key not listed), 1 + the index in statuses of
	// its latest record's status, or 0 when it has no record yet.
	var latest []uint8
	_, err := journal.Read(path, func(o revoke.Outcome) error {
		slot := o.Line*width + index[o.ConsumerKey]
		if slot >= int64(len(latest)) {
			latest = append(latest, make([]uint8, slot+1-int64(len(latest)))...)
		}
		if prev := latest[slot]; prev != 0 {
			t.ByStatus[statusOrder[prev-1]]--
		}
		i, ok := o.Status.Index()
		if !ok {
			// journal.Read passes on known statuses only; should that
			// change, this is an error, never a panic.
			return fmt.Errorf("outcome file %s: line %d: unknown status %q", path, o.Line, o.Status)
		}
		latest[slot] = uint8(i) + 1
		t.ByStatus[o.Status]++
		t.Requests += int64(o.Attempts)
		return nil
	})
	if err != nil {
		return Tally{}, err
	}
	return t, nil
}

// statusOrder is Statuses(), made once: the tally runs for every record.
var statusOrder = Statuses()
