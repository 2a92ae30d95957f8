package cli

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// withBudget returns a context that is cancelled once d has passed (never
// when d is 0), so that a run spending its time budget (--max-duration, a
// cron window) stops the way a first signal stops it: no new request starts,
// requests in flight finish and are recorded, and the run can be resumed.
//
// It cancels rather than using context.WithTimeout on purpose: the pool takes
// a cause other than context.Canceled for the error that broke the run, and
// a spent budget is a gentle stop, not a failure. spent tells the two apart
// afterwards; release frees the timer.
func withBudget(parent context.Context, d time.Duration, log zerolog.Logger) (ctx context.Context, spent func() bool, release func()) {
	if d <= 0 {
		return parent, func() bool { return false }, func() {}
	}
	ctx, cancel := context.WithCancel(parent)
	var fired atomic.Bool
	timer := time.AfterFunc(d, func() {
		if ctx.Err() != nil {
			return // already stopping (a signal, or the run ended)
		}
		fired.Store(true)
		log.Warn().Str("max_duration", d.String()).
			Msg("time budget spent: sending no new requests; those in flight finish and are recorded; continue with --resume")
		cancel()
	})
	return ctx, fired.Load, func() { timer.Stop(); cancel() }
}
