package revoke

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// How the pacer adapts. The API's limit is not published, so the pacer finds
// it: it slows every worker down when the server refuses for speed and probes
// back up while answers are clean (additive increase, multiplicative
// decrease), never above the operator's ceiling.
const (
	// decreaseFactor is the classic multiplicative decrease, used when the
	// run has not yet shown what the server grants.
	decreaseFactor = 0.7
	// grantedShare is where the pacer settles after a throttle once it knows
	// the rate the server granted over the last seconds: just below it, so
	// the next refusal comes late and a throttle costs 5%, not 30%.
	grantedShare = 0.95
	// decreaseWindow is the least time between two decreases, on top of the
	// rule that only a request sent after the last decrease can cause one:
	// a burst of refusals from one moment is one signal, not twenty.
	decreaseWindow = 100 * time.Millisecond
	// increaseShare is the additive increase per second of clean answers,
	// as a share of the rate right after the last decrease.
	increaseShare = 0.03
	// minIncrease keeps the probe moving when the rate is tiny.
	minIncrease = 0.1
	// minRate is the floor: the pacer never stops sending altogether.
	minRate = 1.0
	// inUse is the share of its rate the pacer must have spent in a second
	// to probe higher: a limit nobody reaches (the run is latency-bound)
	// must not creep up unnoticed and then take many throttles to come down.
	inUse = 0.8
	// pacerTick is how often the rate is probed up and measured.
	pacerTick = time.Second
	// grantWindow is how many seconds of answers the granted rate is
	// measured over, pauses included: over a whole throttle cycle a server
	// with a burst allowance grants exactly its rate, whatever the burst.
	grantWindow = 10
	// settleSamples and settleBand define "settled": that many successive
	// one-second readings of the granted rate all within ±5% of their mean.
	settleSamples = 5
	settleBand    = 0.05
)

// pacer paces every request of a run, retries included, through one
// rate.Limiter whose limit it adapts to the server's throttling. It also
// pauses every worker until the server's Retry-After.
type pacer struct {
	ceiling       float64 // +Inf: unpaced until the first throttle
	burst         int
	retryAfterMax time.Duration
	log           zerolog.Logger
	now           func() time.Time

	limiter atomic.Pointer[rate.Limiter]
	// current is the limit as float64 bits, for readers on the hot path.
	current atomic.Uint64
	// epoch counts decreases. A request carries the epoch it was sent in;
	// a refusal from an older epoch says nothing about the current rate.
	epoch atomic.Uint64
	// pausedUntil is when the last Retry-After ends, in Unix nanoseconds;
	// 0 once a waiter has seen it pass, so that waits skip the clock.
	pausedUntil atomic.Int64
	// nextTick is when the next probe and measurement are due, in Unix
	// nanoseconds; answers check it without the lock.
	nextTick atomic.Int64
	// sent and clean count requests let through and answers that were
	// neither refused nor transient failures.
	sent, clean atomic.Int64

	mu            sync.Mutex
	started       time.Time
	limit         float64   // +Inf while unpaced
	pauseEnds     time.Time // the last pause's end, kept after pausedUntil is cleared
	afterDecrease float64   // the rate set by the last decrease: the base of the additive step
	lastDecrease  time.Time
	lastTick      time.Time
	sentAtTick    int64
	cleanAtTick   int64
	refusedInTick bool
	pausedInTick  bool
	recentRate    float64 // requests/s over the last full tick without a pause; +Inf until known
	granted       [grantWindow]float64
	grantedN      int // seconds in granted, up to grantWindow
	grantedAt     int // next slot of granted
	samples       [settleSamples]float64
	samplesN      int
	samplesAt     int
	settled       atomic.Uint64 // bits of the last settled rate, 0 until one
	loggedSettled float64
}

// newPacer returns a pacer under ceiling requests/s; 0 means unpaced until
// the server first throttles.
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
		recentRate:    math.Inf(1),
	}
	p.limiter.Store(rate.NewLimiter(limitOf(ceiling), p.burst))
	p.current.Store(math.Float64bits(ceiling))
	return p
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
	p.started, p.lastDecrease, p.lastTick = now, now, now
	p.nextTick.Store(now.Add(pacerTick).UnixNano())
}

// wait blocks until the next request may be sent, or ctx is done. It returns
// the epoch the request is sent in, for answered.
func (p *pacer) wait(ctx context.Context) (uint64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if until := p.pausedUntil.Load(); until != 0 {
			if d := time.Duration(until - p.now().UnixNano()); d > 0 {
				if !sleep(ctx, d) {
					return 0, ctx.Err()
				}
				continue
			}
			p.pausedUntil.CompareAndSwap(until, 0)
		}
		epoch := p.epoch.Load()
		if math.IsInf(p.rateNow(), 1) {
			p.sent.Add(1) // unpaced: a reservation would cost an allocation a row
			return epoch, nil
		}
		r := p.limiter.Load().Reserve()
		if d := r.Delay(); d > 0 {
			if !sleep(ctx, d) {
				r.Cancel()
				return 0, ctx.Err()
			}
			// The slot was booked at the old rate; if the rate came down
			// or a pause began meanwhile, queue again under the new one.
			if p.epoch.Load() != epoch || p.pausedUntil.Load() != 0 {
				continue
			}
		}
		p.sent.Add(1)
		return epoch, nil
	}
}

// answered feeds back one answer, received at now: a refusal for speed
// slows every worker down, a clean answer counts towards probing back up.
func (p *pacer) answered(epoch uint64, a Answer, now time.Time) {
	switch {
	case a.Throttled:
		p.throttled(now, epoch, a.RetryAfter)
	case !a.Retry:
		p.clean.Add(1)
	}
	if now.UnixNano() >= p.nextTick.Load() {
		p.mu.Lock()
		p.tickLocked(now)
		p.mu.Unlock()
	}
}

// throttled pauses every worker for the server's Retry-After, and lowers the
// rate unless this refusal belongs to a burst already acted on.
func (p *pacer) throttled(now time.Time, epoch uint64, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusedInTick = true
	if retryAfter = min(retryAfter, p.retryAfterMax); retryAfter > 0 {
		until := now.Add(retryAfter).UnixNano()
		if until > p.pauseEnds.UnixNano() {
			started := p.pauseEnds.Before(now)
			p.pauseEnds = now.Add(retryAfter)
			p.pausedUntil.Store(until)
			p.pausedInTick = true
			if started {
				p.log.Debug().Int64("retry_after_ms", retryAfter.Milliseconds()).Msg("pausing every worker for the server's Retry-After")
			}
		}
	}
	if epoch != p.epoch.Load() || now.Sub(p.lastDecrease) < decreaseWindow {
		return
	}
	prev := p.limit
	next := p.decreased(now)
	p.setLimitLocked(next)
	p.afterDecrease = next
	p.lastDecrease = now
	p.epoch.Add(1)
	p.log.Debug().Float64("rate", next).Float64("previous_rate", finite(prev)).Int64("retry_after_ms", retryAfter.Milliseconds()).Msg("rate lowered: the server refused for speed")
}

// decreased is the rate after a throttle: the current rate (or, unpaced or
// unreached, the rate actually sent) cut by decreaseFactor, but no lower
// than just under what the server has been granting, once that is known.
func (p *pacer) decreased(now time.Time) float64 {
	base := min(p.limit, p.recentRate)
	if math.IsInf(base, 1) {
		// Unpaced so far: start from the rate observed since the start.
		base = float64(p.sent.Load()) / max(now.Sub(p.started).Seconds(), 0.01)
	}
	next := base * decreaseFactor
	if p.grantedN >= 2 {
		next = max(next, min(grantedShare*p.grantedRate(), grantedShare*base))
	}
	return min(max(next, min(minRate, p.ceiling)), p.ceiling)
}

// grantedRate is the rate of clean answers over the measured seconds.
func (p *pacer) grantedRate() float64 {
	if p.grantedN == 0 {
		return 0
	}
	var sum float64
	for i := range p.grantedN {
		sum += p.granted[i]
	}
	return sum / float64(p.grantedN)
}

// tickLocked runs once a second of answers: it records the granted rate,
// probes the rate up after a clean second, and notices a settled rate.
func (p *pacer) tickLocked(now time.Time) {
	k := int64(now.Sub(p.lastTick) / pacerTick)
	if k < 1 {
		return // another answer ticked first
	}
	elapsed := time.Duration(k) * pacerTick
	tickStart := p.lastTick
	p.lastTick = p.lastTick.Add(elapsed)
	p.nextTick.Store(p.lastTick.Add(pacerTick).UnixNano())
	sent, clean := p.sent.Load(), p.clean.Load()
	sentDelta, cleanDelta := sent-p.sentAtTick, clean-p.cleanAtTick
	p.sentAtTick, p.cleanAtTick = sent, clean
	// A second that overlapped a pause says nothing about the rate sent.
	refused, paused := p.refusedInTick, p.pausedInTick || p.pauseEnds.After(tickStart)
	p.refusedInTick, p.pausedInTick = false, false

	perSecond := float64(cleanDelta) / float64(k)
	for range min(k, grantWindow) {
		p.granted[p.grantedAt] = perSecond
		p.grantedAt = (p.grantedAt + 1) % grantWindow
		p.grantedN = min(p.grantedN+1, grantWindow)
	}
	if !paused {
		p.recentRate = float64(sentDelta) / elapsed.Seconds()
	}

	if !refused && cleanDelta > 0 && p.limit < p.ceiling && !math.IsInf(p.limit, 1) &&
		float64(sentDelta) >= inUse*p.limit*elapsed.Seconds() {
		step := max(increaseShare*p.afterDecrease, minIncrease) * elapsed.Seconds()
		prev := p.limit
		p.setLimitLocked(min(p.limit+step, p.ceiling))
		p.log.Debug().Float64("rate", p.limit).Float64("previous_rate", prev).Msg("rate raised: answers were clean")
	}
	p.sampleLocked()
}

// sampleLocked takes one reading of the granted rate and, when the last
// few agree within settleBand, records and logs the settled rate.
func (p *pacer) sampleLocked() {
	if p.grantedN < 3 {
		return // the first seconds say more about the start than the run
	}
	p.samples[p.samplesAt] = p.grantedRate()
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
	if p.loggedSettled == 0 || math.Abs(mean-p.loggedSettled) > settleBand*p.loggedSettled {
		p.loggedSettled = mean
		p.log.Info().Float64("settled_rate", math.Round(mean*10)/10).Float64("rate", finite(p.limit)).Msg("rate settled")
	}
}

// setLimitLocked changes the limiter's rate. A limiter cannot leave
// rate.Inf in place (its token count would become NaN), so the first finite
// rate gets a fresh limiter; waiters on the old one were not waiting anyway.
func (p *pacer) setLimitLocked(r float64) {
	if math.IsInf(p.limit, 1) {
		p.limiter.Store(rate.NewLimiter(limitOf(r), p.burst))
	} else {
		p.limiter.Load().SetLimit(limitOf(r))
	}
	p.limit = r
	p.current.Store(math.Float64bits(r))
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
