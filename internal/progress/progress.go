// Package progress shows how far a run has got while it goes: a live bar on
// the operator's terminal, or a "progress" log line at a steady interval
// where no one is watching (cron, Kubernetes). Both read one Meter, which
// the run feeds with every outcome it records.
package progress

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Meter counts settled rows. Add is cheap (one atomic increment), so it can
// be called for every row even in a dry run of millions; the displays read
// Snapshots at their own pace.
type Meter struct {
	now   func() time.Time
	start time.Time
	total int64
	// base is the number of rows settled before this run (resume): they
	// count for done but not for this run's rate.
	base   int64
	before [revoke.NumStatuses]int64        // base by revoke.Status.Index
	counts [revoke.NumStatuses]atomic.Int64 // by revoke.Status.Index
	stats  func() revoke.Stats
	// stopping is set once the run was asked to stop (a signal, its time
	// budget) and only waits for the requests in flight.
	stopping atomic.Bool

	mu      sync.Mutex
	samples [rateSamples]sample // ring, for the recent rate
	next    int                 // where the next sample goes
	filled  int
}

// rateSamples and sampleEvery make the rate a moving average over about the
// last 15 seconds: recent enough to follow a change of pace (throttling,
// adaptive pacing), long enough not to jump with each burst of answers.
const (
	rateSamples = 16
	sampleEvery = time.Second
)

type sample struct {
	at      time.Time
	settled int64 // rows settled by this run so far
}

// Config is what a Meter needs to know before the run starts.
type Config struct {
	// Total is the number of data rows in the input, invalid ones included;
	// -1 when unknown (standard input).
	Total int64
	// Before counts by status the rows an earlier run already settled, which
	// this one will not send again (resume).
	Before map[revoke.Status]int64
	// Stats, when set, supplies the pool's request counters.
	Stats func() revoke.Stats
	// Now is the clock; nil means time.Now. Tests pass a fake one to
	// assert the rate and the ETA by value.
	Now func() time.Time
}

// NewMeter starts a meter; its clock starts now.
func NewMeter(cfg Config) *Meter {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	m := &Meter{now: now, start: now(), total: cfg.Total, stats: cfg.Stats}
	for s, n := range cfg.Before {
		m.counts[index(s)].Add(n)
		m.before[index(s)] += n
		m.base += n
	}
	m.samples[0] = sample{at: m.start}
	m.next, m.filled = 1, 1
	return m
}

// Add counts one recorded outcome.
func (m *Meter) Add(o revoke.Outcome) { m.counts[index(o.Status)].Add(1) }

// Stop marks the run as stopping: it sends nothing new and waits for the
// requests in flight.
func (m *Meter) Stop() { m.stopping.Store(true) }

// Snapshot is how far the run has got at one moment. It is the run's one
// accumulator: the progress line and bar, the summary, the metrics and the
// "finished" line all read it.
type Snapshot struct {
	// Done is the number of rows with a final outcome, earlier runs'
	// included on resume; Total is the number of input rows, -1 if unknown.
	Done, Total int64
	// Rows counts Done by status; RunRows counts this run's outcomes by
	// status (Rows less what earlier runs recorded).
	Rows, RunRows map[revoke.Status]int64
	// Requests and Retries count this run's HTTP requests: Stats's, the
	// pool's counters (zero without Config.Stats).
	Requests, Retries int64
	Stats             revoke.Stats
	// Rate is rows settled per second over the last 15 seconds or so.
	Rate float64
	// ETA is the time left at Rate; -1 when it cannot be told (total
	// unknown, or nothing settled yet).
	ETA     time.Duration
	Elapsed time.Duration
	// Stopping is set once the run was asked to stop.
	Stopping bool
}

// Snapshot reads the counters; safe to call from any goroutine.
func (m *Meter) Snapshot() Snapshot {
	now := m.now()
	s := Snapshot{Total: m.total, Rows: make(map[revoke.Status]int64, len(m.counts)), RunRows: make(map[revoke.Status]int64, len(m.counts)),
		ETA: -1, Elapsed: now.Sub(m.start), Stopping: m.stopping.Load()}
	for i, st := range revoke.Statuses() {
		n := m.counts[i].Load()
		s.Rows[st] = n
		s.RunRows[st] = n - m.before[i]
		s.Done += n
	}
	if m.stats != nil {
		s.Stats = m.stats()
		s.Requests, s.Retries = s.Stats.Requests, s.Stats.Retries
	}
	s.Rate = m.rate(now, s.Done-m.base)
	if m.total >= 0 && s.Rate > 0 {
		left := max(m.total-s.Done, 0)
		s.ETA = time.Duration(float64(left) / s.Rate * float64(time.Second)).Round(time.Second)
	}
	return s
}

// rate records a sample at most once per sampleEvery and measures the pace
// from the oldest sample kept to now.
func (m *Meter) rate(now time.Time, settled int64) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	last := m.samples[(m.next+rateSamples-1)%rateSamples]
	if now.Sub(last.at) >= sampleEvery {
		m.samples[m.next] = sample{at: now, settled: settled}
		m.next = (m.next + 1) % rateSamples
		m.filled = min(m.filled+1, rateSamples)
	}
	oldest := m.samples[(m.next+rateSamples-m.filled)%rateSamples]
	span := now.Sub(oldest.at).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(settled-oldest.settled) / span
}

// index is the position of s in revoke.Statuses(), the order of counts.
// The pool only settles rows with a known status; should another ever
// come, it is counted as failed, never as revoked (Revoked's index is 0,
// which is what Index gives for a string that is no status).
func index(s revoke.Status) int {
	if i, ok := s.Index(); ok {
		return i
	}
	i, _ := revoke.Failed.Index()
	return i
}

// Log keys of the progress line, documented in docs/OPERATIONS.md.
const (
	keyDone     = "done"
	keyTotal    = "input_rows"
	keyRate     = "rate"
	keyETA      = "eta_s"
	keyRows     = "done_by_status"
	keyRequests = "requests"
	keyRetries  = "retries"
	keyElapsed  = "elapsed_s"
)

// Log writes one "progress" line: done, input_rows (when known), rate in
// rows per second, eta_s (when known), done_by_status (done split by
// status), requests and retries.
func Log(log zerolog.Logger, s Snapshot) {
	ev := log.Info().Int64(keyDone, s.Done)
	if s.Total >= 0 {
		ev = ev.Int64(keyTotal, s.Total)
	}
	ev = ev.Float64(keyRate, round(s.Rate, 2))
	if s.ETA >= 0 {
		ev = ev.Int64(keyETA, int64(s.ETA/time.Second))
	}
	rows := zerolog.Dict()
	for _, st := range revoke.Statuses() {
		rows.Int64(string(st), s.Rows[st])
	}
	ev.Dict(keyRows, rows).Int64(keyRequests, s.Requests).Int64(keyRetries, s.Retries).
		Float64(keyElapsed, round(s.Elapsed.Seconds(), 1)).Msg("progress")
}

// round keeps a log line short: nobody reads a rate to the 15th digit.
func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}
