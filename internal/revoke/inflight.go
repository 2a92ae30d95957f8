package revoke

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Bounds of a self-sizing pool.
const (
	// MinAutoConcurrency is the smallest in-flight capacity a self-sizing
	// pool keeps, so a fast server still sees a few requests at once.
	MinAutoConcurrency = 4
	// MaxAutoConcurrency caps a self-sizing pool: past a few hundred
	// requests in flight a slow answer is an overloaded server, not latency
	// to hide. Size the HTTP transport's idle pool to it.
	MaxAutoConcurrency = 512
	// DefaultConcurrency is where a self-sizing pool starts, and where it
	// stays while unpaced: without a rate there is nothing to size for.
	DefaultConcurrency = 16
	// sizeHeadroom covers latency spread and the pacer probing upwards:
	// Little's law gives the mean, and a pool sized to the mean falls short
	// whenever answers come slower than average.
	sizeHeadroom = 1.5
	// latencyWeight is the weight of the newest latency in the moving
	// average the pool is sized by.
	latencyWeight = 0.1
)

// InFlightFor is the in-flight capacity that sustains rate requests/s when
// each takes latency (Little's law, with headroom), within the self-sizing
// bounds. An unpaced run (rate 0 or +Inf) gets DefaultConcurrency.
func InFlightFor(rate float64, latency time.Duration) int {
	if rate <= 0 || math.IsInf(rate, 1) {
		return DefaultConcurrency
	}
	n := math.Ceil(rate * latency.Seconds() * sizeHeadroom)
	return int(min(max(n, MinAutoConcurrency), MaxAutoConcurrency))
}

// gate bounds the rows in flight. Unlike errgroup.SetLimit, its limit may
// change while rows run: a self-sizing pool grows it to reach the rate at
// the latency it observes, and shrinks it when the rate comes down. Only the
// feeder acquires, so a one-slot wake-up channel is enough.
type gate struct {
	auto bool
	log  zerolog.Logger
	wake chan struct{}

	mu      sync.Mutex
	limit   int
	busy    int
	resting int // busy rows waiting out a backoff; a self-sizing pool does not count them
	peak    int
	latency time.Duration // moving average; 0 before the first answer
	logged  int

	// Copies of limit and peak, read without the lock by sizes: the
	// progress bar reads them while drawing, and observe logs (through
	// that bar) while holding the lock.
	limitNow, peakNow atomic.Int64
}

func newGate(limit int, auto bool, log zerolog.Logger) *gate {
	g := &gate{auto: auto, log: log, wake: make(chan struct{}, 1), limit: limit, logged: limit}
	g.limitNow.Store(int64(limit))
	return g
}

// acquire takes a slot, waiting while all are busy, and returns the limit
// it was taken under (resting rows' slots included: the feeder starts as
// many workers); it fails only when ctx is done.
func (g *gate) acquire(ctx context.Context) (int, error) {
	for {
		g.mu.Lock()
		if limit := g.limit + g.extra(); g.busy < limit {
			g.busy++
			g.peak = max(g.peak, g.busy)
			g.peakNow.Store(int64(g.peak))
			g.mu.Unlock()
			return limit, nil
		}
		g.mu.Unlock()
		select {
		case <-g.wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// extra is how many slots beyond the limit are free because their rows
// rest. The limit is sized for requests (Little's law on their latency); a
// row waiting a second for its Retry-After sends nothing, and counting it
// would starve a pool that random 429s keep resting. A fixed pool keeps the
// operator's number of rows in flight. It must be called with g.mu held.
func (g *gate) extra() int {
	if !g.auto {
		return 0
	}
	return g.resting
}

// rest marks a busy row as waiting out a backoff until the returned
// function is called, when it counts again.
func (g *gate) rest() (resume func()) {
	g.mu.Lock()
	g.resting++
	g.mu.Unlock()
	g.signal()
	return func() {
		g.mu.Lock()
		g.resting--
		g.mu.Unlock()
	}
}

// release frees a slot.
func (g *gate) release() {
	g.mu.Lock()
	g.busy--
	g.mu.Unlock()
	g.signal()
}

func (g *gate) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// observe records one request's latency and, in a self-sizing pool,
// resizes for rate at the average latency. Unpaced, there is no rate to
// size for, and the pool keeps its size.
func (g *gate) observe(latency time.Duration, rate float64) {
	if !g.auto || math.IsInf(rate, 1) {
		return
	}
	g.mu.Lock()
	if g.latency == 0 {
		g.latency = latency
	} else {
		g.latency += time.Duration(latencyWeight * float64(latency-g.latency))
	}
	n := InFlightFor(rate, g.latency)
	grew := n > g.limit
	g.limit = n
	g.limitNow.Store(int64(n))
	// Log a resize only when it is a real one, not the average's jitter.
	resized := n >= g.logged*5/4 || n <= g.logged*4/5
	if resized {
		g.logged = n
	}
	avg := g.latency
	g.mu.Unlock()
	if resized {
		g.log.Debug().Int("in_flight_limit", n).Int64("latency_ms", avg.Milliseconds()).Float64("rate", rate).Msg("pool resized")
	}
	if grew {
		g.signal()
	}
}

// sizes returns the current limit and the most rows seen in flight at once.
func (g *gate) sizes() (limit, peak int) {
	return int(g.limitNow.Load()), int(g.peakNow.Load())
}
