package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
)

// pacingSizes are the sizes of the adaptive-pacing rows: issue 11's
// scenarios, each against its own simulator.
type pacingSizes struct {
	// limitRows: a limit of 250/s, alone and with 2% random 429s.
	limitRows int
	// noiseRows: no limit, 3% random 429s, --rate 500.
	noiseRows int
	// change is when the moving limits move; risingRows and fallingRows
	// are their runs' sizes.
	change                  time.Duration
	risingRows, fallingRows int
	// quota requests per window; windowRows for that run.
	quota      int
	window     time.Duration
	windowRows int
}

// pacingScenario is one row of the adaptive section.
type pacingScenario struct {
	what  string
	cfg   sim.Config
	rows  int
	rate  float64
	judge func(t *table, res jobResult, tr traffic) (bulk, reference, result, target string)
}

func (h *harness) pacingScenarios(sc scaled) []pacingScenario {
	ps := sc.pacing
	const limit, ceiling = 250.0, 1000.0
	withLimit := func(noise float64) sim.Config {
		cfg := sandboxLike
		cfg.RateLimit, cfg.RandomThrottle, cfg.Seed = limit, noise, 1
		return cfg
	}
	// net takes out the simulator's opening burst of a second's worth,
	// which over a short run flatters goodput.
	net := func(tr traffic, burst float64) float64 {
		return perSecond(int(tr.revocations)-int(burst), tr.span)
	}
	limited := func(minShare, maxRefused float64) func(*table, jobResult, traffic) (string, string, string, string) {
		return func(t *table, res jobResult, tr traffic) (string, string, string, string) {
			g, refused := net(tr, limit), tr.refusedShare()
			met := g >= minShare*limit && refused <= maxRefused && !res.stopped
			return fmt.Sprintf("goodput %.0f revoked/s net of the opening burst; %d requests, %.1f%% refused; %d rows failed%s",
					g, tr.requests, 100*refused, res.finished.RunByStatus["failed"], stoppedNote(res, sc.budget)),
				fmt.Sprintf("limit %s/s", formatRate(limit)),
				fmt.Sprintf("%.0f%% of the limit; %.1f%% refused", 100*g/limit, 100*refused),
				t.verdict(fmt.Sprintf("≥ %.0f%% of the limit, ≤ %.0f%% refused", 100*minShare, 100*maxRefused), met)
		}
	}

	noise := sandboxLike
	noise.RandomThrottle, noise.Seed = 0.03, 1

	rising := sandboxLike
	rising.RateLimit, rising.RateLimitLater, rising.LimitChangesAfter = 100, 400, ps.change
	falling := sandboxLike
	falling.RateLimit, falling.RateLimitLater, falling.LimitChangesAfter = 400, 100, ps.change
	quota := sandboxLike
	quota.WindowQuota, quota.Window = ps.quota, ps.window
	quotaRate := float64(ps.quota) / ps.window.Seconds()

	return []pacingScenario{
		{fmt.Sprintf("limit 250/s, --rate 1000, %d rows", ps.limitRows), withLimit(0), ps.limitRows, ceiling, limited(0.90, 0.05)},
		{fmt.Sprintf("no limit, 3%% random 429 (Retry-After: 1), --rate 500, %d rows", ps.noiseRows), noise, ps.noiseRows, 500,
			func(t *table, res jobResult, tr traffic) (string, string, string, string) {
				g := perSecond(int(tr.revocations), tr.span)
				met := g >= 0.85*500 && !res.stopped
				return fmt.Sprintf("goodput %.0f revoked/s; %d requests, %.1f%% refused; %d rows failed%s",
						g, tr.requests, 100*tr.refusedShare(), res.finished.RunByStatus["failed"], stoppedNote(res, sc.budget)),
					"--rate 500",
					fmt.Sprintf("%.0f%% of --rate", 100*g/500),
					t.verdict("≥ 85% of --rate", met)
			}},
		{fmt.Sprintf("limit 250/s plus 2%% random 429, --rate 1000, %d rows", ps.limitRows), withLimit(0.02), ps.limitRows, ceiling, limited(0.85, 0.08)},
		{fmt.Sprintf("limit 100/s rising to 400/s after %s, --rate 1000, %d rows", ps.change, ps.risingRows), rising, ps.risingRows, ceiling,
			func(t *table, res jobResult, tr traffic) (string, string, string, string) {
				before := 100 * ps.change.Seconds()
				ideal := ps.change.Seconds() + (float64(ps.risingRows)-before)/400
				took := tr.span.Seconds()
				met := took <= 1.25*ideal && res.finished.RunByStatus["revoked"] == int64(ps.risingRows) && !res.stopped
				return fmt.Sprintf("%.1f s from first to last request; %d requests, %.1f%% refused; %d rows failed%s",
						took, tr.requests, 100*tr.refusedShare(), res.finished.RunByStatus["failed"], stoppedNote(res, sc.budget)),
					fmt.Sprintf("ideal %.1f s (%.0f rows at 100/s, the rest at 400/s)", ideal, before),
					fmt.Sprintf("%.2f× the ideal", took/ideal),
					t.verdict("≤ 1.25× the ideal", met)
			}},
		{fmt.Sprintf("limit 400/s falling to 100/s after %s, --rate 1000, %d rows", ps.change, ps.fallingRows), falling, ps.fallingRows, ceiling,
			func(t *table, res jobResult, tr traffic) (string, string, string, string) {
				refused, revoked := tr.refusedShare(), res.finished.RunByStatus["revoked"]
				met := refused <= 0.10 && revoked == int64(ps.fallingRows) && !res.stopped
				return fmt.Sprintf("%d of %d rows revoked in %.1f s; %d requests, %.1f%% refused%s",
						revoked, ps.fallingRows, tr.span.Seconds(), tr.requests, 100*refused, stoppedNote(res, sc.budget)),
					"-",
					fmt.Sprintf("%.1f%% refused, %d rows not revoked", 100*refused, int64(ps.fallingRows)-revoked),
					t.verdict("≤ 10% refused, every row revoked", met)
			}},
		{fmt.Sprintf("fixed window: %d requests per %s, Retry-After = time to the window's end, --rate 1000, %d rows", ps.quota, ps.window, ps.windowRows),
			quota, ps.windowRows, ceiling,
			func(t *table, res jobResult, tr traffic) (string, string, string, string) {
				// Windows start at the first request; the last one is
				// left out, since the run ran out of rows in it.
				used, windows := tr.quotaUsed(ps.quota, ps.window)
				met := used >= 0.85 && !res.stopped
				return fmt.Sprintf("%d revoked in %.1f s; %d requests, %.1f%% refused; %d rows failed%s",
						tr.revocations, tr.span.Seconds(), tr.requests, 100*tr.refusedShare(), res.finished.RunByStatus["failed"], stoppedNote(res, sc.budget)),
					fmt.Sprintf("quota %d per %s (%.0f/s)", ps.quota, ps.window, quotaRate),
					fmt.Sprintf("%.0f%% of the quota used over the first %d windows", 100*used, windows),
					t.verdict("≥ 85% of the quota", met)
			}},
	}
}

func stoppedNote(res jobResult, budget time.Duration) string {
	if res.stopped {
		return fmt.Sprintf(" (stopped at the %s budget)", budget)
	}
	return ""
}

// adaptive runs each pacing scenario: the real binary against a simulator
// that refuses for speed, at random, or by quota.
func (h *harness) adaptive(ctx context.Context, t *table, sc scaled) error {
	for i, s := range h.pacingScenarios(sc) {
		input, err := h.tokenInput(s.rows)
		if err != nil {
			return err
		}
		h.progress("adaptive: %s", s.what)
		res, tr, err := h.revokeAll(ctx, fmt.Sprintf("adaptive-%d", i+1), s.cfg, input, s.rows, sc.budget, "--rate", formatRate(s.rate))
		if err != nil {
			return err
		}
		bulk, reference, result, target := s.judge(t, res, tr)
		t.add("adaptive", s.what, bulk, reference, result, target)
	}
	return nil
}
