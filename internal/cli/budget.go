package cli

import (
	"context"
	"time"
)

// withBudget returns a context that is cancelled once d has passed (never
// when d is 0), so that a run spending its time budget (--max-duration, a
// cron window) stops the way a first signal stops it: no new request starts,
// requests in flight finish and are recorded, and the run can be resumed.
//
// It cancels with a budgetSpent cause rather than using
// context.WithTimeout on purpose: the cause names the budget in the final
// error, and it counts as a cancellation, a gentle stop, for the pool
// rather than as the error that broke the run. release frees the timer.
func withBudget(parent context.Context, d time.Duration) (ctx context.Context, release func()) {
	if d <= 0 {
		return parent, func() {}
	}
	ctx, cancel := context.WithCancelCause(parent)
	timer := time.AfterFunc(d, func() { cancel(budgetSpent{d}) })
	return ctx, func() { timer.Stop(); cancel(nil) }
}
