package cli

import (
	"math"
	"time"

	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/progress"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Finished is the "finished" log line, the last word of a run that got as
// far as sending: this run's counts and the pool's. The tests decode the
// line into it, so its JSON keys are the line's (TestFinishedLineKeys
// holds the two together).
type Finished struct {
	// RunByStatus counts this run's outcomes by status (not earlier runs',
	// which the summary and the progress line's done_by_status include).
	RunByStatus map[revoke.Status]int64 `json:"run_by_status"`
	Requests    int64                   `json:"requests"`
	Retries     int64                   `json:"retries"`
	Throttled   int64                   `json:"throttled"`
	Unrecorded  int64                   `json:"unrecorded_requests"`
	Probes      int64                   `json:"probe_requests"`
	Skipped     int64                   `json:"skipped"`
	// EmptyRows counts the input's rows of empty cells: no rows, no
	// outcomes, like blank lines.
	EmptyRows    int64   `json:"empty_rows"`
	DurationMS   int64   `json:"duration_ms"`
	AchievedRate float64 `json:"achieved_rate"` // requests/s while sending
	SettledRate  float64 `json:"settled_rate"`  // rounded to 0.1
	FinalRate    float64 `json:"final_rate"`
	PeakInFlight int     `json:"peak_in_flight"`
	ExitCode     int     `json:"exit_code"`
	// Error says why the run stopped early; empty when it did not.
	Error string `json:"error,omitempty"`
}

// newFinished reads the finished line off the run's one accumulator, the
// meter's final snapshot; sending is how long the pool ran.
func newFinished(s progress.Snapshot, sending time.Duration, exit int, stopped error) Finished {
	f := Finished{
		RunByStatus:  s.RunRows,
		Requests:     s.Stats.Requests,
		Retries:      s.Stats.Retries,
		Throttled:    s.Stats.Throttled,
		Unrecorded:   s.Stats.Unrecorded,
		Probes:       s.Stats.Probes,
		Skipped:      s.Stats.Skipped,
		DurationMS:   sending.Milliseconds(),
		AchievedRate: float64(s.Stats.Requests) / max(sending.Seconds(), 1e-9),
		SettledRate:  math.Round(s.Stats.SettledRate*10) / 10,
		FinalRate:    s.Stats.Rate,
		PeakInFlight: s.Stats.PeakInFlight,
		ExitCode:     exit,
	}
	if stopped != nil {
		f.Error = stopped.Error()
	}
	return f
}

// MarshalZerologObject writes the line's fields, in the order of the
// type's.
func (f Finished) MarshalZerologObject(e *zerolog.Event) {
	byStatus := zerolog.Dict()
	for _, s := range revoke.Statuses() {
		byStatus.Int64(string(s), f.RunByStatus[s])
	}
	e.Dict("run_by_status", byStatus).Int64("requests", f.Requests).Int64("retries", f.Retries).
		Int64("throttled", f.Throttled).Int64("unrecorded_requests", f.Unrecorded).Int64("probe_requests", f.Probes).
		Int64("skipped", f.Skipped).Int64("empty_rows", f.EmptyRows).Int64("duration_ms", f.DurationMS).
		Float64("achieved_rate", f.AchievedRate).Float64("settled_rate", f.SettledRate).Float64("final_rate", f.FinalRate).
		Int("peak_in_flight", f.PeakInFlight).Int(keyExitCode, f.ExitCode)
	if f.Error != "" {
		e.Str(keyError, f.Error)
	}
}

// log writes the line: at error level when the run stopped early.
func (f Finished) log(log zerolog.Logger) {
	ev := log.Info()
	if f.Error != "" {
		ev = log.Error()
	}
	ev.EmbedObject(f).Msg("finished")
}
