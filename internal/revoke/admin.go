package revoke

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// adminCheck settles Suspect answers, those that may be about the
// administrator's credentials or about one row (Concur's 403). While one is
// open, no new request is sent: if the credentials were rejected, every
// request would be refused, so the run stops after the requests already in
// flight and the probe, as it does on a plain rejection. The Prober then
// sends one request that cannot touch anything real. Only an answer to a
// request sent after the suspect answer came back is evidence: an answer
// to a request sent earlier may predate the rejection. The probe's answer
// clears the suspects only when it positively shows the credentials at
// work (Revoked or NotFound); anything else stops the run, and the suspect
// rows are left for --resume.
type adminCheck struct {
	// open is set while sends are held, and rejected once a doubt ended
	// in a stop; the hot path reads only these.
	open, rejected atomic.Bool

	mu       sync.Mutex
	released chan struct{} // closed when the hold ends
	// waiting holds the suspects that arrived since the last probe was
	// sent; a probe settles only those that arrived before it.
	waiting []chan bool
	probing bool
	first   *suspect // the suspect that opened the doubt
}

type suspect struct {
	line int64
	err  error
}

// pass holds a request while a doubt is open, and reports whether it may
// be sent: false once the run stops while it waits, or a doubt ended in a
// stop (a request that passed the pacer meanwhile must not slip out).
func (c *adminCheck) pass(stop context.Context) bool {
	for c.open.Load() {
		c.mu.Lock()
		released := c.released
		c.mu.Unlock()
		if released == nil {
			break
		}
		select {
		case <-released:
		case <-stop.Done():
			return false
		}
	}
	return !c.rejected.Load()
}

// confirm is called by a worker whose row got a Suspect answer. It reports
// whether the credentials were shown to still work (the answer is then the
// row's failure); false means the run is stopping and the row must be left
// unrecorded.
func (p *Pool) confirm(j *job, line int64, ans Answer) bool {
	c := &p.admin
	verdict := make(chan bool, 1)
	c.mu.Lock()
	if c.rejected.Load() {
		c.mu.Unlock()
		return false
	}
	c.waiting = append(c.waiting, verdict)
	if c.released == nil {
		c.released = make(chan struct{})
		c.open.Store(true)
		c.first = &suspect{line: line, err: ans.Err}
	}
	lead := !c.probing
	c.probing = true
	c.mu.Unlock()
	if lead {
		p.settleDoubt(j)
	}
	return <-verdict
}

// settleDoubt probes until every waiting suspect is settled, then releases
// the hold. It runs in the worker whose suspect opened the doubt.
func (p *Pool) settleDoubt(j *job) {
	c := &p.admin
	for {
		c.mu.Lock()
		batch := c.waiting
		c.waiting = nil
		first := *c.first
		c.mu.Unlock()

		accepted, why := p.probe(j)
		// A stop that came meanwhile (another row's rejected credentials,
		// a signal) may say more than the probe: leave the rows for
		// --resume.
		accepted = accepted && j.stop.Err() == nil

		c.mu.Lock()
		if !accepted {
			c.rejected.Store(true)
			batch = append(batch, c.waiting...)
			c.waiting = nil
			if why != nil {
				p.cfg.Logger.Error().Int64("line", first.line).AnErr("error", why).Msg("administrator's credentials not shown to work: stopping")
				// Cancel before the release, so that no held request
				// slips out.
				j.cancel(&FatalError{Line: first.line, Err: fmt.Errorf("%w; %w", first.err, why)})
			}
		} else {
			p.cfg.Logger.Info().Int64("line", first.line).Int("waiting_rows", len(batch)).
				Msg("a probe showed the administrator's credentials still work: the refusal is the row's own")
		}
		for _, v := range batch {
			v <- accepted
		}
		if !accepted || len(c.waiting) == 0 {
			close(c.released)
			c.released, c.first, c.probing = nil, nil, false
			c.open.Store(false)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// errNoProber explains a Suspect answer from a provider that cannot probe.
var errNoProber = errors.New("the provider cannot check whether the credentials still work, so the refusal is taken as a rejection")

// probe asks the Prober whether the credentials still work. It returns why
// not when they were not shown to, and a nil reason when the run is
// stopping anyway. Transient failures are retried as a row's are; an
// answer that stays undecided is no proof, and stops the run.
func (p *Pool) probe(j *job) (accepted bool, why error) {
	prober, ok := p.cfg.Revoker.(Prober)
	if !ok {
		return false, errNoProber
	}
	for attempt := 1; ; attempt++ {
		epoch, err := p.pacer.wait(j.stop)
		if err != nil {
			return false, nil
		}
		p.stats.requests.Add(1)
		p.stats.probes.Add(1)
		p.stats.inFlight.Add(1)
		ans := prober.Probe(j.send)
		p.stats.inFlight.Add(-1)
		p.pacer.answered(epoch, ans, time.Now())
		if !ans.Unreachable {
			p.reached.Add(1)
		}
		switch {
		case ans.Fatal || ans.Suspect:
			return false, fmt.Errorf("a probe sent after it (a revocation of a random token that no one holds) was refused too: %w", answerError(ans))
		case ans.Retry && attempt < p.cfg.MaxAttempts:
			if !sleep(j.stop, p.backoff(attempt, ans.RetryAfter)) {
				return false, nil
			}
		case ans.Retry:
			return false, fmt.Errorf("a probe sent after it, to check the credentials, got no clear answer in %s, so the refusal is taken as a rejection: %w", attempts(attempt), answerError(ans))
		case ans.Status == Revoked || ans.Status == NotFound:
			return true, nil
		default:
			return false, fmt.Errorf("a probe sent after it, to check the credentials, got an answer that does not show them at work, so the refusal is taken as a rejection: %w", answerError(ans))
		}
	}
}

// answerError is what an answer says went wrong, never nil.
func answerError(a Answer) error {
	if a.Err != nil {
		return a.Err
	}
	return fmt.Errorf("HTTP %d, classified %s", a.HTTPStatus, a.Status)
}

// UnreachableError stops a run whose server could not be reached: a row
// used all its attempts without a connection, and no other request reached
// the server meanwhile, so every other row would fail the same way.
type UnreachableError struct {
	Attempts int
	Err      error
}

func (e *UnreachableError) Error() string {
	tries := attempts(e.Attempts)
	if e.Attempts > 1 {
		tries += " in a row"
	}
	return fmt.Sprintf("cannot connect to the server: %s, and every other request meanwhile, failed to connect (last: %v); check the URL's host, DNS, firewalls and any proxy (HTTPS_PROXY)",
		tries, e.Err)
}

// attempts says "1 attempt" or "n attempts".
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

func (e *UnreachableError) Unwrap() error { return e.Err }
