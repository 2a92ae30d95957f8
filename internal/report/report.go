// Package report tells how a run went: the tally of its outcomes, the
// summary file and the text at its end, and the metrics (a file and a
// Pushgateway). The outcome file itself is package journal's.
package report

import "github.com/bulkrevoke/bulkrevoke/internal/revoke"

// Statuses lists every status an outcome file may hold, in the order a
// summary shows them: revoke.Statuses, the one list. Every one is a status
// journal.Read accepts.
func Statuses() []revoke.Status { return revoke.Statuses() }

// Tally counts outcomes for the run summary and the exit code.
type Tally struct {
	// ByStatus counts rows by final status.
	ByStatus map[revoke.Status]int64
	// Requests counts HTTP requests sent, retries included.
	Requests int64
}

// Add counts one outcome.
func (t *Tally) Add(o revoke.Outcome) {
	if t.ByStatus == nil {
		t.ByStatus = make(map[revoke.Status]int64, 8)
	}
	t.ByStatus[o.Status]++
	t.Requests += int64(o.Attempts)
}

// Rows is the number of outcomes counted.
func (t *Tally) Rows() int64 {
	var n int64
	for _, c := range t.ByStatus {
		n += c
	}
	return n
}
