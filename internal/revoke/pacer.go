package revoke

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// How the pacer adapts. The API's limit is not published, and not every 429
// is about it: a shared gateway or another tenant's burst refuses a few
// requests whatever our rate. A refusal is evidence about the rate only if
// refusals become more frequent as the rate rises, so the pacer judges rates,
// not refusals. It is a small model of the rate the server grants with short
// probing phases, as TCP BBR does:
//
//   - Time is cut into rounds of about half a second; every request carries
//     the round it was sent in, so a round's answers describe one rate.
//   - A round is over the limit when its refused share stands out from the
//     noise floor (the share of the rounds that were not, at rates known to
//     be below any limit): by 5 points plus 2.5 standard deviations, and by
//     at least 3 refusals. Its rate is then
//     cut to just under the rate the server granted in it: a limit of 250/s
//     grants 250/s, so the cut lands on it; random refusals grant all but the
//     noise, so a false alarm costs a few percent, not a third.
//   - Every few clean rounds the pacer probes: one round at 1.25× the rate.
//     If its refused share does not rise, the higher rate is kept, confirmed
//     for a round, and the next probe goes further (1.5×, then 2×): a limit
//     that rises is found in a few seconds, not minutes. A failed probe costs
//     one round at 1.25×, and probes come less often while they keep failing.
//   - When most answers are refusals (the run as a whole is over the limit:
//     a quota spent, a limit that fell), every worker pauses for the
//     server's Retry-After and the rate drops to what the server granted
//     over its cycle, since the last such episode and until it lets us back
//     in (over a quota's window, that is the quota), but after the first
//     episode at most by half per episode.
//     A lone 429 only delays its own row.
//
// The rate never exceeds the operator's ceiling. Refused-share windows alone
// (without probes) cannot tell a limit from noise once they settle, and the
// SRE book's client-side throttling lets the refused share reach
// 1 − 1/K, which at a useful K is far more than the 5% a limit should cost.
const (
	// roundMin and roundRequests end a round: at least this long and this
	// many requests sent, so that shares are measured on enough answers;
	// roundMax ends it anyway, at low rates.
	roundMin      = 500 * time.Millisecond
	roundRequests = 40
	roundMax      = 2 * time.Second
	// rounds is how many rounds keep their counters: an answer to a request
	// sent longer ago than that says nothing the pacer still needs.
	rounds = 4
	// excessShare, excessSigmas and excessRefusals define a round over the
	// limit: its refused share above the noise floor by excessShare plus
	// excessSigmas standard deviations, with at least excessRefusals.
	excessShare    = 0.05
	excessSigmas   = 2.5
	excessRefusals = 3
	// earlySigmas and earlyAnswers let a round be judged before its end,
	// on a stricter test, once its refusals stand out: a probe far over a
	// limit is stopped after a few refusals, not half a second of them.
	earlySigmas  = 3
	earlyAnswers = 10
	// noiseDecay is how much of the noise floor's weight each round keeps.
	noiseDecay = 0.9
	// holdShare is where a cut lands: just under the rate the server
	// granted, so that the next refusal comes late.
	holdShare = 0.95
	// probeWaitMin and probeWaitMax bound the clean rounds between probes:
	// the wait doubles while probes fail, so a steady limit costs a failed
	// probe every two seconds at most.
	probeWaitMin = 1
	probeWaitMax = 4
	// heavyScore is how far refusals must outnumber clean answers, counted
	// as they come, for the run as a whole to be over the limit: eight net
	// refusals are a quota spent, never a few random 429s.
	heavyScore = 8
	// minRate is the floor: the pacer never stops sending altogether.
	minRate = 1.0
	// inUse is the share of its rate a round must have sent for a probe to
	// count: a limit nobody reaches (the run is latency-bound) must not
	// creep up unnoticed and then take many rounds to come down.
	inUse = 0.8
	// grantWindow is the longest span the granted rate is measured over,
	// pauses included: over a quota's window a server grants the quota.
	grantWindow = 10 * time.Second
	// history is how many round ends are remembered for the granted rate:
	// more than grantWindow / roundMin.
	history = 32
	// settleSamples and settleBand define "settled": that many successive
	// readings (one a round) of the granted rate all within ±5% of their
	// mean. settleLogChange is how far it must move to be logged again.
	settleSamples   = 10
	settleBand      = 0.05
	settleLogChange = 0.10
)

// probeGains are the probes' steps: the first after a cut or a failure,
// then bigger ones while probes keep succeeding.
var probeGains = [...]float64{1.25, 1.5, 2}

// round counts the requests sent in one round and their answers. Its
// counters are updated without the pacer's lock; epoch says which round
// they belong to, so an answer to a request from a round whose slot was
// reused is dropped.
type round struct {
	epoch                          atomic.Uint64
	sent, answered, refused, clean atomic.Int64
	// duration is how long the round lasted, 0 while it runs; it is
	// set under the pacer's lock.
	duration time.Duration
}

// snapshot is the run's clean answers so far at one moment.
type snapshot struct {
	at    time.Time
	clean int64
}

// pacer paces every request of a run, retries included, through one
// rate.Limiter whose limit it adapts to the server's refusals. While the
// run as a whole is over the limit it also pauses every worker until the
// server's Retry-After.
type pacer struct {
	ceiling       float64 // +Inf: unpaced until the first cut
	burst         int
	retryAfterMax time.Duration
	log           zerolog.Logger
	now           func() time.Time

	limiter atomic.Pointer[rate.Limiter]
	// current is the limit as float64 bits, for readers on the hot path.
	current atomic.Uint64
	// epoch is the current round; requests carry it.
	epoch  atomic.Uint64
	rounds [rounds]round
	// cuts counts decreases (a pause comes with one).
	cuts atomic.Uint64
	// changed is closed, and replaced, whenever the rate changes or a
	// pause begins: a waiter that booked its slot under the old rate wakes
	// and queues again under the new one, sooner after a rise, later
	// after a cut.
	changed atomic.Pointer[chan struct{}]
	// pausedUntil is when the last pause ends, in Unix nanoseconds; 0 once
	// a waiter has seen it pass, so that waits skip the clock.
	pausedUntil atomic.Int64
	// roundDue is when the current round may end, in Unix nanoseconds;
	// answers check it without the lock.
	roundDue atomic.Int64
	// score is refusals minus clean answers, never below 0, counted for
	// requests sent since scoreFrom (the round after the last pause).
	score     atomic.Int64
	scoreFrom atomic.Uint64
	// cutFrom is the first round sent after the last cut: refusals of
	// requests sent before it answer for a rate already left.
	cutFrom atomic.Uint64
	// sent and clean count requests let through and answers that were
	// neither refused nor transient failures, over the run.
	sent, clean atomic.Int64
	// noise is the noise floor as float64 bits, for the early test.
	noise atomic.Uint64

	mu         sync.Mutex
	started    time.Time
	limit      float64 // the limiter's rate; +Inf while unpaced
	hold       float64 // the rate believed to hold; limit is above it while probing
	roundStart time.Time
	pauseEnds  time.Time // the last pause's end, kept after pausedUntil is cleared
	probing    bool      // this round is a probe
	confirming bool      // this round confirms the last probe's rate
	gain       int       // index in probeGains of the next probe
	probeWait  int       // clean rounds between probes now
	probeIn    int       // clean rounds left before the next probe
	// noiseRefused and noiseAnswered are the decayed counts of the rounds
	// not over the limit at rates known to be below it: their ratio is the
	// noise floor. learnBelow is that rate: the last cut's (+Inf before
	// one). Rounds above it (probes, rates a probe raised) never feed the
	// floor, or a share just under the threshold would raise the floor,
	// then the threshold, and let a rate over the limit creep in.
	noiseRefused, noiseAnswered float64
	learnBelow                  float64
	lastEpisode                 time.Time // the last time most answers were refusals; the start at first
	snaps                       [history]snapshot
	snapsN, snapsAt             int
	samples                     [settleSamples]float64
	samplesN, samplesAt         int
	settled                     atomic.Uint64 // bits of the last settled rate, 0 until one
	loggedSettled               float64
}

// newPacer returns a pacer under ceiling requests/s; 0 means unpaced until
// the server first shows a limit.
func newPacer(ceiling float64, burst int, retryAfterMax time.Duration, log zerolog.Logger) *pacer {
	if ceiling <= 0 || math.IsInf(ceiling, 1) {
		ceiling = math.Inf(1)
	}
	p := &pacer{
		ceiling:       ceiling,
		burst:         max(burst, 1),
		retryAfterMax: retryAfterMax,
		log:           log,
		now:           time.Now,
		limit:         ceiling,
		hold:          ceiling,
		probeWait:     probeWaitMin,
		learnBelow:    math.Inf(1),
	}
	p.limiter.Store(rate.NewLimiter(limitOf(ceiling), p.burst))
	p.current.Store(math.Float64bits(ceiling))
	ch := make(chan struct{})
	p.changed.Store(&ch)
	return p
}

// changeLocked wakes every waiter that booked a slot under the old rate.
func (p *pacer) changeLocked() {
	ch := make(chan struct{})
	close(*p.changed.Swap(&ch))
}

func limitOf(r float64) rate.Limit {
	if math.IsInf(r, 1) {
		return rate.Inf
	}
	return rate.Limit(r)
}

// start marks the beginning of the run, from which rates are measured.
func (p *pacer) start() {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started, p.lastEpisode, p.roundStart = now, now, now
	p.snapLocked(now)
	p.roundDue.Store(now.Add(roundMin).UnixNano())
}

// wait blocks until the next request may be sent, or ctx is done. It returns
// the round the request is sent in, for answered.
func (p *pacer) wait(ctx context.Context) (uint64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		now := p.now()
		if d := p.paused(now); d > 0 {
			if !sleep(ctx, d) {
				return 0, ctx.Err()
			}
			continue
		}
		changed := *p.changed.Load()
		r, d := p.reserve(now)
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				r.Cancel()
				return 0, ctx.Err()
			case <-changed:
				// The slot was booked at the old rate: queue again
				// under the new one.
				t.Stop()
				r.Cancel()
				continue
			}
		}
		return p.sendNow(), nil
	}
}

// paused returns how long a pause still holds every worker at now.
func (p *pacer) paused(now time.Time) time.Duration {
	until := p.pausedUntil.Load()
	if until == 0 {
		return 0
	}
	if d := time.Duration(until - now.UnixNano()); d > 0 {
		return d
	}
	p.pausedUntil.CompareAndSwap(until, 0)
	return 0
}

// reserve books the next slot at now and returns it with the delay until
// it; unpaced, there is nothing to book (a reservation would cost an
// allocation a row).
func (p *pacer) reserve(now time.Time) (*rate.Reservation, time.Duration) {
	if math.IsInf(p.rateNow(), 1) {
		return nil, 0
	}
	r := p.limiter.Load().ReserveN(now, 1)
	return r, r.DelayFrom(now)
}

// sendNow counts one request as sent in the current round and returns it.
func (p *pacer) sendNow() uint64 {
	e := p.epoch.Load()
	if s := &p.rounds[e%rounds]; s.epoch.Load() == e {
		s.sent.Add(1)
	}
	p.sent.Add(1)
	return e
}

// answered feeds back one answer to a request sent in round epoch,
// received at now.
func (p *pacer) answered(epoch uint64, a Answer, now time.Time) {
	s := &p.rounds[epoch%rounds]
	mine := s.epoch.Load() == epoch
	if mine {
		s.answered.Add(1)
	}
	switch {
	case a.Throttled:
		refusedN := int64(0)
		if mine {
			refusedN = s.refused.Add(1)
		}
		switch {
		case epoch >= p.scoreFrom.Load() && p.score.Add(1) >= heavyScore:
			p.mu.Lock()
			if p.score.Load() >= heavyScore { // not already acted on
				p.overLocked(now, a.RetryAfter)
			}
			p.mu.Unlock()
		case mine && epoch >= p.cutFrom.Load() && excessive(refusedN, s.answered.Load(), p.noiseFloor(), earlySigmas, earlyAnswers):
			// Judged early, or late: a round whose answers came in after
			// it ended was judged on those that had.
			p.mu.Lock()
			if epoch >= p.cutFrom.Load() && s.epoch.Load() == epoch { // not already acted on
				if epoch == p.epoch.Load() {
					p.endRoundLocked(now, true)
				} else {
					p.judgeLocked(s.duration, s.sent.Load(), s.answered.Load(), s.refused.Load(), s.clean.Load())
					// The running round was sent partly at the old rate.
					p.endRoundLocked(now, false)
					p.cutFrom.Store(p.epoch.Load())
				}
			}
			p.mu.Unlock()
		}
	case !a.Retry:
		if mine {
			s.clean.Add(1)
		}
		p.clean.Add(1)
		for sc := p.score.Load(); sc > 0 && !p.score.CompareAndSwap(sc, sc-1); sc = p.score.Load() {
		}
	}
	if now.UnixNano() >= p.roundDue.Load() {
		p.mu.Lock()
		p.maybeEndRoundLocked(now)
		p.mu.Unlock()
	}
}

// excessive reports whether refused of answered stand out from the noise
// floor by excessShare plus sigmas standard deviations, on at least
// minAnswered answers and excessRefusals refusals.
func excessive(refused, answered int64, noise, sigmas float64, minAnswered int64) bool {
	if refused < excessRefusals || answered < max(minAnswered, 1) {
		return false
	}
	n := float64(answered)
	sigma := math.Sqrt(max(noise, 0.005) * (1 - noise) / n)
	return float64(refused)/n > noise+excessShare+sigmas*sigma
}

func (p *pacer) noiseFloor() float64 { return math.Float64frombits(p.noise.Load()) }

// overLocked acts on a run over the limit as a whole: most recent answers
// were refusals. Every worker pauses for the server's Retry-After, and the
// rate drops to what the server granted since the last such episode.
func (p *pacer) overLocked(now time.Time, retryAfter time.Duration) {
	retryAfter = max(min(retryAfter, p.retryAfterMax), 0)
	// What the server granted over its cycle: since the last episode, and
	// at least from when sending last resumed to when the server lets us
	// back in. Over a quota's window that is the quota; at the start, the
	// opening burst is spread over the pause that follows it.
	n, from := p.cleanSince(p.lastEpisode, now)
	resumed := later(p.pauseEnds, p.started)
	span := max(now.Sub(from), now.Sub(resumed)+retryAfter)
	granted := 0.0
	if span > 0 {
		granted = float64(n) / span.Seconds()
	}
	first := p.lastEpisode.Equal(p.started)
	p.lastEpisode = now
	prev := p.limit
	// After the first episode, at most halved per episode: an estimate
	// spanning an older, slower phase would land far under a limit that
	// rose; a fallen limit is still reached in an episode or two.
	est := holdShare * granted / max(1-p.noiseFloor(), 0.5)
	if !first && !math.IsInf(p.limit, 1) {
		est = max(est, p.limit/2)
	}
	p.cutLocked(min(p.limit, est))
	if retryAfter > 0 {
		p.pauseEnds = now.Add(retryAfter)
		p.pausedUntil.Store(p.pauseEnds.UnixNano())
		p.changeLocked()
	}
	// A new round, and refusals of requests sent before it no longer
	// count: they answer for the rate and the moment just acted on.
	p.endRoundLocked(now, false)
	p.score.Store(0)
	p.scoreFrom.Store(p.epoch.Load())
	p.cutFrom.Store(p.epoch.Load())
	p.log.Debug().Float64("rate", round3(p.limit)).Float64("previous_rate", round3(finite(prev))).
		Int64("retry_after_ms", retryAfter.Milliseconds()).Msg("rate lowered and every worker paused: the server refused most requests")
}

// cutLocked lowers the rate to r (within the floor and the ceiling), ends
// any probe and makes the next one wait longer.
func (p *pacer) cutLocked(r float64) {
	r = min(max(r, min(minRate, p.ceiling)), p.ceiling)
	p.hold, p.learnBelow = r, r
	p.probing, p.confirming = false, false
	p.gain = 0
	p.probeIn = p.probeWait
	p.probeWait = min(2*p.probeWait, probeWaitMax)
	p.setLimitLocked(r)
	p.cuts.Add(1)
}

// maybeEndRoundLocked ends the current round once it is long enough and
// has seen enough requests, or has lasted roundMax.
func (p *pacer) maybeEndRoundLocked(now time.Time) {
	age := now.Sub(p.roundStart)
	if age < roundMin {
		return // another answer ended it first
	}
	if p.rounds[p.epoch.Load()%rounds].sent.Load() < roundRequests && age < roundMax {
		p.roundDue.Store(now.Add(roundMin / 10).UnixNano())
		return
	}
	p.endRoundLocked(now, true)
}

// endRoundLocked closes the current round, judges it unless told not to or
// a pause overlapped it, and opens the next.
func (p *pacer) endRoundLocked(now time.Time, judge bool) {
	e := p.epoch.Load()
	s := &p.rounds[e%rounds]
	s.duration = now.Sub(p.roundStart)
	cuts := p.cuts.Load()
	if judge && !p.pauseEnds.After(p.roundStart) {
		p.judgeLocked(s.duration, s.sent.Load(), s.answered.Load(), s.refused.Load(), s.clean.Load())
	}
	if p.cuts.Load() != cuts {
		p.cutFrom.Store(e + 1)
	}
	next := &p.rounds[(e+1)%rounds]
	next.duration = 0
	next.sent.Store(0)
	next.answered.Store(0)
	next.refused.Store(0)
	next.clean.Store(0)
	next.epoch.Store(e + 1)
	p.epoch.Store(e + 1)
	p.roundStart = now
	p.roundDue.Store(now.Add(roundMin).UnixNano())
	p.snapLocked(now)
	p.sampleLocked(now)
}

// judgeLocked decides on one round's answers: a cut when they show a limit,
// the next step of probing when they do not.
func (p *pacer) judgeLocked(d time.Duration, sent, answered, refused, clean int64) {
	if answered == 0 || d <= 0 {
		return
	}
	noise := p.noiseFloor()
	n := float64(answered)
	share := float64(refused) / n
	sentRate := float64(sent) / d.Seconds()
	if excessive(refused, answered, noise, excessSigmas, 1) {
		// Over the limit: land just under what the server granted this
		// round's requests, counting the noise it would refuse anyway.
		granted := float64(clean) / n * sentRate
		prev := p.limit
		p.cutLocked(min(p.hold, holdShare*granted/max(1-noise, 0.5)))
		p.log.Debug().Float64("rate", round3(p.limit)).Float64("previous_rate", round3(finite(prev))).
			Float64("refused_share", round3(share)).Float64("noise_share", round3(noise)).
			Msg("rate lowered: the server refused for speed")
		return
	}
	if p.limit <= p.learnBelow {
		p.noiseRefused = noiseDecay*p.noiseRefused + float64(refused)
		p.noiseAnswered = noiseDecay*p.noiseAnswered + n
		p.noise.Store(math.Float64bits(p.noiseRefused / p.noiseAnswered))
	}
	if math.IsInf(p.limit, 1) {
		return // unpaced: nothing to probe
	}
	used := sentRate >= inUse*p.limit
	switch {
	case p.probing:
		p.probing = false
		if !used {
			// The run could not send at the probe's rate: it proved nothing.
			p.setLimitLocked(p.hold)
			p.probeIn = p.probeWait
			return
		}
		prev := p.hold
		p.hold, p.confirming = p.limit, true
		p.log.Debug().Float64("rate", round3(p.limit)).Float64("previous_rate", round3(prev)).
			Msg("rate raised: a probe above it was not refused more")
		return
	case p.confirming:
		p.confirming = false
		p.probeWait = probeWaitMin
		if used {
			p.gain = min(p.gain+1, len(probeGains)-1)
			p.probeIn = 0
		}
	}
	if !used || p.hold >= p.ceiling {
		return
	}
	if p.probeIn > 0 {
		p.probeIn--
		return
	}
	p.probing = true
	p.setLimitLocked(min(p.hold*probeGains[p.gain], p.ceiling))
}

// snapLocked remembers the run's clean answers at now.
func (p *pacer) snapLocked(now time.Time) {
	p.snaps[p.snapsAt] = snapshot{at: now, clean: p.clean.Load()}
	p.snapsAt = (p.snapsAt + 1) % history
	p.snapsN = min(p.snapsN+1, history)
}

// cleanSince returns the clean answers from since (or grantWindow ago, if
// later) to now, counted from the latest remembered moment at or before it,
// and that moment.
func (p *pacer) cleanSince(since, now time.Time) (int64, time.Time) {
	since = later(since, now.Add(-grantWindow))
	from := p.snaps[(p.snapsAt-p.snapsN+history)%history] // the oldest
	for i := 1; i <= p.snapsN; i++ {
		s := p.snaps[(p.snapsAt-i+history)%history]
		if !s.at.After(since) {
			from = s
			break
		}
	}
	return p.clean.Load() - from.clean, from.at
}

// grantedSince is the rate of clean answers from since (or grantWindow
// ago, if later) to now, pauses included.
func (p *pacer) grantedSince(since, now time.Time) float64 {
	n, from := p.cleanSince(since, now)
	d := now.Sub(from).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(n) / d
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sampleLocked takes one reading of the granted rate and, when the last
// few agree within settleBand, records the settled rate. It is logged when
// it first settles and again only when it moves by settleLogChange.
func (p *pacer) sampleLocked(now time.Time) {
	if now.Sub(p.started) < 3*time.Second {
		return // the first seconds say more about the start than the run
	}
	p.samples[p.samplesAt] = p.grantedSince(p.started, now)
	p.samplesAt = (p.samplesAt + 1) % settleSamples
	p.samplesN = min(p.samplesN+1, settleSamples)
	if p.samplesN < settleSamples {
		return
	}
	var mean float64
	for _, s := range p.samples {
		mean += s
	}
	mean /= settleSamples
	if mean <= 0 {
		return
	}
	for _, s := range p.samples {
		if math.Abs(s-mean) > settleBand*mean {
			return
		}
	}
	p.settled.Store(math.Float64bits(mean))
	if p.loggedSettled == 0 || math.Abs(mean-p.loggedSettled) >= settleLogChange*p.loggedSettled {
		p.loggedSettled = mean
		p.log.Info().Float64("settled_rate", round3(mean)).Float64("rate", round3(finite(p.limit))).Msg("rate settled")
	}
}

// round3 rounds r to three significant digits, for logs: 123.90000000000003
// is 124, 0.4567 is 0.457.
func round3(r float64) float64 {
	if r == 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return r
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(r, 'g', 3, 64), 64)
	return v
}

// setLimitLocked changes the limiter's rate. A limiter cannot leave
// rate.Inf in place (its token count would become NaN), so the first finite
// rate gets a fresh limiter; waiters on the old one were not waiting anyway.
func (p *pacer) setLimitLocked(r float64) {
	if math.IsInf(p.limit, 1) {
		p.limiter.Store(rate.NewLimiter(limitOf(r), p.burst))
	} else {
		p.limiter.Load().SetLimitAt(p.now(), limitOf(r))
	}
	p.limit = r
	p.current.Store(math.Float64bits(r))
	p.changeLocked()
}

// rateNow is the current limit in requests/s, +Inf while unpaced.
func (p *pacer) rateNow() float64 {
	return math.Float64frombits(p.current.Load())
}

// rates returns the current limit (0 while unpaced) and the settled rate
// (0 until the run has settled).
//
// It takes no lock: the progress bar calls it while drawing, and the pacer
// logs (through that bar) while holding its lock.
func (p *pacer) rates() (current, settled float64) {
	return finite(p.rateNow()), math.Float64frombits(p.settled.Load())
}

// finite reports an unpaced rate as 0, as --rate does.
func finite(r float64) float64 {
	if math.IsInf(r, 1) {
		return 0
	}
	return r
}
