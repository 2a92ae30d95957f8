package revoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
)

// Source yields input rows; io.EOF ends the stream. *input.Reader is one.
type Source interface {
	Next() (input.Row, error)
}

// Config is what a Pool needs. Zero values get the documented defaults.
type Config struct {
	Revoker Revoker
	// Rate is the ceiling in requests per second, retries included; the
	// pool paces itself below it, adapting to the server's throttling.
	// 0 means unpaced until the server first throttles.
	Rate float64
	// Burst is the pacer's burst (default 1).
	Burst int
	// Concurrency is the number of rows in flight at once. 0 sizes the
	// pool to reach the current rate at the observed latency, between
	// MinAutoConcurrency and MaxAutoConcurrency.
	Concurrency int
	// MaxAttempts is the number of requests per row at most (default
	// DefaultMaxAttempts).
	MaxAttempts int
	// BackoffBase and BackoffMax shape the exponential backoff with full
	// jitter between attempts of one row (defaults 250ms and 30s).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RetryAfterMax caps the server's Retry-After (default
	// MaxRetryAfter).
	RetryAfterMax time.Duration
	// DryRun validates and de-duplicates but sends nothing.
	DryRun bool
	// Skip reports rows already recorded by an earlier run (resume). They
	// still count for de-duplication but produce no outcome.
	Skip   func(input.Row) bool
	Logger zerolog.Logger
}

// Stats counts what the pool did.
type Stats struct {
	// Requests is the number of HTTP requests sent, retries and probes
	// included.
	Requests int64
	// Probes is the number of requests sent to check that the credentials
	// still work (see Prober); they are for no row.
	Probes int64
	// Retries is the number of requests that were repeats of a row.
	Retries int64
	// Throttled is the number of answers that said "slow down".
	Throttled int64
	// Unrecorded is the number of requests sent for rows that got no final
	// outcome because the run stopped first; those rows are redone on resume.
	Unrecorded int64
	// Skipped is the number of rows already recorded by an earlier run.
	Skipped int64
	// Rate is the pacer's rate now, in requests/s; 0 while unpaced.
	Rate float64
	// SettledRate is the rate of clean answers the run last held steady
	// (within ±5% for several seconds); 0 until it has.
	SettledRate float64
	// InFlightLimit is the number of rows allowed in flight now, and
	// PeakInFlight the most that were in flight at once.
	InFlightLimit int
	PeakInFlight  int
	// InFlight is the number of requests at the server now: sent, not yet
	// answered.
	InFlight int
}

// FatalError stops a run: no row can succeed. The provider said so (the
// administrator's token was rejected, the server's TLS certificate cannot
// be verified), a Suspect answer was not cleared by a probe, or the server
// could not be reached through a row's whole retry schedule
// (*UnreachableError).
type FatalError struct {
	Line int64
	Err  error
}

func (e *FatalError) Error() string { return e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// ErrStopped reports a run that stopped before the end of its input because
// its context was cancelled (a signal, or a time budget).
var ErrStopped = errors.New("run stopped before the end of the input")

const (
	// DefaultMaxAttempts is the requests per row at most when
	// Config.MaxAttempts is zero, and --max-attempts's default.
	DefaultMaxAttempts = 5
	// MaxRetryAfter caps the server's Retry-After, in the pool and in
	// every provider's reading of it (endpoint.RetryAfter): a bogus "retry
	// in a day" must not park a worker through an incident.
	MaxRetryAfter = 5 * time.Minute
)

// Pool revokes rows concurrently under one rate limit.
type Pool struct {
	cfg      Config
	pacer    *pacer
	inFlight *gate
	stats    struct {
		requests, retries, throttled, unrecorded, skipped, probes atomic.Int64
		inFlight                                                  atomic.Int64
	}
	// reached counts answers to requests that reached the server.
	reached atomic.Int64
	admin   adminCheck
}

// New returns a pool with cfg's defaults filled in.
func New(cfg Config) *Pool {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 250 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.RetryAfterMax <= 0 {
		cfg.RetryAfterMax = MaxRetryAfter
	}
	auto := cfg.Concurrency <= 0
	if auto {
		cfg.Concurrency = DefaultConcurrency
	}
	return &Pool{
		cfg:      cfg,
		pacer:    newPacer(cfg.Rate, cfg.Burst, cfg.RetryAfterMax, cfg.Logger),
		inFlight: newGate(cfg.Concurrency, auto, cfg.Logger),
	}
}

// Stats returns the counters so far; safe to call while Run is going.
func (p *Pool) Stats() Stats {
	current, settled := p.pacer.rates()
	limit, peak := p.inFlight.sizes()
	return Stats{
		Requests:      p.stats.requests.Load(),
		Probes:        p.stats.probes.Load(),
		Retries:       p.stats.retries.Load(),
		Throttled:     p.stats.throttled.Load(),
		Unrecorded:    p.stats.unrecorded.Load(),
		Skipped:       p.stats.skipped.Load(),
		Rate:          current,
		SettledRate:   settled,
		InFlightLimit: limit,
		PeakInFlight:  peak,
		InFlight:      int(p.stats.inFlight.Load()),
	}
}

// Run reads src to the end and hands each row's final outcome to record,
// which is only ever called from one goroutine, so it may write a file.
//
// Cancelling ctx stops the run gently: no new request starts (retries
// included), requests in flight finish and their final answers are recorded.
// Run then returns ErrStopped. A fatal answer stops the run the same way and
// is returned as a *FatalError; so does a Suspect answer that a probe does
// not clear (see adminCheck), and a row that could not connect through all
// its attempts while nothing else reached the server either. An error from
// src or record stops the run and is returned. Rows that got no final
// outcome are not recorded.
func (p *Pool) Run(ctx context.Context, src Source, record func(Outcome) error) error {
	stop, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	outcomes := make(chan Outcome, 64)
	recorded := make(chan error, 1)
	go func() {
		var err error
		for o := range outcomes {
			if err != nil {
				// Drain, so workers never block after a failure; the
				// requests behind a dropped outcome are unrecorded.
				p.stats.unrecorded.Add(int64(o.Attempts))
				continue
			}
			if err = record(o); err != nil {
				p.stats.unrecorded.Add(int64(o.Attempts))
				cancel(err)
			}
		}
		recorded <- err
	}()

	j := &job{
		stop:     stop,
		send:     context.WithoutCancel(stop),
		cancel:   cancel,
		outcomes: outcomes,
		rows:     make(chan input.Row),
	}
	// The errgroup only owns the workers' lifetimes; the gate bounds how
	// many rows are in flight, since a self-sizing pool changes that
	// number as it goes.
	g := new(errgroup.Group)
	p.pacer.start()
	fedAll, readErr := p.feed(j, g, src)
	close(j.rows)
	g.Wait()
	close(outcomes)
	if err := <-recorded; err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	if cause := context.Cause(stop); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if ctx.Err() != nil && !(fedAll && !j.abandoned.Load()) {
		// A stop that came after the last row was recorded stopped
		// nothing: the run is complete.
		return ErrStopped
	}
	return nil
}

// job is what one Run shares with its workers.
type job struct {
	// stop ends the run: a signal, a fatal answer, a failed record.
	stop context.Context
	// send is stop without its cancellation: a request already sent is
	// allowed to finish after a stop, so that its answer is recorded.
	send     context.Context
	cancel   context.CancelCauseFunc
	outcomes chan<- Outcome
	// rows hands a row to an idle worker.
	rows chan input.Row
	// abandoned is set when a row was left without a final outcome.
	abandoned atomic.Bool
}

// feed reads rows in file order, settles invalid and duplicate rows itself
// and hands each row to send to a worker, once the gate has a slot for it.
// It reports whether it reached the end of src, and a read error.
func (p *Pool) feed(j *job, g *errgroup.Group, src Source) (fedAll bool, err error) {
	seen := input.NewSeen()
	outcomes := j.outcomes
	workers := 0
	for j.stop.Err() == nil {
		row, err := src.Next()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			j.cancel(err)
			return false, fmt.Errorf("read input: %w", err)
		}
		var first int64
		dup := false
		if row.Invalid == "" {
			first, dup = seen.Add(row.Key(), row.Line)
		}
		if p.cfg.Skip != nil && p.cfg.Skip(row) {
			p.stats.skipped.Add(1)
			continue
		}
		switch {
		case row.Invalid != "":
			outcomes <- settled(row, Invalid, row.Invalid)
		case dup:
			outcomes <- settled(row, Duplicate, DuplicateOf(first))
		case p.cfg.DryRun:
			outcomes <- settled(row, DryRun, "")
		default:
			limit, err := p.inFlight.acquire(j.stop)
			if err != nil {
				return false, nil
			}
			// Workers outlive their row: a goroutine per row would pay for
			// its start and its stack's growth on every row.
			select {
			case j.rows <- row:
			default:
				if workers < limit {
					workers++
					g.Go(func() error { p.work(j, row); return nil })
				} else {
					// As many workers as slots, and this row holds a
					// slot: one of them is idle or about to be.
					j.rows <- row
				}
			}
		}
	}
	return false, nil
}

// DuplicateOf is a duplicate's error: the line of the row it repeats (0 for
// a line too far down for input.Seen to keep).
func DuplicateOf(line int64) string {
	if line <= 0 {
		return "duplicate of an earlier line"
	}
	return fmt.Sprintf("duplicate of line %d", line)
}

func settled(row input.Row, s Status, reason string) Outcome {
	return Outcome{
		Line:        row.Line,
		Kind:        row.Kind,
		Target:      row.Target(),
		ConsumerKey: row.ConsumerKey,
		Status:      s,
		Error:       reason,
		SettledAt:   SettledTime(time.Now()),
	}
}

// work revokes row, then every row handed to it, until the feeder is done.
func (p *Pool) work(j *job, row input.Row) {
	for more := true; more; row, more = <-j.rows {
		if o, ok := p.revoke(j, row); ok {
			j.outcomes <- o
		} else {
			j.abandoned.Store(true)
		}
		p.inFlight.release()
	}
}

// revoke sends one row until it gets a final answer, runs out of attempts, or
// the run stops. ok is false when the row has no final outcome.
func (p *Pool) revoke(j *job, row input.Row) (o Outcome, ok bool) {
	start := time.Now()
	o = settled(row, Failed, "")
	var last Answer
	var done time.Time
	reached := p.reached.Load()
	for attempt := 1; ; attempt++ {
		// Only the waits before a request obey stop.
		epoch, err := p.pacer.wait(j.stop)
		if err != nil || !p.admin.pass(j.stop) {
			p.stats.unrecorded.Add(int64(o.Attempts))
			return o, false
		}
		p.stats.requests.Add(1)
		if attempt > 1 {
			p.stats.retries.Add(1)
		}
		sent := time.Now()
		p.stats.inFlight.Add(1)
		last = p.cfg.Revoker.Revoke(j.send, row)
		p.stats.inFlight.Add(-1)
		done = time.Now()
		if !last.Unreachable {
			p.reached.Add(1)
		}
		p.pacer.answered(epoch, last, done)
		p.inFlight.observe(done.Sub(sent), p.pacer.rateNow())
		o.Attempts = attempt
		o.HTTPStatus = last.HTTPStatus
		o.CorrelationID = last.CorrelationID
		if last.Throttled {
			p.stats.throttled.Add(1)
		}
		if last.Fatal {
			p.stats.unrecorded.Add(int64(o.Attempts))
			j.cancel(&FatalError{Line: row.Line, Err: last.Err})
			return o, false
		}
		if last.Suspect {
			if !p.confirm(j, row.Line, last) {
				p.stats.unrecorded.Add(int64(o.Attempts))
				return o, false
			}
			last.Retry = false // the row's own refusal: final
			break
		}
		if !last.Retry {
			break
		}
		// No child logger per row: it would cost an allocation on every
		// row, logged or not.
		p.cfg.Logger.Debug().Int64("line", row.Line).Str("kind", string(row.Kind)).Str("target", o.Target).
			Int("attempt", attempt).Int("http_status", last.HTTPStatus).AnErr("error", last.Err).Msg("retrying")
		if attempt >= p.cfg.MaxAttempts {
			if last.Unreachable && p.reached.Load() == reached {
				// Nothing reached the server through this row's whole
				// retry schedule: every other row would fail the same way.
				p.stats.unrecorded.Add(int64(o.Attempts))
				j.cancel(&FatalError{Line: row.Line, Err: &UnreachableError{Attempts: attempt, Err: last.Err}})
				return o, false
			}
			break
		}
		// The row never goes again before the server's Retry-After; only a
		// run over the limit as a whole pauses every worker (the pacer).
		resume := p.inFlight.rest()
		slept := sleep(j.stop, p.backoff(attempt, last.RetryAfter))
		resume()
		if !slept {
			p.stats.unrecorded.Add(int64(o.Attempts))
			return o, false
		}
	}
	o.Status = last.Status
	if last.Retry {
		o.Status = Failed // out of attempts on a transient failure
	}
	if last.Err != nil {
		o.Error = last.Err.Error()
	}
	if o.Status == "" {
		o.Status = Failed
	}
	o.DurationMS = done.Sub(start).Milliseconds()
	o.SettledAt = SettledTime(done)
	return o, true
}

// backoff is exponential with full jitter, but never shorter than the
// server's (capped) Retry-After.
func (p *Pool) backoff(attempt int, retryAfter time.Duration) time.Duration {
	ceiling := p.cfg.BackoffBase << min(attempt-1, 30)
	if ceiling <= 0 || ceiling > p.cfg.BackoffMax {
		ceiling = p.cfg.BackoffMax
	}
	d := rand.N(ceiling + 1)
	return max(d, min(retryAfter, p.cfg.RetryAfterMax))
}

// sleep waits d or until ctx is done, and reports whether it slept fully.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
