package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Summary is the --summary document: what one run did, for scripts, audits
// and the incident record. Counts by status are plain top-level keys, so a
// script reads them with `jq .failed` and needs no knowledge of the layout.
type Summary struct {
	Version string `json:"version"`
	// Name is the run's name (--name), as in the metrics' name label;
	// Shard its --shard, absent for a whole input.
	Name        string `json:"name"`
	Shard       string `json:"shard,omitempty"`
	Input       string `json:"input"`
	OutcomeFile string `json:"outcome_file"`

	// Who ran this run, from where, against what: never a secret, only
	// fingerprints; the command line never holds one.
	journal.Identity

	// FirstStarted is when the campaign's first run on this outcome file
	// started (its sidecar's first run); the run_ fields cover this run
	// alone.
	FirstStarted time.Time `json:"first_started"`
	Start        time.Time `json:"run_started"` // RFC 3339
	End          time.Time `json:"run_ended"`
	DurationS    float64   `json:"run_duration_s"`
	ExitCode     int       `json:"exit_code"`
	// Error says why the run stopped early, naming the cause
	// ("interrupted (SIGINT): ...", "time budget (--max-duration 50m)
	// spent: ...", "credentials rejected: ..."); empty when it did not, or
	// when the only trouble was failed or invalid rows.
	Error string `json:"error,omitempty"`

	// InputRows is the number of data rows in the input, invalid ones
	// included; -1 when it could not be known (standard input).
	InputRows int64 `json:"input_rows"`
	// EmptyRows is the number of CSV rows whose cells are all empty
	// (",,", as spreadsheets end their exports): no rows, no outcomes,
	// like blank lines, and not in InputRows.
	EmptyRows int64 `json:"empty_rows"`
	// Done is the number of input rows the outcome file records, earlier
	// runs' included when this one resumed them (the progress line's done);
	// the six counts below add up to it.
	Done      int64 `json:"done"`
	Revoked   int64 `json:"revoked"`
	NotFound  int64 `json:"not_found"`
	Failed    int64 `json:"failed"`
	Invalid   int64 `json:"invalid"`
	Duplicate int64 `json:"duplicate"`
	DryRun    int64 `json:"dry_run"`

	// Requests, Retries and Throttled count this run's HTTP requests.
	Requests  int64 `json:"run_requests"`
	Retries   int64 `json:"run_retries"`
	Throttled int64 `json:"run_throttled"`
	// AchievedRate is requests per second over the run, retries included:
	// the same unit as --rate.
	AchievedRate float64 `json:"achieved_rate"`
	// ConfiguredRate is --rate. SettledRate is the rate the pool's pacing
	// last held steady, or when it never settled the pace the run ended at:
	// lower than ConfiguredRate when throttling made it slow down. Both are
	// requests per second; 0 means unpaced.
	ConfiguredRate float64 `json:"configured_rate"`
	SettledRate    float64 `json:"settled_rate"`
}

// SetRows fills the counts by status, and Done, from byStatus.
func (s *Summary) SetRows(byStatus map[revoke.Status]int64) {
	s.Done = 0
	for _, st := range revoke.Statuses() {
		*s.count(st) = byStatus[st]
	}
	for _, n := range byStatus {
		s.Done += n
	}
}

// count is the field of s that counts st: the one whose JSON key is the
// status's name.
func (s *Summary) count(st revoke.Status) *int64 {
	return reflect.ValueOf(s).Elem().Field(summaryCounts[st]).Addr().Interface().(*int64)
}

// summaryCounts is the index of Summary's count field for each status,
// found by JSON key; a status without one stops the program at start, in
// every test.
var summaryCounts = func() map[revoke.Status]int {
	byKey := map[string]int{}
	t := reflect.TypeFor[Summary]()
	for i := range t.NumField() {
		if t.Field(i).Type.Kind() == reflect.Int64 {
			byKey[strings.Split(t.Field(i).Tag.Get("json"), ",")[0]] = i
		}
	}
	m := map[revoke.Status]int{}
	for _, st := range revoke.Statuses() {
		i, ok := byKey[string(st)]
		if !ok {
			panic(fmt.Sprintf("report.Summary has no int64 field with JSON key %q", st))
		}
		m[st] = i
	}
	return m
}()

// WriteSummary writes s to path as indented JSON, atomically: a reader sees
// the previous document or the new one, never half of one.
func WriteSummary(path string, s Summary) error {
	err := ownfile.WriteAtomic(path, 0o600, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	})
	if err != nil {
		return fmt.Errorf("write summary %s: %w", path, err)
	}
	return nil
}

// WriteText prints s for a person at the end of a run: how it ended, a
// small table of rows by status, the outcome file, then the advice lines
// (what to do next) as given.
func WriteText(w io.Writer, s Summary, advice []string) error {
	var b bytes.Buffer
	ended := "finished"
	switch {
	case s.ExitCode == 1:
		ended = "finished with failed rows to look at"
	case s.ExitCode == 4:
		ended = "finished with invalid rows to fix"
	case s.ExitCode == 2 || s.ExitCode == 3:
		ended = "stopped early"
	}
	fmt.Fprintf(&b, "\nbulkrevoke %s in %s (exit code %d)\n", ended, time.Duration(s.DurationS*float64(time.Second)).Round(100*time.Millisecond), s.ExitCode)
	for _, st := range revoke.Statuses() {
		fmt.Fprintf(&b, "  %-10s %10d\n", st, *s.count(st))
	}
	fmt.Fprintf(&b, "  %-10s %10d", "rows", s.Done)
	if s.InputRows >= 0 {
		fmt.Fprintf(&b, " of %d in the input", s.InputRows)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Outcomes: %s\n", s.OutcomeFile)
	for _, line := range advice {
		fmt.Fprintln(&b, line)
	}
	// One write, so that nothing else lands in the middle of the table.
	_, err := w.Write(b.Bytes())
	return err
}
